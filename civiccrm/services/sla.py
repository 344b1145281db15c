"""SLA use cases: due times, pauses, breach scan, recompute, policy versions and the city comparison."""

from datetime import date, datetime, timedelta

import attrs
import numpy as np
from sqlalchemy import Float, String, and_, case, cast, func, inspect, select, update
from sqlalchemy.exc import IntegrityError

from civiccrm.domain import sla as rules
from civiccrm.domain.calendar import from_epoch, tz_offsets
from civiccrm.domain.cases import CaseEvent, Status
from civiccrm.domain.sla import SlaPolicy
from civiccrm.domain.taxonomy import ServiceType
from civiccrm.errors import CivicError
from civiccrm.domain.sla import parse_basis, parse_clock_start, parse_pause_statuses
from civiccrm.services.events import fire
from civiccrm.store import repo
from civiccrm.store.tables import CaseRow, DepartmentRow, SlaPolicyRow, cases_table

CORE_PLUGIN = "civiccrm_plugins.core"
LEVEL_NAMES = {0: None, 1: rules.WARNING, 2: rules.BREACHED}


# --- policies -------------------------------------------------------------------


def _policy_from_row(row) -> SlaPolicy:
    return SlaPolicy(
        service_code=row.service_code, target=row.target, basis=row.basis, calendar=row.calendar,
        effective_from=row.effective_from, first_response=row.first_response,
        pause_statuses=frozenset(s for s in row.pause_statuses.split(";") if s), clock_start=row.clock_start,
        source=f"cli ({row.actor}, {row.created_at:%Y-%m-%d %H:%M} UTC)", note=row.note,
    )


def load_stored_policies(deployment) -> None:
    """Add the versions stored with ``sla policy set`` to the deployment's profile."""
    if not inspect(deployment.engine).has_table("sla_policies"):
        return
    with deployment.session() as s:
        rows = s.scalars(select(SlaPolicyRow).order_by(SlaPolicyRow.id)).all()
    if rows:
        profile = deployment.profile
        deployment.profile = attrs.evolve(profile, sla=profile.sla.with_versions(_policy_from_row(r) for r in rows))


def policy_for(deployment, service_type: ServiceType, opened_at: datetime) -> SlaPolicy:
    return deployment.profile.sla_policy(service_type, opened_at)


def _clock_started(row: CaseRow) -> datetime:
    """When the case's resolution clock started: its opening, or its last reopening.

    The policy version is the one in force then (``compute_due_at`` is asked for a case
    "opened" at that instant), for the due time, pauses and recompute alike.
    """
    return row.sla_clock_from or row.opened_at


def set_policy(deployment, service: str, *, target: float, basis: str | None = None, calendar: str | None = None,
               effective_from: date | None = None, first_response: float | None = None,
               pause_statuses=None, clock_start: str | None = None, note: str | None = None,
               actor: str = "system") -> SlaPolicy:
    """Add a policy version from ``effective_from`` (today by default); history is never edited."""
    profile = deployment.profile
    service_type = profile.service_type(service)
    now = deployment.clock()
    today = now.astimezone(profile.tz).date()
    effective_from = effective_from or today
    if effective_from < today:
        raise CivicError(
            f"--from: {effective_from.isoformat()} is in the past; a new version applies from today "
            f"({today.isoformat()}) or later, so cases already opened keep the version they were held to",
            field="effective_from",
        )
    current = profile.sla_policy(service_type, now)
    policy = SlaPolicy(
        service_code=service_type.code,
        target=rules.check_target(target, where="--target"),
        basis=parse_basis(basis, where="--basis") if basis else current.basis,
        calendar=calendar or current.calendar,
        effective_from=effective_from,
        first_response=(rules.check_target(first_response, where="--first-response")
                        if first_response is not None else current.first_response),
        pause_statuses=(parse_pause_statuses(pause_statuses, where="--pause") if pause_statuses
                        else current.pause_statuses),
        clock_start=parse_clock_start(clock_start, where="--clock-start") if clock_start else current.clock_start,
        source="cli", note=note,
    )
    if policy.calendar not in profile.calendars:
        raise CivicError(f"--calendar: {policy.calendar!r} is not a calendar of {profile.name}; "
                         f"expected one of {', '.join(profile.calendars)}", field="calendar")
    row = SlaPolicyRow(
        service_code=policy.service_code, effective_from=effective_from, target=policy.target,
        basis=policy.basis, calendar=policy.calendar, first_response=policy.first_response,
        pause_statuses=";".join(sorted(policy.pause_statuses)), clock_start=policy.clock_start,
        note=note, actor=actor, created_at=now,
    )
    with deployment.session() as s:
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            raise CivicError(
                f"--from: {service_type.code!r} already has a version stored from {effective_from.isoformat()}; "
                "versions are never edited: choose a later date", field="effective_from",
            ) from None
    load_stored_policies(deployment)
    return _policy_from_row(row)


# --- due times of one case --------------------------------------------------------


def compute_due(deployment, service_type: ServiceType, opened_at: datetime, *, clock_from: datetime | None = None,
                paused_seconds: float = 0.0) -> datetime | None:
    """The due time: the ``compute_due_at`` hook from the clock's start, pushed back by paused time."""
    start = clock_from or opened_at
    due = deployment.pm.hook.compute_due_at(deployment=deployment, opened_at=start, service_type=service_type,
                                            profile=deployment.profile)
    if due is None or not paused_seconds:
        return due
    policy = policy_for(deployment, service_type, start)
    return rules.extend_for_pause(policy, deployment.profile.calendars[policy.calendar], due, paused_seconds)


def first_response_due(deployment, service_type: ServiceType, opened_at: datetime) -> datetime | None:
    policy = policy_for(deployment, service_type, opened_at)
    return rules.first_response_due_at(policy, deployment.profile.calendars[policy.calendar], opened_at)


def _level_now(due: datetime | None, now: datetime, warning: timedelta) -> int:
    if due is None:
        return 0
    if due <= now:
        return 2
    return 1 if due <= now + warning else 0


def _iso(value):
    return value.isoformat() if value else None


def _set_due(deployment, row: CaseRow, service_type: ServiceType, now: datetime, changes: dict) -> None:
    """Recompute ``row.due_at`` and lower its escalation level if the new due time is further off."""
    new_due = compute_due(deployment, service_type, row.opened_at, clock_from=row.sla_clock_from,
                          paused_seconds=row.sla_paused_seconds or 0.0)
    if new_due != row.due_at:
        changes["due_at"] = [_iso(row.due_at), _iso(new_due)]
        row.due_at = new_due
    level = min(row.sla_level or 0, _level_now(new_due, now, deployment.profile.sla.warning))
    if level != (row.sla_level or 0):
        changes["sla_level"] = [LEVEL_NAMES[row.sla_level or 0], LEVEL_NAMES[level]]
        row.sla_level = level


def _service_type(deployment, row: CaseRow) -> ServiceType | None:
    return deployment.profile.taxonomy.service_types.get(row.service_code)


def _resume(deployment, row: CaseRow, service_type: ServiceType, at: datetime, changes: dict) -> None:
    policy = policy_for(deployment, service_type, _clock_started(row))
    calendar = deployment.profile.calendars[policy.calendar]
    counted = rules.paused_counted(policy, calendar, row.sla_paused_at, at)
    changes["sla_paused_at"] = [_iso(row.sla_paused_at), None]
    changes["sla_paused_seconds"] = [row.sla_paused_seconds or 0.0, (row.sla_paused_seconds or 0.0) + counted]
    row.sla_paused_seconds = (row.sla_paused_seconds or 0.0) + counted
    row.sla_paused_at = None


def _note_first_response(row: CaseRow, at: datetime) -> dict:
    """Record the first response: the first time a case leaves ``new`` (a status change, a close or a merge).

    Assignments and notes are not responses: routing is internal, and public notes arrive
    from Open311 clients on the requester's behalf.
    """
    if row.responded_at is not None:
        return {}
    row.responded_at = at
    return {"responded_at": [None, at.isoformat()]}


def on_status_change(deployment, row: CaseRow, new_status: Status, now: datetime) -> dict:
    """Pause or resume the clock as the case enters or leaves a pausing status; note the first response."""
    changes = _note_first_response(row, now) if new_status is not Status.NEW else {}
    service_type = _service_type(deployment, row)
    if service_type is None or row.due_at is None:
        return changes
    pauses = new_status.value in policy_for(deployment, service_type, _clock_started(row)).pause_statuses
    if pauses and row.sla_paused_at is None:
        row.sla_paused_at = now
        changes["sla_paused_at"] = [None, now.isoformat()]
    elif not pauses and row.sla_paused_at is not None:
        _resume(deployment, row, service_type, now, changes)
        _set_due(deployment, row, service_type, now, changes)
    return changes


def on_close(deployment, row: CaseRow, closed_at: datetime) -> dict:
    """End a pause at close so the verdict counts paused time out; note the first response."""
    changes = _note_first_response(row, closed_at)
    service_type = _service_type(deployment, row)
    if row.sla_paused_at is not None and service_type is not None and row.due_at is not None:
        _resume(deployment, row, service_type, closed_at, changes)
        _set_due(deployment, row, service_type, closed_at, changes)
    return changes


def on_reopen(deployment, row: CaseRow, now: datetime) -> tuple[datetime | None, dict]:
    """Restart the clock from now: no pause carried over, no escalation yet; returns the new due time."""
    changes: dict = {}
    row.sla_clock_from = now
    row.sla_paused_seconds = 0.0
    row.sla_paused_at = None
    if row.sla_level:
        changes["sla_level"] = [LEVEL_NAMES[row.sla_level], None]
    row.sla_level = 0
    service_type = _service_type(deployment, row)
    new_due = compute_due(deployment, service_type, row.opened_at, clock_from=now) if service_type else None
    return new_due, changes


def on_type_change(deployment, row: CaseRow, service_type: ServiceType, now: datetime) -> dict:
    """A new service type: the due time under its policy, keeping the time already paused."""
    changes: dict = {}
    _set_due(deployment, row, service_type, now, changes)
    new_response_due = first_response_due(deployment, service_type, row.opened_at)
    if new_response_due != row.response_due_at:
        changes["response_due_at"] = [_iso(row.response_due_at), _iso(new_response_due)]
        row.response_due_at = new_response_due
    if row.sla_response_level and row.responded_at is None and (new_response_due is None or new_response_due > now):
        changes["response_level"] = [LEVEL_NAMES[row.sla_response_level], None]
        row.sla_response_level = 0
    return changes


@attrs.frozen
class SlaState:
    """Where a case stands against its SLA, for ``case show``."""

    policy: SlaPolicy | None
    due_at: datetime | None
    paused_since: datetime | None
    paused_seconds: float
    level: str | None
    response_due_at: datetime | None
    responded_at: datetime | None
    response_level: str | None = None
    """``breached`` once the scan has escalated a case with no first response past ``response_due_at``."""


def state(deployment, tracking_number: str) -> SlaState:
    with deployment.session() as s:
        row = repo.get_case_row(session=s, tracking_number=tracking_number)
    service_type = _service_type(deployment, row)
    try:
        policy = policy_for(deployment, service_type, _clock_started(row)) if service_type else None
    except CivicError:
        policy = None
    return SlaState(policy=policy, due_at=row.due_at, paused_since=row.sla_paused_at,
                    paused_seconds=row.sla_paused_seconds or 0.0, level=LEVEL_NAMES[row.sla_level or 0],
                    response_due_at=row.response_due_at, responded_at=row.responded_at,
                    response_level=LEVEL_NAMES[row.sla_response_level or 0])


# --- breach scan ---------------------------------------------------------------------


@attrs.frozen
class ScanResult:
    warned: tuple[str, ...]
    breached: tuple[str, ...]
    failed_hooks: int = 0
    response_breached: tuple[str, ...] = ()
    """Cases escalated because their first-response due time passed with no first response."""


def _escalate(s, case_id: int, level_column: str, due_column: str, due: datetime, target: int) -> bool:
    """Raise one escalation level if no other scan has: a conditional UPDATE that only one can win."""
    c = cases_table.c
    return bool(s.execute(
        update(cases_table).where(c.id == case_id, c[level_column] < target, c[due_column] == due)
        .values({level_column: target})
    ).rowcount)


def scan(deployment, *, warning: timedelta | None = None, actor: str = "sla-scan") -> ScanResult:
    """Escalate open cases newly due within the warning window or past due, and cases past
    their first-response due time with no first response.

    Resolution: open cases whose clock runs, ``warning`` then ``breached``. First response:
    open cases with ``response_due_at`` passed and ``responded_at`` empty, ``breached``
    only (a warning window sized for days would warn of an hours-long response target at
    intake). Each case gets at most one event per level of each: the level is raised with
    a conditional UPDATE, so a second scan (or two at once) writes nothing new.
    ``sla_breached`` is fired for each escalation after the commit.
    """
    now = deployment.clock()
    warning = deployment.profile.sla.warning if warning is None else warning
    tz = deployment.profile.tz
    c = CaseRow
    resolution = (
        select(c.id, c.due_at, c.sla_level)
        .where(c.status != Status.CLOSED.value, c.sla_paused_at.is_(None), c.due_at.is_not(None),
               c.due_at <= now + warning, c.sla_level < 2)
        .order_by(c.due_at, c.id)
    )
    response = (
        select(c.id, c.response_due_at, c.sla_response_level)
        .where(c.responded_at.is_(None), c.response_due_at.is_not(None), c.response_due_at <= now,
               c.status != Status.CLOSED.value, c.sla_response_level < 2)
        .order_by(c.response_due_at, c.id)
    )
    escalated = []  # (case id, "resolution" or "response", level name, event)
    with deployment.session() as s:
        for case_id, due, level in s.execute(resolution).all():
            target = 2 if due <= now else 1
            if target <= level or not _escalate(s, case_id, "sla_level", "due_at", due, target):
                continue
            name = LEVEL_NAMES[target]
            event = CaseEvent(
                kind="sla_escalated", at=now, actor=actor,
                changes={"sla_level": [LEVEL_NAMES[level], name], "due_at": due.isoformat()},
                note=f"{name}: due {due.astimezone(tz):%Y-%m-%d %H:%M %Z}",
            )
            repo.add_event(session=s, case_id=case_id, event=event)
            escalated.append((case_id, "resolution", name, event))
        for case_id, due, level in s.execute(response).all():
            if not _escalate(s, case_id, "sla_response_level", "response_due_at", due, 2):
                continue
            name = LEVEL_NAMES[2]
            event = CaseEvent(
                kind="sla_escalated", at=now, actor=actor,
                changes={"response_level": [LEVEL_NAMES[level], name], "response_due_at": due.isoformat()},
                note=f"first response {name}: due {due.astimezone(tz):%Y-%m-%d %H:%M %Z}, none recorded",
            )
            repo.add_event(session=s, case_id=case_id, event=event)
            escalated.append((case_id, "response", name, event))
        s.commit()
        cases = {}
        for case_id, _, _, _ in escalated:
            if case_id not in cases:
                cases[case_id] = repo.case_from_row(s.get(CaseRow, case_id))
    failed = 0
    for case_id, _, _, event in escalated:
        failed += len(fire(deployment, "sla_breached", case=cases[case_id], event=event))

    def numbers(kind, name):
        return tuple(cases[i].tracking_number for i, k, n, _ in escalated if k == kind and n == name)

    return ScanResult(
        warned=numbers("resolution", rules.WARNING), breached=numbers("resolution", rules.BREACHED),
        failed_hooks=failed, response_breached=numbers("response", rules.BREACHED),
    )


# --- recompute --------------------------------------------------------------------------


@attrs.frozen
class RecomputeResult:
    examined: int
    moved: int
    verdicts_changed: int
    seconds_moved: float
    """Largest absolute change of a due time, in seconds."""


def _epoch_expr(column, dialect: str):
    """An SQL expression for a timestamp column that reads as text (SQLite) or float epoch (PostgreSQL)."""
    if dialect == "sqlite":
        return cast(column, String)
    return cast(func.extract("epoch", column), Float)


def _to_epochs(values, dialect: str) -> np.ndarray:
    if dialect == "sqlite":
        texts = np.array([v if v is not None else "NaT" for v in values], dtype="datetime64[us]")
        result = texts.astype("int64").astype(np.float64) / 1e6
        result[np.isnat(texts)] = np.nan
        return result
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _due_batch(deployment, codes, opened, clock_from, paused, use_hook: bool) -> np.ndarray:
    """New due times (epoch seconds, NaN for none) of one batch, grouped by policy version."""
    profile = deployment.profile
    starts = np.where(np.isnan(clock_from), opened, clock_from)
    due = np.full(len(codes), np.nan)
    types = profile.taxonomy.service_types
    if use_hook:
        for i, code in enumerate(codes):
            st = types.get(code)
            if st is None:
                continue
            opened_dt = from_epoch(opened[i])
            clock_dt = None if np.isnan(clock_from[i]) else from_epoch(clock_from[i])
            value = compute_due(deployment, st, opened_dt, clock_from=clock_dt, paused_seconds=float(paused[i]))
            due[i] = np.nan if value is None else value.timestamp()
        return due
    offsets_by_tz = {}
    codes = np.asarray(codes, dtype=object)
    for code in np.unique(codes):
        st = types.get(code)
        if st is None:
            continue
        members = np.nonzero(codes == code)[0]
        # the version in force when the clock started (the opening, or the last reopening)
        versions = profile.sla.history(code) or (profile.sla_policy(st, from_epoch(starts[members[0]])),)
        if len(versions) == 1 and versions[0].effective_from is None:
            groups = [(versions[0], members)]
        else:
            offsets = offsets_by_tz.setdefault(profile.timezone, tz_offsets(profile.tz))
            offsets.ensure_epochs(starts[members])
            local_day = np.floor(offsets.local(starts[members]) / 86400).astype(np.int64)
            bounds = [(v.effective_from - date(1970, 1, 1)).days if v.effective_from else None for v in versions]
            groups = []
            for k, version in enumerate(versions):
                lo = bounds[k]
                hi = bounds[k + 1] if k + 1 < len(versions) else None
                mask = np.ones(len(members), dtype=bool)
                if lo is not None:
                    mask &= local_day >= lo
                if hi is not None:
                    mask &= local_day < hi
                groups.append((version, members[mask]))
            if bounds[0] is not None and np.any(local_day < bounds[0]):
                first = members[np.argmax(local_day < bounds[0])]
                profile.sla.in_force(code, from_epoch(starts[first], profile.tz).date())
        for version, idx in groups:
            if idx.size:
                due[idx] = rules.due_epochs(version, profile.calendars[version.calendar], starts[idx], paused[idx])
    return due


def _update_params(dialect, changed, new, closed, ids, on_time, level, status, now_s, warning_s) -> list[tuple]:
    """(due_at, on_time, sla_level, id) for each moved case, in the driver's own types.

    Written with the driver's executemany, without SQLAlchemy's per-row processing:
    SQLite gets the text form SQLAlchemy stores (UTC, microseconds), PostgreSQL aware
    datetimes. Closed cases get a new verdict; open ones a lower escalation level if
    the due time moved away.
    """
    index = np.nonzero(changed)[0]
    due = new[index]
    missing = np.isnan(due)
    if dialect == "sqlite":
        micro = np.where(missing, 0, np.round(due * 1e6)).astype("int64").astype("datetime64[us]")
        texts = np.datetime_as_string(micro, unit="us")
        values = [None if m else t[:10] + " " + t[11:] for t, m in zip(texts.tolist(), missing.tolist())]
    else:
        values = [None if m else from_epoch(d) for d, m in zip(due.tolist(), missing.tolist())]
    level_now = np.where(due <= now_s, 2, np.where(due <= now_s + warning_s, 1, 0))
    closed_at = closed[index]
    late = ~(closed_at <= due)
    params = []
    for k, i in enumerate(index.tolist()):
        if status[i] == Status.CLOSED.value:
            verdict = None if missing[k] or np.isnan(closed_at[k]) else not bool(late[k])
            lvl = level[i]
        else:
            verdict = on_time[i]
            lvl = level[i] if missing[k] else min(level[i], int(level_now[k]))
        params.append((values[k], verdict, lvl, ids[i]))
    return params


def recompute(deployment, *, include_closed: bool = False, service_code: str | None = None,
              batch_size: int = 100_000) -> RecomputeResult:
    """Recompute stored due times (open cases; with ``include_closed`` also the verdicts of closed ones).

    Batches of ``batch_size`` cases are read by id, their due times computed with one
    array search per policy version, and the moved ones written back with one
    executemany per batch. A plugin overriding ``compute_due_at`` is honoured (case by
    case, more slowly).
    """
    dialect = deployment.engine.dialect.name
    now = deployment.clock()
    warning_s = deployment.profile.sla.warning.total_seconds()
    now_s = now.timestamp()
    use_hook = any(impl.plugin_name != CORE_PLUGIN for impl in deployment.pm.hook.compute_due_at.get_hookimpls())
    t = cases_table.c
    columns = [t.id, t.service_code, _epoch_expr(t.opened_at, dialect), _epoch_expr(t.sla_clock_from, dialect),
               _epoch_expr(t.due_at, dialect), t.sla_paused_seconds, _epoch_expr(t.closed_at, dialect),
               t.on_time, t.sla_level, t.status]
    conditions = [t.sla_paused_at.is_(None)]
    if not include_closed:
        conditions.append(t.status != Status.CLOSED.value)
    if service_code:
        conditions.append(t.service_code == deployment.profile.service_type(service_code).code)
    examined = moved = verdicts = 0
    largest = 0.0
    last_id = 0
    mark = "?" if deployment.engine.dialect.paramstyle == "qmark" else "%s"
    statement = f"UPDATE cases SET due_at = {mark}, on_time = {mark}, sla_level = {mark} WHERE id = {mark}"
    with deployment.engine.connect() as conn:
        while True:
            rows = conn.execute(
                select(*columns).where(and_(t.id > last_id, *conditions)).order_by(t.id).limit(batch_size)
            ).all()
            if not rows:
                break
            last_id = rows[-1][0]
            examined += len(rows)
            ids, codes, opened, clock_from, old_due, paused, closed, on_time, level, status = zip(*rows)
            opened = _to_epochs(opened, dialect)
            clock_from = _to_epochs(clock_from, dialect)
            old = _to_epochs(old_due, dialect)
            closed = _to_epochs(closed, dialect)
            paused = np.array([p or 0.0 for p in paused], dtype=np.float64)
            new = _due_batch(deployment, codes, opened, clock_from, paused, use_hook)
            new = np.round(new, 6)
            both_nan = np.isnan(new) & np.isnan(old)
            diff = np.abs(np.nan_to_num(new - old, nan=np.inf))
            changed = ~both_nan & (diff >= 1.0)
            if not changed.any():
                continue
            largest = max(largest, float(np.max(np.where(changed & np.isfinite(diff), diff, 0.0))))
            params = _update_params(dialect, changed, new, closed, ids, on_time, level, status, now_s, warning_s)
            verdicts += sum(1 for p, i in zip(params, np.nonzero(changed)[0])
                            if status[i] == Status.CLOSED.value and p[1] != on_time[i])
            moved += len(params)
            conn.exec_driver_sql(statement, params)
            conn.commit()
    return RecomputeResult(examined=examined, moved=moved, verdicts_changed=verdicts, seconds_moved=largest)


# --- comparison with the city's own verdicts --------------------------------------------


@attrs.frozen
class Agreement:
    """How often the project's on-time verdict agrees with the city's, for one group."""

    group: str
    cases: int
    agree: int
    project_late_city_on_time: int
    project_on_time_city_late: int

    @property
    def share(self) -> float | None:
        return self.agree / self.cases if self.cases else None


def compare(deployment) -> tuple[Agreement, list[Agreement]]:
    """Overall and per-department agreement of ``on_time`` with ``not city_exceeded_timeframe`` (one GROUP BY)."""
    c = cases_table.c
    agree = func.sum(case((c.on_time == ~c.city_exceeded_timeframe, 1), else_=0))
    late_vs_ok = func.sum(case((and_(~c.on_time, ~c.city_exceeded_timeframe), 1), else_=0))
    ok_vs_late = func.sum(case((and_(c.on_time, c.city_exceeded_timeframe), 1), else_=0))
    name = func.coalesce(DepartmentRow.name, c.department, "(none)")
    query = (
        select(name, func.count(), agree, late_vs_ok, ok_vs_late)
        .select_from(cases_table.outerjoin(DepartmentRow.__table__, DepartmentRow.code == c.department))
        .where(c.on_time.is_not(None), c.city_exceeded_timeframe.is_not(None))
        .group_by(name)
        .order_by(func.count().desc(), name)
    )
    with deployment.session() as s:
        rows = [Agreement(group=r[0], cases=r[1], agree=int(r[2] or 0), project_late_city_on_time=int(r[3] or 0),
                          project_on_time_city_late=int(r[4] or 0)) for r in s.execute(query)]
    total = Agreement(
        group="all", cases=sum(r.cases for r in rows), agree=sum(r.agree for r in rows),
        project_late_city_on_time=sum(r.project_late_city_on_time for r in rows),
        project_on_time_city_late=sum(r.project_on_time_city_late for r in rows),
    )
    return total, rows
