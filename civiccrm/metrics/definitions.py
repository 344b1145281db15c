"""The metrics a report prints, each with the definition printed beside its figure."""

import attrs


def format_days(value: float | None) -> str:
    """Days to one decimal, ``-`` for none: ``4.2``."""
    return "-" if value is None else f"{value:.1f}"


def format_share(numerator: int, denominator: int) -> str:
    """A share with its counts, ``-`` when nothing is counted: ``85.0% (17/20)``."""
    return "-" if not denominator else f"{numerator / denominator:.1%} ({numerator}/{denominator})"


@attrs.frozen
class Metric:
    """A named figure and what it means, in words a council member can check."""

    name: str
    """Stable key, used in JSON output."""
    label: str
    """Short heading for a table column."""
    definition: str
    """How the figure is computed, printed beside it."""

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "definition": self.definition}


OPENED = Metric(
    "opened", "opened",
    "opened = cases with opened_at in the period",
)
CLOSED = Metric(
    "closed", "closed",
    "closed = cases with closed_at in the period (cases reopened since are no longer counted)",
)
BACKLOG = Metric(
    "backlog", "backlog",
    "open backlog = cases opened before the end of the period and not closed by then "
    "(status is not closed, or closed_at is at or after the end); as of the end of the period, "
    "or as of now when the period has not ended",
)
MEDIAN_DAYS = Metric(
    "median_days_to_close", "median days",
    "median days to close = over cases closed in the period with days_to_close recorded, "
    "the value at rank ceil(0.5 x n) in ascending order (nearest rank); days_to_close = "
    "(closed_at - opened_at) in calendar days",
)
P90_DAYS = Metric(
    "p90_days_to_close", "p90 days",
    "90th percentile days to close = the same cases, the value at rank ceil(0.9 x n) (nearest rank)",
)
SHARE_ON_TIME = Metric(
    "share_on_time", "on time (project)",
    "share on time (project) = closed cases with on_time true / closed cases with on_time known "
    "(on_time is fixed at close: closed_at at or before due_at; cases without a due time are left out)",
)
SHARE_ON_TIME_CITY = Metric(
    "share_on_time_city", "on time (city)",
    "share on time (city) = closed cases the city's own system marked within its time-frame "
    "(city_exceeded_timeframe false) / closed cases with that verdict recorded (imported cases)",
)
CHANNEL_MIX = Metric(
    "channel_mix", "channel mix",
    "channel mix = cases opened in the period by channel: count and share of those opened",
)

SUMMARY_METRICS: tuple[Metric, ...] = (
    OPENED, CLOSED, BACKLOG, MEDIAN_DAYS, P90_DAYS, SHARE_ON_TIME, SHARE_ON_TIME_CITY, CHANNEL_MIX,
)
"""The figures of ``civiccrm report summary``, in the order they are printed."""

BY_NAME: dict[str, Metric] = {m.name: m for m in SUMMARY_METRICS}

TIMELINESS = Metric(
    "timeliness", "timeliness",
    "timeliness = the work group's cases closed in the period with on_time true / its cases closed in the "
    "period with on_time known (the project's verdict, fixed at close: closed_at at or before due_at)",
)
SATISFACTION = Metric(
    "satisfaction", "satisfaction",
    "satisfaction = answers to the survey question given in the period (answered_at in the period) about "
    "the work group's cases that are acceptable (value at or above the question's acceptable point) / "
    "those answers with a value (blank and N/A left out); a response reaches its case through its "
    "invitation, and counts for the work group the case is assigned to now",
)
QUADRANT = Metric(
    "quadrant", "quadrant",
    "quadrant = where the work group falls against the two targets: meets-both, timely-only (timeliness "
    "at or above its target, satisfaction below), satisfied-only (the reverse) or below-both; none when "
    "either share has no denominator",
)

MATRIX_METRICS: tuple[Metric, ...] = (TIMELINESS, SATISFACTION, QUADRANT)
"""The figures of the 311 matrix (``civiccrm.metrics.matrix``)."""
