"""Importing call-centre exports: streaming, in batches, idempotent, every bad row named."""

import csv
from collections import Counter
from collections.abc import Callable, Iterable

import attrs

from civiccrm.domain.calls import CallRecord, IntervalRow, RowReader, local_slot
from civiccrm.errors import CivicError
from civiccrm.store import calls as store
from civiccrm.store.db import writer_turn
from civiccrm.store.tables import call_intervals_table, calls_table


@attrs.define
class CallImportSummary:
    """What an import read, stored and refused."""

    format: str
    layout: str
    read: int = 0
    """Data rows read from the files."""
    stored: int = 0
    """Rows handed to the database (new, or a later version of a stored call)."""
    new: int = 0
    """Rows the table did not hold before."""
    rejected: int = 0
    skipped: Counter = attrs.field(factory=Counter)
    """Reason -> rows that are not calls offered to a queue (outbound, other channels)."""
    duplicates: int = 0
    """Versions of a call replaced by a later version in the same files."""
    linked: int = 0
    """Calls whose case number matched a case."""
    unmatched_cases: int = 0
    """Calls with a case number no case has."""

    def as_dict(self) -> dict:
        return attrs.asdict(self) | {"skipped": dict(self.skipped)}

    def line(self) -> str:
        what = "calls" if self.layout == "calls" else "intervals"
        text = (f"{self.format}: {self.read} rows read, {self.new} new {what}, {self.stored - self.new} updated or "
                f"unchanged, {self.rejected} rejected")
        if self.layout == "calls":
            text += f", {self.duplicates} older versions dropped, {self.linked} linked to cases"
            if self.unmatched_cases:
                text += f", {self.unmatched_cases} with a case number no case has"
        return text


def _rows(path: str, reader: RowReader, on_error: Callable[[str], None]) -> Iterable[tuple[int, dict]]:
    """(line, row) of one CSV file; a file that cannot be read is one error naming it."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        on_error(f"{path}: cannot read ({exc.strerror})")
        return
    with handle:
        rows = csv.DictReader(handle)
        line = 1
        try:
            reader.check_header(rows.fieldnames)
            for row in rows:
                line = rows.line_num
                if None in row:
                    on_error(f"{path}: line {line}: more fields than the header has")
                    continue
                yield line, row
        except CivicError as exc:
            on_error(f"{path}: line {line}: {exc}")
        except UnicodeDecodeError:
            on_error(f"{path}: line {line + 1}: not UTF-8 text; the rest of the file was not read")
        except csv.Error as exc:
            on_error(f"{path}: line {rows.line_num}: {exc}")


def import_calls(deployment, files: list[str], format_name: str, *, batch_size: int = 5000,
                 on_error: Callable[[str], None]) -> CallImportSummary:
    """Read ``files`` with the profile's format ``format_name`` and store them batch by batch."""
    settings = deployment.profile.call_settings()
    fmt = settings.format(format_name)
    reader = RowReader(fmt, deployment.profile.timezone)
    summary = CallImportSummary(format=fmt.name, layout=fmt.layout)
    tz = deployment.profile.tz
    table = calls_table if fmt.layout == "calls" else call_intervals_table

    def rejected(message: str) -> None:
        summary.rejected += 1
        on_error(message)

    with writer_turn(deployment.engine), deployment.engine.begin() as conn:
        before = store.count_rows(conn, table)
        key = store.caller_key(conn)
    batch: dict = {}

    def flush() -> None:
        if not batch:
            return
        with writer_turn(deployment.engine), deployment.engine.begin() as conn:
            if fmt.layout == "calls":
                links = store.case_ids(conn, (c.case_number for c in batch.values() if c.case_number))
                rows = [_call_row(fmt.name, call, tz, key, links, summary) for call in batch.values()]
                store.upsert_calls(conn, rows)
            else:
                store.upsert_intervals(conn, [_interval_row(fmt, row, tz) for row in batch.values()])
        summary.stored += len(batch)
        batch.clear()

    for path in files:
        for line, raw in _rows(path, reader, rejected):
            summary.read += 1
            reason = reader.skipped(raw)
            if reason:
                summary.skipped[reason] += 1
                continue
            try:
                record = reader.call(raw) if fmt.layout == "calls" else reader.interval(raw)
            except CivicError as exc:
                rejected(f"{path}: line {line}: {exc}")
                continue
            except ValueError as exc:  # a value the domain refuses (e.g. an impossible date)
                rejected(f"{path}: line {line}: {exc}")
                continue
            ident = record.call_id if fmt.layout == "calls" else (record.queue, record.start)
            held = batch.get(ident)
            if held is not None:
                summary.duplicates += 1
                if fmt.layout == "calls" and not _later(record, held):
                    continue
            batch[ident] = record
            if len(batch) >= batch_size:
                flush()
    flush()
    with deployment.engine.connect() as conn:
        summary.new = store.count_rows(conn, table) - before
    return summary


def _later(new: CallRecord, held: CallRecord) -> bool:
    if new.updated_at is None or held.updated_at is None:
        return True  # without update times the last row read wins
    return new.updated_at > held.updated_at


def _call_row(source: str, call: CallRecord, tz, key: bytes, links: dict, summary: CallImportSummary) -> dict:
    day, slot, weekday = local_slot(call.started_at, tz)
    case_id = links.get(call.case_number) if call.case_number else None
    if case_id is not None:
        summary.linked += 1
    elif call.case_number:
        summary.unmatched_cases += 1
    return {
        "source": source, "external_id": call.call_id, "queue": call.queue, "started_at": call.started_at,
        "started_epoch": int(call.started_at.timestamp()), "local_date": day, "local_slot": slot,
        "local_weekday": weekday, "outcome": call.outcome, "wait_seconds": call.wait_seconds,
        "talk_seconds": call.talk_seconds, "hold_seconds": call.hold_seconds, "acw_seconds": call.acw_seconds,
        "wrap_up": call.wrap_up, "agent": call.agent, "caller_key": store.hash_caller(call.caller, key),
        "case_number": call.case_number, "case_id": case_id, "updated_at": call.updated_at,
    }


def _interval_row(fmt, row: IntervalRow, tz) -> dict:
    day, slot, weekday = local_slot(row.start, tz)
    return {
        "source": fmt.name, "queue": row.queue, "interval_start": row.start, "length_seconds": row.length_seconds,
        "local_date": day, "local_slot": slot, "local_weekday": weekday, "offered": row.offered,
        "handled": row.handled, "abandoned": row.abandoned, "short_abandoned": row.short_abandoned,
        "answered_within_t": row.answered_within_t, "wait_seconds": row.wait_seconds,
        "handle_seconds": row.handle_seconds, "agents": row.agents,
        "service_level_seconds": fmt.service_level_seconds, "short_abandon_seconds": fmt.short_abandon_seconds,
    }
