"""Importing call-centre exports: streaming, in batches, idempotent, every bad row named."""

import csv
import os
from collections import Counter
from collections.abc import Callable, Iterable

import attrs

from civiccrm.domain.calls import IntervalRow, LocalSlots, RowReader, local_slot
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


def _rows(path: str, reader: RowReader, on_error: Callable[[str], None]) -> Iterable[tuple[int, list]]:
    """(line, cells) of one CSV file, streamed; a file that cannot be read is one error naming it."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        on_error(f"{path}: cannot read ({exc.strerror})")
        return
    with handle:
        rows = csv.reader(handle)
        line = 1
        try:
            reader.check_header(next(rows, None))
            width = reader.width
            cells = reader.cells
            for row in rows:
                if not row:
                    continue  # a blank line, as csv.DictReader skips it
                line = rows.line_num
                if len(row) > width:
                    on_error(f"{path}: line {line}: more fields than the header has")
                    continue
                yield line, cells(row)
        except CivicError as exc:
            on_error(f"{path}: line {line}: {exc}")
        except UnicodeDecodeError:
            on_error(f"{path}: line {line + 1}: not UTF-8 text; the rest of the file was not read")
        except csv.Error as exc:
            on_error(f"{path}: line {rows.line_num}: {exc}")


def import_calls(deployment, files: list[str], format_name: str, *, batch_size: int = 50_000,
                 on_error: Callable[[str], None]) -> CallImportSummary:
    """Read ``files`` with the profile's format ``format_name`` and store them batch by batch.

    Rows become plain tuples (no object per call) and each batch is one transaction of one bulk
    statement (executemany on SQLite, COPY into a staging table on PostgreSQL); a call seen twice
    keeps its latest update, within a batch here and across batches and imports in the database."""
    settings = deployment.profile.call_settings()
    fmt = settings.format(format_name)
    reader = RowReader(fmt, deployment.profile.timezone)
    summary = CallImportSummary(format=fmt.name, layout=fmt.layout)
    tz = deployment.profile.tz
    calls = fmt.layout == "calls"
    table = calls_table if calls else call_intervals_table

    def rejected(message: str) -> None:
        summary.rejected += 1
        on_error(message)

    indexes = store.secondary_indexes(table)
    with writer_turn(deployment.engine), deployment.engine.begin() as conn:
        store.create_indexes(conn, indexes)
        before = store.count_rows(conn, table)
        hasher = store.CallerHasher(store.caller_key(conn))
        rebuild = _rebuild_indexes(files, before)
        if rebuild:
            store.drop_indexes(conn, indexes)
    slots = LocalSlots(tz)
    batch: dict = {}

    def flush() -> None:
        if not batch:
            return
        with writer_turn(deployment.engine), deployment.engine.begin() as conn:
            store.prepare_bulk(conn)
            if calls:
                numbers = {fields[11] for fields in batch.values() if fields[11]}
                links = store.case_ids(conn, numbers) if numbers else {}
                store.upsert_calls(conn, _call_rows(fmt.name, batch.values(), slots, hasher, links, summary))
            else:
                store.upsert_intervals(conn, [_interval_row(fmt, row, tz) for row in batch.values()])
        summary.stored += len(batch)
        batch.clear()

    try:
        _read(files, reader, calls, summary, batch, batch_size, flush, rejected)
    finally:
        if rebuild:
            with writer_turn(deployment.engine), deployment.engine.begin() as conn:
                store.create_indexes(conn, indexes)
    with deployment.engine.connect() as conn:
        summary.new = store.count_rows(conn, table) - before
    return summary


REBUILD_ABOVE_ROWS = 100_000
"""An import of more rows than this (estimated from file sizes), and than the table holds, drops the
secondary indexes and builds them again at the end: one sort instead of millions of random inserts."""
BYTES_PER_ROW = 100
"""The shortest export rows are about this long (generic CSV): the estimate errs towards keeping the indexes."""


def _rebuild_indexes(files: list[str], stored: int) -> bool:
    size = 0
    for path in files:
        try:
            size += os.path.getsize(path)
        except OSError:
            pass  # named by the reader
    incoming = size // BYTES_PER_ROW
    return incoming > REBUILD_ABOVE_ROWS and incoming > stored


def _read(files, reader: RowReader, calls: bool, summary: CallImportSummary, batch: dict, batch_size: int,
          flush, rejected) -> None:
    for path in files:
        for line, row in _rows(path, reader, rejected):
            summary.read += 1
            reason = reader.skipped(row)
            if reason:
                summary.skipped[reason] += 1
                continue
            try:
                if calls:
                    record = reader.call_fields(row)
                    ident = record[0]
                else:
                    record = reader.interval(row)
                    ident = (record.queue, record.start)
            except CivicError as exc:
                rejected(f"{path}: line {line}: {exc}")
                continue
            except ValueError as exc:  # a value the domain refuses (e.g. an impossible date)
                rejected(f"{path}: line {line}: {exc}")
                continue
            held = batch.get(ident)
            if held is not None:
                summary.duplicates += 1
                if calls and not _later(record[12], held[12]):
                    continue
            batch[ident] = record
            if len(batch) >= batch_size:
                flush()
    flush()


def _later(new, held) -> bool:
    """Whether a version of a call updated at ``new`` replaces one updated at ``held``."""
    if new is None or held is None:
        return True  # without update times the last row read wins
    return new > held


def _call_rows(source: str, records, slots: LocalSlots, hasher, links: dict, summary: CallImportSummary) -> list[tuple]:
    """Rows of ``store.CALL_COLUMNS`` from ``RowReader.call_fields`` tuples."""
    rows = []
    caller_key = hasher.key_of
    slot_of = slots.of
    for (call_id, queue, started, outcome, wait, talk, hold, acw, wrap_up, agent, caller, case_number,
         updated) in records:
        epoch = int(started.timestamp())
        day, slot, weekday = slot_of(started, epoch)
        case_id = None
        if case_number:
            case_id = links.get(case_number)
            if case_id is None:
                summary.unmatched_cases += 1
            else:
                summary.linked += 1
        rows.append((source, call_id, queue, started, epoch, day, slot, weekday, outcome,
                     wait, talk, hold, acw, wrap_up, agent, caller_key(caller), case_number, case_id, updated))
    return rows


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
