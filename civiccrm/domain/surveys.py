"""Survey instruments: questions on a scale, what counts as acceptable, and targets."""

import attrs


@attrs.frozen
class Question:
    code: str
    text: str
    scale_min: int = 1
    scale_max: int = 5
    acceptable: int = 3
    """Answers at or above this value are acceptable."""
    target: float | None = None
    """Share of answers that should be acceptable, e.g. 0.85."""
    na_codes: tuple[int, ...] = ()
    """Codes meaning N/A or don't know, counted as no answer."""


@attrs.frozen
class SurveyInstrument:
    code: str
    name: str
    questions: tuple[Question, ...]
    audience: str = "resident"
