"""Bulk import of case history: many cases per transaction, idempotent by external id.

``import_cases`` takes parsed ``ImportRecord`` values (and ``ImportReject`` values for
rows the parser refused) from any importer plugin and writes them with SQLAlchemy Core
``executemany`` in one transaction per batch:

* the batch's external ids that already exist (``origin`` + ``external_id`` is unique)
  are looked up in one query;
* new cases are inserted (tracking number as the source gave it) with an ``imported``
  history event; existing cases are updated only when a field changed, with a
  ``reimported`` event listing the changes; unchanged ones are left alone;
* ``due_at`` comes from the ``compute_due_at`` hook (for a whole batch at once when only the
  core answers it: ``civiccrm.services.sla.due_epochs``), and a closed case gets the project's
  ``days_to_close`` and on-time verdict by the rules of closing a case
  (``civiccrm.domain.lifecycle.days_between`` and ``on_time``); the source's own verdict is kept
  beside it.

A batch the database refuses (an integrity error, a value too long) is rolled back and
written again row by row, so the one bad row is rejected with its file and line and
the rest land. After a batch commits, ``case_created`` fires for its new cases with
``event.origin`` set to the import origin (only when some plugin implements it), so a
plugin that contacts residents can tell history from a live contact and skip it.
"""

import json
from json.encoder import encode_basestring_ascii
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from types import SimpleNamespace

import numpy as np
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError

from civiccrm.domain import lifecycle
from civiccrm.domain.calendar import from_epoch
from civiccrm.domain.cases import CaseEvent, Status
from civiccrm.domain.imports import ImportRecord, ImportReject, ImportSummary, slugify
from civiccrm.errors import CivicError
from civiccrm.services import sla
from civiccrm.services.events import fire
from civiccrm.store import repo
from civiccrm.store.tables import cases_table, events_table

log = logging.getLogger(__name__)

#: Case columns an import sets and a re-import may change.
IMPORTED_COLUMNS = (
    "tracking_number", "service_code", "request_type", "category", "department", "work_group",
    "channel", "description", "address", "latitude", "longitude", "zip_code", "council_district",
    "neighborhood", "status", "resolution", "opened_at", "due_at", "closed_at", "days_to_close",
    "on_time", "city_exceeded_timeframe", "city_days_to_close",
)

#: Fields the ``imported`` event records (as intake's ``created`` event does).
_CREATED_FIELDS = ("status", "resolution", "service_code", "department", "work_group", "channel", "due_at", "closed_at")

MAX_EXAMPLES = 10
"""Distinct unknown names kept per warning kind, to show the user."""


def _jsonable(value):
    return value.isoformat() if isinstance(value, datetime) else value


_CREATED_SORTED = tuple(sorted(_CREATED_FIELDS))
_CREATED_TEMPLATE = "{" + ", ".join(f'"{f}": [null, %s]' for f in _CREATED_SORTED) + "}"


def _created_changes_json(values: dict) -> str:
    """The ``imported`` event's changes, as ``json.dumps({f: [None, v]}, sort_keys=True)`` writes them.

    Written through a template because a history row per imported case makes this the
    hottest serialisation of an import; the values are strings, datetimes or None.
    """
    return _CREATED_TEMPLATE % tuple(
        "null" if (v := values[f]) is None else encode_basestring_ascii(v.isoformat() if isinstance(v, datetime) else v)
        for f in _CREATED_SORTED
    )


class _Mapper:
    """Turns records into case-row values with the profile's codes; lookups are memoised."""

    def __init__(self, deployment, origin: str):
        self.deployment = deployment
        self.origin = origin
        profile = deployment.profile
        tax = profile.taxonomy
        self.taxonomy = tax
        known_channels = deployment.registry.channels
        self.channels = frozenset(c for c in profile.channels if c in known_channels) or frozenset(known_channels)
        self._types: dict = {}
        self._departments: dict = {}
        self._work_groups: dict = {}
        self._type_names = {st.name: st for st in tax.service_types.values()}
        self._type_folded = {st.name.casefold(): st for st in tax.service_types.values()}
        self._type_folded.update({code.casefold(): st for code, st in tax.service_types.items()})
        self._dep_folded = {d.name.strip().casefold(): d.code for d in tax.departments.values()}
        self._dep_folded.update({code.casefold(): code for code in tax.departments})
        self._wg_folded = {w.name.strip().casefold(): w.code for w in tax.work_groups.values()}
        self._wg_folded.update({code.casefold(): code for code in tax.work_groups})

    def service_type(self, code: str | None, name: str):
        """(ServiceType or None, service code) for a record's code/name."""
        key = (code, name)
        found = self._types.get(key)
        if found is None:
            st = None
            if code:
                st = self.taxonomy.service_types.get(code)
            if st is None:
                st = self._type_names.get(name) or self._type_folded.get(name.strip().casefold())
            if st is not None:
                found = (st, st.code)
            else:
                slug = slugify(name)
                if slug in self.taxonomy.service_types:  # never pass off an unknown type as a known one
                    slug = f"{slug}-unlisted"
                found = (None, slug)
            self._types[key] = found
        return found

    @staticmethod
    def _code(cache: dict, folded: dict, text: str):
        """(code, known?) for a department or work group name or code."""
        found = cache.get(text)
        if found is None:
            code = folded.get(text.strip().casefold())
            found = (code, True) if code is not None else (slugify(text), False)
            cache[text] = found
        return found

    def values(self, record: ImportRecord, now: datetime, warnings: list):
        """(case-row values, ServiceType or None) for ``record``; raises CivicError for a row that cannot be a case.

        ``due_at`` and ``on_time`` are left for ``_fill_due_times``, which does a whole batch at once.
        """
        if record.channel not in self.channels:
            raise CivicError(
                f"channel {record.channel!r} is not a channel of {self.deployment.profile.name}; "
                f"expected one of {', '.join(sorted(self.channels))}"
            )
        st, service_code = self.service_type(record.service_code, record.request_type)
        if st is None:
            warnings.append(("unknown service type", record.request_type))
        department = work_group = None
        if record.department:
            department, known = self._code(self._departments, self._dep_folded, record.department)
            if not known:
                warnings.append(("unknown department", record.department))
        elif st is not None:
            department = st.department
        if record.work_group:
            work_group, known = self._code(self._work_groups, self._wg_folded, record.work_group)
            if not known:
                warnings.append(("unknown work group", record.work_group))
        elif st is not None and not record.department:
            work_group = st.work_group
        opened_at = record.opened_at
        closed_at = days_to_close = None
        if record.status is Status.CLOSED:
            # The rules of closing a case (on_time follows once due_at is known).
            closed_at = record.closed_at
            days_to_close = lifecycle.days_between(opened_at, closed_at)
        loc = record.location
        return st, {
            "tracking_number": record.tracking_number,
            "service_code": service_code,
            "request_type": st.name if st is not None else record.request_type.strip(),
            "category": record.category or (st.category if st is not None else None),
            "department": department,
            "work_group": work_group,
            "channel": record.channel,
            "description": record.description,
            "address": loc.address, "latitude": loc.latitude, "longitude": loc.longitude,
            "zip_code": loc.zip_code, "council_district": loc.council_district, "neighborhood": loc.neighborhood,
            "status": record.status.value,
            "resolution": record.resolution.value if record.resolution is not None else None,
            "opened_at": opened_at,
            "due_at": None,
            "closed_at": closed_at,
            "days_to_close": days_to_close,
            "on_time": None,
            "city_exceeded_timeframe": record.city_exceeded_timeframe,
            "city_days_to_close": record.city_days_to_close,
            "updated_at": now,
            "origin": self.origin,
            "external_id": record.external_id,
            "customer_id": None,
            "duplicate_of": None,
        }


class _Item:
    __slots__ = ("record", "values", "warnings", "service_type")

    def __init__(self, record, values, warnings, service_type):
        self.record = record
        self.values = values
        self.warnings = warnings
        self.service_type = service_type


def _fill_due_times(deployment, items) -> None:
    """Set ``due_at`` of a batch and, for closed cases, the on-time verdict (closed at or before ``due_at``).

    When only the core answers ``compute_due_at`` its rule is applied to the whole batch at once
    (``sla.core_due_epochs``, the hook being most of an import's cost otherwise); a plugin's
    answer is asked case by case. ``tests/test_import_kcmo.py`` checks both ways agree."""
    if sla.core_computes_due_at(deployment):
        opened = np.fromiter((it.values["opened_at"].timestamp() for it in items), dtype=np.float64,
                             count=len(items))
        codes = [it.values["service_code"] if it.service_type is not None else None for it in items]
        dues = [None if seconds != seconds else from_epoch(seconds)  # NaN: no due time
                for seconds in sla.core_due_epochs(deployment.profile, codes, opened).tolist()]
    else:
        dues = [sla.compute_due(deployment, it.service_type, it.values["opened_at"])
                if it.service_type is not None else None for it in items]
    for it, due in zip(items, dues, strict=True):
        it.values["due_at"] = due
        it.values["on_time"] = lifecycle.on_time(it.values["closed_at"], due)


def _db_reason(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc.__cause__ or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return f"the database refused the row: {text}"


class _Writer:
    """Writes batches; keeps the summary."""

    def __init__(self, deployment, *, origin, actor, on_error, summary):
        self.deployment = deployment
        self.origin = origin
        self.actor = actor
        self.on_error = on_error
        self.summary = summary
        existing_cols = [cases_table.c.id, cases_table.c.external_id] + [cases_table.c[c] for c in IMPORTED_COLUMNS]
        self.select_existing = select(*existing_cols).where(
            cases_table.c.origin == bindparam("origin"),
            cases_table.c.external_id.in_(bindparam("ids", expanding=True)),
        )
        # No RETURNING: SQLite would then insert row by row; the new ids are read back in one query.
        self.select_ids = select(cases_table.c.external_id, cases_table.c.id).where(
            cases_table.c.origin == bindparam("origin"),
            cases_table.c.external_id.in_(bindparam("ids", expanding=True)),
        )
        # The reimported event is written first; the update points the case at it (migration 0023's trigger).
        self.update_cases = update(cases_table).where(cases_table.c.id == bindparam("b_id")).values(
            {**{c: bindparam(f"v_{c}") for c in IMPORTED_COLUMNS + ("updated_at",)},
             "last_event_id": repo.newest_event_id()}
        )
        self.fire_created = bool(deployment.pm.hook.case_created.get_hookimpls())

    def reject(self, record: ImportRecord, reason: str) -> None:
        self.summary.rejected += 1
        if self.on_error is not None:
            self.on_error(ImportReject(record.source_file, record.source_line, reason))

    def _note(self, record: ImportRecord) -> str | None:
        if not record.source_file:
            return None
        return f"{record.source_file}:{record.source_line}" if record.source_line else record.source_file

    def _write(self, conn, items: list, now: datetime):
        """Write one batch on ``conn`` (inside its transaction); returns (new, updated, unchanged)."""
        ids = [it.record.external_id for it in items]
        existing = {row.external_id: row for row in conn.execute(self.select_existing, {"origin": self.origin, "ids": ids})}
        new, events, changed = [], [], []
        unchanged = 0
        for it in items:
            it.values["updated_at"] = now
            old = existing.get(it.record.external_id)
            if old is None:
                new.append(it)
                continue
            values = it.values
            changes = {}
            for col in IMPORTED_COLUMNS:
                before = getattr(old, col)
                after = values[col]
                if before != after:
                    changes[col] = [_jsonable(before), _jsonable(after)]
            if not changes:
                unchanged += 1
                continue
            row = {f"v_{c}": values[c] for c in IMPORTED_COLUMNS}
            row["v_updated_at"] = now
            row["b_id"] = old.id
            changed.append(row)
            events.append({
                "case_id": old.id, "at": now, "actor": self.actor, "kind": "reimported", "origin": self.origin,
                "changes": json.dumps(changes, sort_keys=True), "note": self._note(it.record),
            })
        created = []
        if new:
            repo.bulk_insert(conn, cases_table, [it.values for it in new])
            new_ids = dict(conn.execute(self.select_ids, {
                "origin": self.origin, "ids": [it.record.external_id for it in new]}).all())
            for it in new:
                case_id = new_ids[it.record.external_id]
                events.append({
                    "case_id": case_id, "at": now, "actor": self.actor, "kind": "imported", "origin": self.origin,
                    "changes": _created_changes_json(it.values), "note": self._note(it.record),
                })
                created.append((case_id, it))
        if events:
            repo.bulk_insert(conn, events_table, events)
        if changed:
            conn.execute(self.update_cases, changed)
        return created, len(changed), unchanged

    def flush(self, items: list, *, retrying: bool = False) -> None:
        if not items:
            return
        now = self.deployment.clock()
        if not retrying:
            _fill_due_times(self.deployment, items)
        try:
            with self.deployment.engine.begin() as conn:
                created, updated, unchanged = self._write(conn, items, now)
        except DBAPIError as exc:
            if not isinstance(exc, (IntegrityError, DataError)):
                raise  # the database itself is in trouble (locked, gone): not one row's fault
            self._retry(items, exc)
            return
        except StatementError as exc:  # a value the driver could not take (raised before the database saw it)
            self._retry(items, exc)
            return
        s = self.summary
        s.imported += len(created)
        s.updated += updated
        s.unchanged += unchanged
        for it in items:
            for kind, name in it.warnings:
                s.warnings[kind] += 1
                examples = s.warning_examples.setdefault(kind, [])
                if len(examples) < MAX_EXAMPLES and name not in examples:
                    examples.append(name)
        if self.fire_created and created:
            self._fire(created, now)

    def _retry(self, items: list, exc: Exception) -> None:
        if len(items) == 1:
            self.reject(items[0].record, _db_reason(exc))
            return
        log.info("batch of %d refused by the database (%s); writing it row by row", len(items), exc)
        for it in items:
            self.flush([it], retrying=True)

    def _fire(self, created, now) -> None:
        for case_id, it in created:
            changes = {f: [None, _jsonable(it.values[f])] for f in _CREATED_FIELDS}
            case = repo.case_from_row(SimpleNamespace(id=case_id, **it.values))
            event = CaseEvent(kind="imported", at=now, actor=self.actor, changes=changes,
                              note=self._note(it.record), origin=self.origin, case_id=case_id)
            self.summary.hook_failures += len(fire(self.deployment, "case_created", case=case, event=event))


def import_cases(
    deployment,
    records: Iterable[ImportRecord | ImportReject],
    *,
    origin: str,
    batch_size: int = 1000,
    actor: str = "import",
    on_error: Callable[[ImportReject], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Write parsed records as cases, ``batch_size`` per transaction; see the module docstring.

    ``records`` is consumed once, lazily (it may stream a file of any size).
    ``on_error`` is called with every ``ImportReject``: those the parser yielded and
    those refused here (a channel the city does not take, a row the database refused).
    ``progress`` is called after each batch with the number of records it handled.
    """
    if not origin.startswith("import:"):
        raise CivicError(f"import origin {origin!r} must start with 'import:' (e.g. 'import:kcmo')")
    if batch_size < 1:
        raise CivicError(f"--batch-size: must be at least 1, got {batch_size}")
    summary = ImportSummary()
    mapper = _Mapper(deployment, origin)
    writer = _Writer(deployment, origin=origin, actor=actor, on_error=on_error, summary=summary)
    batch: list[_Item] = []
    in_batch: set[str] = set()
    handled = 0

    def flush():
        nonlocal batch, in_batch, handled
        writer.flush(batch)
        if progress is not None and handled:
            progress(handled)
        batch, in_batch, handled = [], set(), 0

    now = deployment.clock()
    for record in records:
        if isinstance(record, ImportReject):
            if record.whole_file:
                summary.files_skipped += 1
            else:
                summary.read += 1
                summary.rejected += 1
                handled += 1
            if on_error is not None:
                on_error(record)
            continue
        summary.read += 1
        handled += 1
        warnings = list(record.warnings)
        try:
            service_type, values = mapper.values(record, now, warnings)
        except CivicError as exc:
            writer.reject(record, str(exc))
            continue
        if record.external_id in in_batch:
            # The same case twice in one batch: write the first, so the second updates it.
            handled -= 1
            flush()
            handled = 1
        batch.append(_Item(record, values, warnings, service_type))
        in_batch.add(record.external_id)
        if len(batch) >= batch_size:
            flush()
            now = deployment.clock()
    flush()
    return summary
