"""Survey instruments: questions, what counts as an acceptable answer, targets, answer checks."""

import enum
from datetime import date, datetime

import attrs

from civiccrm.domain.names import parse_name
from civiccrm.errors import CivicError


class QuestionType(enum.StrEnum):
    SCALE = "scale"
    YES_NO = "yesno"
    CHOICE = "choice"
    TEXT = "text"


MAX_TEXT = 2000


@attrs.frozen
class Question:
    """One item of an instrument."""

    code: str
    """Stable identifier (a column name for imported surveys)."""
    text: str
    """The question or statement as the respondent reads it."""
    scale_min: int = 1
    scale_max: int = 5
    acceptable: int = 3
    """Scale answers at or above this value are acceptable (satisfied, agree)."""
    target: float | None = None
    """Share of answers that should be acceptable, e.g. 0.85."""
    na_codes: tuple[int, ...] = ()
    """Codes meaning N/A or don't know, counted as no answer."""
    type: QuestionType = QuestionType.SCALE
    labels: tuple[str, ...] = ()
    """Label per scale point, lowest first (empty when the points are unlabelled)."""
    na_label: str | None = None
    """How the N/A or don't-know option is offered (e.g. "N/A"); None when not offered."""
    choices: tuple[str, ...] = ()
    """Options of a choice question, stored as their 1-based position."""
    required: bool = False
    department: str | None = None
    """Set when a department appended the question: asked only about its cases."""

    @property
    def is_rated(self) -> bool:
        """True when answers have a share acceptable and a mean (scale and yes/no items)."""
        return self.type in (QuestionType.SCALE, QuestionType.YES_NO)

    @property
    def points(self) -> list[tuple[int, str]]:
        """(value, label) for each point a respondent can pick, N/A last."""
        if self.type is QuestionType.YES_NO:
            pts = [(1, "Yes"), (0, "No")]
        elif self.type is QuestionType.CHOICE:
            pts = list(enumerate(self.choices, start=1))
        elif self.type is QuestionType.SCALE:
            pts = [(v, self.labels[v - self.scale_min] if self.labels else str(v))
                   for v in range(self.scale_min, self.scale_max + 1)]
        else:
            pts = []
        if self.na_label and self.na_codes:
            pts.append((self.na_codes[0], self.na_label))
        return pts

    def check(self, raw) -> tuple[int | None, int | None, bool | None, str | None]:
        """Check one answer; returns (value, raw code, acceptable, text), value None for N/A.

        ``raw`` may be an int, a numeric string, None or "" (no answer). A user's
        mistake raises CivicError naming the item.
        """
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if self.required:
                raise CivicError(f"{self.code}: an answer is required", field=self.code)
            return None, None, None, None
        if self.type is QuestionType.TEXT:
            text = str(raw).strip()
            if len(text) > MAX_TEXT:
                raise CivicError(f"{self.code}: {len(text)} characters; at most {MAX_TEXT} are allowed", field=self.code)
            return None, None, None, text
        try:
            code = int(str(raw).strip())
        except ValueError:
            raise CivicError(f"{self.code}: {raw!r} is not a whole number", field=self.code) from None
        if code in self.na_codes:
            return None, code, None, None
        if self.type is QuestionType.YES_NO:
            lo, hi = 0, 1
        elif self.type is QuestionType.CHOICE:
            lo, hi = 1, len(self.choices)
        else:
            lo, hi = self.scale_min, self.scale_max
        if not lo <= code <= hi:
            na = f" or {', '.join(map(str, self.na_codes))} for {self.na_label or 'no answer'}" if self.na_codes else ""
            raise CivicError(f"{self.code}: {code} is out of range; expected {lo} to {hi}{na}", field=self.code)
        acceptable = None
        if self.type is QuestionType.SCALE:
            acceptable = code >= self.acceptable
        elif self.type is QuestionType.YES_NO:
            acceptable = code == 1
        return code, code, acceptable, None


@attrs.frozen
class Target:
    """A goal for the share of acceptable answers to an item, overall or for one department."""

    item: str
    target: float
    department: str | None = None
    baseline: float | None = None
    """The share measured in the baseline period, when the profile records one."""
    baseline_period: str | None = None


@attrs.frozen
class SurveyInstrument:
    """A questionnaire: its questions, who it is for and its targets."""

    code: str
    name: str
    questions: tuple[Question, ...]
    audience: str = "resident"
    """resident, employee (internal customers) or any."""
    targets: tuple[Target, ...] = ()
    departments: tuple[str, ...] = ()
    """Departments that use it (empty: all)."""
    respondent_column: str | None = None
    """For imported files: the column identifying a respondent within a wave."""
    wave_column: str | None = None
    method_column: str | None = None
    district_column: str | None = None
    demographics: dict[str, str] = attrs.field(factory=dict, eq=False)
    """Column -> label of the demographic columns kept with an imported response."""
    item_pattern: str | None = None
    """Regular expression naming the item columns of an imported file."""
    note: str | None = None
    action_plans: tuple["ActionPlan", ...] = ()
    """Action plans the profile records for items under target (loaded into the database on init)."""

    def question(self, code: str) -> Question:
        for q in self.questions:
            if q.code == code:
                return q
        raise CivicError(f"item: {code!r} is not an item of survey {self.code!r}", field="item")

    def questions_for(self, department: str | None) -> tuple[Question, ...]:
        """The standard questions plus those the department appended."""
        return tuple(q for q in self.questions if q.department is None or q.department == department)

    def target_for(self, item: str, department: str | None = None) -> Target | None:
        """The department's own target for the item, else the instrument-wide one."""
        found = None
        for t in self.targets:
            if t.item == item and t.department == department:
                return t
            if t.item == item and t.department is None:
                found = t
        if found is None:
            q = next((q for q in self.questions if q.code == item), None)
            if q is not None and q.target is not None:
                found = Target(item=item, target=q.target)
        return found

    def check_answers(self, answers: dict, *, department: str | None = None) -> dict:
        """Check a whole submission; returns item -> (value, code, acceptable, text).

        Unknown items and missing required answers are refused with the item named.
        """
        questions = self.questions_for(department)
        known = {q.code for q in questions}
        unknown = sorted(set(answers) - known)
        if unknown:
            raise CivicError(f"{unknown[0]}: not an item of survey {self.code!r}", field=unknown[0])
        return {q.code: q.check(answers.get(q.code)) for q in questions}


def contact_routes(customer, outbound) -> list[tuple[str, str]]:
    """(channel, address) to try, in order, to invite a customer: the preferred channel when it
    is an outbound channel and the customer gave its address, then e-mail when there is an address.

    ``customer`` is a civiccrm.domain.cases.Customer; ``outbound`` the codes of the outbound
    channels. Without a preference only e-mail is used: a bare phone number may be a landline.
    """
    routes = []
    preferred = customer.contact_by
    if preferred and preferred in outbound and customer.address_for(preferred):
        routes.append((preferred, customer.address_for(preferred).strip()))
    if customer.email and customer.email.strip() and "email" in outbound and preferred != "email":
        routes.append(("email", customer.email.strip()))
    return routes


class ActionStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"


@attrs.frozen
class ActionPlan:
    """What a department will do about an item under target."""

    instrument: str
    item: str
    owner: str
    actions: str
    due: date
    department: str | None = None
    status: ActionStatus = ActionStatus.OPEN
    id: int | None = None
    code: str | None = None
    """The plan's code in the city profile; None for plans added with the CLI."""


def parse_action_status(text: str, *, field: str = "status") -> ActionStatus:
    """The ActionStatus named by ``text``."""
    return parse_name(ActionStatus, text, field=field, what="action plan status")


@attrs.frozen
class SurveyResponse:
    """A submitted questionnaire, as the ``survey_answered`` hook receives it."""

    id: int
    instrument: str
    answered_at: datetime
    answers: dict
    """item -> value (None for no answer, N/A or don't know; text for free-text items)."""
    tracking_number: str | None = None
    """The case the response is about, when it answers an invitation after a case."""
    department: str | None = None
    service_code: str | None = None
    source: str = "web"
