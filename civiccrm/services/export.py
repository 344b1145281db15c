"""`civiccrm export cases`: the city's cases as open data (CSV, GeoJSON, Parquet, Open311 bulk), without personal data.

Cases are read in batches (``civiccrm.store.exports.case_batches``: only public columns of
``cases`` are ever selected -- never the customer, the history notes or the media), turned
into Arrow record batches, and written one batch at a time, so memory stays flat in the
number of cases. Free-text descriptions are written only when the profile says they are
public (``[open_data] public_descriptions = true``). Beside the file goes its data
dictionary (``FILE.dictionary.csv``: column, type, description). ``docs/open-data-export.md``
describes the formats.
"""

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import attrs

from civiccrm.errors import CivicError
from civiccrm.store.exports import case_batches, sqlite_arrow_batches

FORMATS = ("csv", "geojson", "parquet", "open311-bulk")
BATCH_SIZES = {"geojson": 5_000}
"""Rows per batch where 20,000 is too many: GeoJSON turns each row into Python objects, and with the batch being
written, the one read ahead and their ISO-time copies, 20,000 rows took a 3.5M-case export to a 328 MB peak
(280 MB at 5,000, same rate; the other formats stay in Arrow and peak under 300 MB at 20,000)."""


@attrs.frozen
class Column:
    """One column of an export: its name, type (string, timestamp, number, boolean) and meaning."""

    name: str
    source: str
    type: str
    description: str


#: The Socrata-style flat columns (CSV, GeoJSON properties, Parquet).
COLUMNS = (
    Column("case_id", "tracking_number", "string", "Public tracking number of the case."),
    Column("service_code", "service_code", "string", "Code of the service type in the city's taxonomy."),
    Column("service_name", "request_type", "string", "Name of the service type."),
    Column("category", "category", "string", "Category of the service type."),
    Column("department", "department", "string", "Code of the department that owns the case."),
    Column("work_group", "work_group", "string", "Code of the department's work group that owns the case."),
    Column("channel", "channel", "string", "How the request came in (phone, web, app, email, ...)."),
    Column("status", "status", "string", "Status: new, open, in_progress, on_hold, waiting, closed or reopened."),
    Column("resolution", "resolution", "string", "Why a closed case was closed (fixed, duplicate, not_city, "
                                                  "no_action, referred, cancelled)."),
    Column("opened_at", "opened_at", "timestamp", "When the case was opened (UTC, ISO 8601)."),
    Column("due_at", "due_at", "timestamp", "When the case is due under the city's time-frame for its type (UTC)."),
    Column("closed_at", "closed_at", "timestamp", "When the case was closed (UTC); blank while open."),
    Column("updated_at", "updated_at", "timestamp", "When the case last changed (UTC)."),
    Column("days_to_close", "days_to_close", "number", "Days from opening to closing (fractional)."),
    Column("on_time", "on_time", "boolean", "Closed by its due time (CivicCRM's verdict)."),
    Column("city_exceeded_timeframe", "city_exceeded_timeframe", "boolean",
           "The city's own verdict from its previous system: true when the case exceeded its time-frame."),
    Column("city_days_to_close", "city_days_to_close", "number", "Days to close as the previous system counted them."),
    Column("address", "address", "string", "Street address of the problem (not of the person who asked)."),
    Column("zip_code", "zip_code", "string", "ZIP code of the problem."),
    Column("council_district", "council_district", "string", "Council district of the problem."),
    Column("neighborhood", "neighborhood", "string", "Neighbourhood of the problem."),
    Column("latitude", "latitude", "number", "WGS84 latitude of the problem."),
    Column("longitude", "longitude", "number", "WGS84 longitude of the problem."),
    Column("duplicate_of", "duplicate_of", "string", "Tracking number of the case this one duplicates."),
    Column("source", "origin", "string", "Where the record came from: intake, or import:<system> for history."),
)
DESCRIPTION = Column("description", "description", "string",
                     "What the requester wrote (published because the city's profile says descriptions are public).")

#: Open311 GeoReport bulk (draft): GeoReport v2 request fields plus the bulk proposal's additions.
OPEN311_COLUMNS = (
    Column("service_request_id", "tracking_number", "string", "GeoReport service_request_id (tracking number)."),
    Column("requested_datetime", "opened_at", "timestamp", "When the request was made (ISO 8601 with offset)."),
    Column("updated_datetime", "updated_at", "timestamp", "When the request last changed."),
    Column("expected_datetime", "due_at", "timestamp", "When the request is expected to be fulfilled (its due time)."),
    Column("closed_datetime", "closed_at", "timestamp", "When the request was closed (bulk draft addition)."),
    Column("status", "status", "string", "GeoReport status: open or closed."),
    Column("status_notes", "resolution", "string", "Why a closed request was closed (CivicCRM resolution code)."),
    Column("service_name", "request_type", "string", "Name of the service type."),
    Column("service_code", "service_code", "string", "GeoReport service_code."),
    Column("service_subtype", "category", "string", "Category of the service type (bulk draft addition)."),
    Column("agency_responsible", "department", "string", "Department responsible."),
    Column("address", "address", "string", "Address of the problem."),
    Column("zipcode", "zip_code", "string", "ZIP code of the problem."),
    Column("lat", "latitude", "number", "WGS84 latitude."),
    Column("long", "longitude", "number", "WGS84 longitude."),
    Column("source", "channel", "string", "How the request came in (bulk draft addition)."),
)
OPEN311_DESCRIPTION = Column("description", "description", "string", "What the requester wrote (public in this city).")


def descriptions_public(profile) -> bool:
    """True when the profile's ``[open_data] public_descriptions`` says free text may be published."""
    return bool((profile.settings.get("open_data") or {}).get("public_descriptions", False))


def columns_for(fmt: str, profile) -> tuple[Column, ...]:
    public = descriptions_public(profile)
    if fmt == "open311-bulk":
        return OPEN311_COLUMNS + ((OPEN311_DESCRIPTION,) if public else ())
    return COLUMNS + ((DESCRIPTION,) if public else ())


@attrs.define
class ExportSummary:
    cases: int = 0
    file: str = ""
    dictionary: str = ""
    format: str = ""


def _arrow():
    import pyarrow as pa

    return pa


def _arrow_type(column: Column):
    pa = _arrow()
    return {"string": pa.string(), "timestamp": pa.timestamp("us", tz="UTC"), "number": pa.float64(),
            "boolean": pa.bool_()}[column.type]


def _schema(columns):
    pa = _arrow()
    return pa.schema([pa.field(c.name, _arrow_type(c)) for c in columns])


class _Batches:
    """Rows from the store -> Arrow record batches of the export's columns."""

    def __init__(self, columns: Sequence[Column], sqlite: bool):
        self.columns = columns
        self.schema = _schema(columns)
        self.sqlite = sqlite
        self.sources = [c.source for c in columns]

    def convert(self, rows: list) -> object:
        import pyarrow as pa

        arrays = []
        for column, values in zip(self.columns, zip(*rows), strict=True):
            kind = _arrow_type(column)
            if self.sqlite and column.type == "timestamp":  # stored UTC text
                arr = pa.array(values, type=pa.string()).cast(pa.timestamp("us")).cast(kind)
            elif self.sqlite and column.type == "boolean":  # stored 0/1
                arr = pa.array(values, type=pa.int8()).cast(kind)
            else:
                arr = pa.array(values, type=kind)
            arrays.append(arr)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def from_arrow(self, batch) -> object:
        """A batch read as Arrow from SQLite (times as UTC text, flags 0/1) -> the export's types."""
        import pyarrow as pa

        arrays = []
        for column, arr in zip(self.columns, batch.columns, strict=True):
            kind = _arrow_type(column)
            if column.type == "timestamp":
                arr = arr.cast(pa.string()).cast(pa.timestamp("us")).cast(kind)
            elif arr.type != kind:
                arr = arr.cast(kind)
            arrays.append(arr)
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def _read_ahead(batches: Iterator, depth: int = 2) -> Iterator:
    """``batches``, made by a thread of their own while the caller writes the ones before: reading SQLite
    into Arrow and writing the file both run outside the GIL, so on two cores they overlap. An error
    of the reader is raised here; leaving early stops the reader and closes ``batches`` in its thread."""
    import queue
    import threading

    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(end)
        except BaseException as exc:  # handed to the writer's thread, raised there
            put(exc)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=read, name="export-reader", daemon=True)
    reader.start()
    try:
        while (item := slots.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _open311_status(batch):
    """GeoReport status is open or closed only."""
    import pyarrow as pa
    import pyarrow.compute as pc

    index = batch.schema.get_field_index("status")
    status = pc.if_else(pc.equal(batch.column(index), "closed"), "closed", "open")
    return batch.set_column(index, "status", status.cast(pa.string()))


def _iso(array, tz: str | None = None):
    """Timestamps as ISO 8601 text: UTC with Z, or the city's local time with its offset (-05:00)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    seconds = array.cast(pa.timestamp("s", tz="UTC"), safe=False)  # whole seconds, as the formats write them
    if tz is None:
        # The naive UTC wall time cast to text ("2024-03-04 15:00:00") is five times quicker than strftime.
        text = pc.replace_substring(seconds.cast(pa.timestamp("s")).cast(pa.string()), " ", "T")
        return pc.binary_join_element_wise(text, pa.scalar("Z"), pa.scalar(""))
    # The local wall time (local_timestamp) as text, and its offset from UTC written once per distinct
    # offset (a city has two): five times quicker than strftime with %z.
    wall = pc.local_timestamp(seconds.cast(pa.timestamp("s", tz=tz)))
    offsets = pc.subtract(wall.cast(pa.int64()), seconds.cast(pa.int64()))
    distinct = [o for o in pc.unique(offsets).to_pylist() if o is not None]
    written = pa.array([f"{'-' if o < 0 else '+'}{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}" for o in distinct],
                       type=pa.string())
    suffix = pc.take(written, pc.index_in(offsets, value_set=pa.array(distinct, type=pa.int64())))
    text = pc.replace_substring(wall.cast(pa.string()), " ", "T")
    return pc.binary_join_element_wise(text, suffix, pa.scalar(""))


class _CsvWriter:
    def __init__(self, path: Path, schema, *, local_tz: str | None = None):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self.local_tz = local_tz
        self.text_schema = pa.schema([pa.field(f.name, pa.string() if pa.types.is_timestamp(f.type) else f.type)
                                      for f in schema])
        self.writer = pacsv.CSVWriter(str(path), self.text_schema,
                                      write_options=pacsv.WriteOptions(quoting_style="needed"))

    def write(self, batch) -> None:
        import pyarrow as pa

        arrays = []
        for field, array in zip(batch.schema, batch.columns, strict=True):
            if pa.types.is_timestamp(field.type):
                array = _iso(array, self.local_tz)
            arrays.append(array)
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.text_schema))

    def close(self) -> None:
        self.writer.close()


class _ParquetWriter:
    def __init__(self, path: Path, schema):
        import pyarrow.parquet as pq

        self.writer = pq.ParquetWriter(str(path), schema, compression="zstd")

    def write(self, batch) -> None:
        self.writer.write_batch(batch)

    def close(self) -> None:
        self.writer.close()


class _GeoJsonWriter:
    """RFC 7946: a FeatureCollection of Point features (WGS84 longitude, latitude); no point: null geometry."""

    SLICE = 2_000

    def __init__(self, path: Path, schema):
        self.handle = open(path, "w", encoding="utf-8", newline="\n")
        self.handle.write('{"type": "FeatureCollection", "features": [\n')
        self.first = True

    def write(self, batch) -> None:
        import pyarrow as pa

        arrays = [_iso(array) if pa.types.is_timestamp(field.type) else array
                  for field, array in zip(batch.schema, batch.columns, strict=True)]
        batch = pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
        for offset in range(0, batch.num_rows, self.SLICE):  # Python objects for a slice at a time
            self._features(batch.slice(offset, self.SLICE).to_pylist())

    def _features(self, rows: list[dict]) -> None:
        features = [{"type": "Feature",
                     "geometry": None if row["latitude"] is None else
                     {"type": "Point", "coordinates": [row["longitude"], row["latitude"]]},
                     "properties": row} for row in rows]
        if features:
            encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode  # one feature to a line
            self.handle.write(("" if self.first else ",\n") + ",\n".join(map(encode, features)))
            self.first = False

    def close(self) -> None:
        self.handle.write("\n]}\n")
        self.handle.close()


def dictionary_path(out: Path) -> Path:
    return out.with_name(out.name + ".dictionary.csv")


def write_dictionary(path: Path, columns: Sequence[Column], fmt: str) -> None:
    """The data dictionary beside an export: one row per column (name, type, description)."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["column", "type", "description"])
        for c in columns:
            kind = c.type
            if c.type == "timestamp":
                kind = "timestamp (ISO 8601 with offset)" if fmt == "open311-bulk" else "timestamp (UTC)"
            writer.writerow([c.name, kind, c.description])


def _service_codes(profile, types: Sequence[str]) -> list[str] | None:
    if not types:
        return None
    return [profile.service_type(t).code for t in types]


def export_cases(deployment, *, fmt: str, out: Path | str, start: datetime | None = None, end: datetime | None = None,
                 types: Sequence[str] = (), batch_size: int | None = None,
                 progress: Callable[[int], None] | None = None) -> ExportSummary:
    """Write the cases opened in [start, end) of ``types`` (codes or names) to ``out`` in ``fmt``, and the
    data dictionary beside it. ``batch_size``: rows read at a time (default per format, BATCH_SIZES)."""
    if fmt not in FORMATS:
        raise CivicError(f"--format: {fmt!r}; expected one of {', '.join(FORMATS)}")
    if batch_size is None:
        batch_size = BATCH_SIZES.get(fmt, 20_000)
    if batch_size < 1:
        raise CivicError(f"batch size must be at least 1, got {batch_size}")
    profile = deployment.profile
    codes = _service_codes(profile, types)
    columns = columns_for(fmt, profile)
    out = Path(out)
    if not out.parent.is_dir():
        raise CivicError(f"--out: folder {out.parent} does not exist")
    part = out.with_name(out.name + ".part")
    summary = ExportSummary(file=str(out), dictionary=str(dictionary_path(out)), format=fmt)
    with deployment.engine.connect() as conn:
        batches = _Batches(columns, conn.dialect.name == "sqlite")
        schema = batches.schema
        if fmt == "csv":
            writer = _CsvWriter(part, schema)
        elif fmt == "open311-bulk":
            writer = _CsvWriter(part, schema, local_tz=profile.timezone)
        elif fmt == "parquet":
            writer = _ParquetWriter(part, schema)
        else:
            writer = _GeoJsonWriter(part, schema)
        try:
            query = dict(connection=conn, columns=batches.sources, start=start, end=end, service_codes=codes,
                         batch_size=batch_size)
            arrow = sqlite_arrow_batches(**query) if batches.sqlite else None
            if arrow is not None:  # SQLite read straight into Arrow (ADBC), a batch ahead of the writer
                source = _read_ahead(batches.from_arrow(b) for b in arrow)
            else:
                source = (batches.convert(rows) for rows in case_batches(**query))
            for batch in source:
                if fmt == "open311-bulk":
                    batch = _open311_status(batch)
                writer.write(batch)
                summary.cases += batch.num_rows
                if progress is not None:
                    progress(batch.num_rows)
            writer.close()
        except BaseException:
            writer.close()
            part.unlink(missing_ok=True)
            raise
    part.replace(out)  # the file appears whole or not at all
    write_dictionary(dictionary_path(out), columns, fmt)
    return summary
