"""Recompute stored due times after a policy or calendar change, in batches, with array arithmetic."""

from datetime import datetime, timezone

import attrs
import numpy as np
from sqlalchemy import Float, String, and_, bindparam, cast, func, select, update

from civiccrm.domain.cases import CaseEvent, Status
from civiccrm.services.sla.clock import due_epochs
from civiccrm.store import repo
from civiccrm.store.tables import cases_table, events_table
from civiccrm.store.types import UTCDateTime


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
    values = repo.driver_instants(dialect, due)
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


def _write_verdicts(conn, rejudged, on_time, *, new_verdicts, actor: str) -> None:
    """A closed case's changed on-time verdict is an outcome: each gets a ``verdict_recomputed`` event,
    written first, and the update points the case at it (migration 0023's trigger refuses it otherwise)."""
    if not rejudged:
        return
    repo.bulk_insert(conn, events_table, [repo.event_values(int(p[3]), CaseEvent(
        kind="verdict_recomputed", at=new_verdicts, actor=actor, note="on-time verdict judged again by sla recompute",
        changes={"on_time": [on_time[i], p[1]]})) for p, i in rejudged])
    conn.execute(update(cases_table).where(cases_table.c.id == bindparam("b_id")).values(
        due_at=bindparam("v_due_at", type_=UTCDateTime), on_time=bindparam("v_on_time"),
        sla_level=bindparam("v_sla_level"), last_event_id=repo.newest_event_id()),
        [{"v_due_at": _aware(p[0]), "v_on_time": p[1], "v_sla_level": int(p[2]), "b_id": int(p[3])}
         for p, _ in rejudged])


def _aware(value):
    """A due time of ``_update_params`` (driver text on SQLite) as an aware datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def recompute(deployment, *, include_closed: bool = False, service_code: str | None = None,
              batch_size: int = 100_000, actor: str = "sla-recompute") -> RecomputeResult:
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
            new = due_epochs(deployment, codes, opened, clock_from, paused)
            new = np.round(new, 6)
            both_nan = np.isnan(new) & np.isnan(old)
            diff = np.abs(np.nan_to_num(new - old, nan=np.inf))
            changed = ~both_nan & (diff >= 1.0)
            if not changed.any():
                continue
            largest = max(largest, float(np.max(np.where(changed & np.isfinite(diff), diff, 0.0))))
            params = _update_params(dialect, changed, new, closed, ids, on_time, level, status, now_s, warning_s)
            rejudged = [(p, i) for p, i in zip(params, np.nonzero(changed)[0].tolist())
                        if status[i] == Status.CLOSED.value and p[1] != on_time[i]]
            verdicts += len(rejudged)
            moved += len(params)
            _write_verdicts(conn, rejudged, on_time, new_verdicts=now, actor=actor)
            skip = {p[3] for p, _ in rejudged}
            repo.bulk_update(conn, cases_table, ("due_at", "on_time", "sla_level"),
                             [p for p in params if p[3] not in skip])
            conn.commit()
    return RecomputeResult(examined=examined, moved=moved, verdicts_changed=verdicts, seconds_moved=largest)
