"""The floor both import benchmarks compare with: an export's rows parsed by the same mapping
reader the import uses, inserted into the same ``cases`` table with plain ``sqlite3``
``executemany``, one transaction per batch, with the project's pragmas (WAL,
``synchronous=FULL``). No history, no due times, no look-up of cases already stored, no
mapping of names to codes, no duplicate pass, no SQLAlchemy and no profile loader.
Used by bench/import.py and bench/export.py.
"""

import sqlite3
import tomllib
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KC_FOLDER = ROOT / "cities" / "kansas_city"

COLUMNS = ("tracking_number", "service_code", "request_type", "category", "department", "work_group",
           "channel", "description", "address", "latitude", "longitude", "zip_code", "council_district",
           "neighborhood", "status", "resolution", "opened_at", "updated_at", "closed_at",
           "city_exceeded_timeframe", "city_days_to_close", "origin", "external_id")


def _stamp(value):  # stored as SQLAlchemy stores a UTC DateTime on SQLite
    return None if value is None else value.astimezone(timezone.utc).replace(tzinfo=None).isoformat(" ")


def insert_parsed(db, files, *, batch_size: int, folder: Path = KC_FOLDER, mapping: str = "kcmo") -> dict:
    """Parse ``files`` with the city's mapping and insert every good row; {rows, written, rejected}."""
    from civiccrm.domain.imports import ImportReject
    from civiccrm.domain.mapping import RowReader
    from civiccrm.errors import CivicError
    from civiccrm.services.csv_import import ExportFiles, load_mapping

    city = tomllib.loads((folder / "profile.toml").read_text(encoding="utf-8"))["city"]
    found = load_mapping(str(folder / "mappings" / f"{mapping}.toml"), channels=city["channels"])
    reader = RowReader(found, timezone_name=city["timezone"], channels=city["channels"])
    origin = f"import:{found.origin}"
    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    sql = f"INSERT INTO cases ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    now = datetime.now(timezone.utc).replace(tzinfo=None).isoformat(" ")
    rows = rejected = written = 0
    batch = []

    def flush():
        conn.execute("BEGIN")
        conn.executemany(sql, batch)
        conn.execute("COMMIT")
        batch.clear()

    for item in ExportFiles(found, reader, [str(f) for f in files]).rows():
        if isinstance(item, ImportReject):
            rows += item.line is not None
            rejected += item.line is not None
            continue
        rows += 1
        _, file, line, fields = item
        try:
            record = reader.record(fields, file, line)
        except CivicError:
            rejected += 1
            continue
        loc = record.location
        batch.append((
            record.tracking_number, record.service_code or record.request_type, record.request_type, record.category,
            record.department, record.work_group, record.channel, record.description, loc.address, loc.latitude,
            loc.longitude, loc.zip_code, loc.council_district, loc.neighborhood, record.status.value,
            record.resolution.value if record.resolution else None, _stamp(record.opened_at), now,
            _stamp(record.closed_at), record.city_exceeded_timeframe, record.city_days_to_close, origin,
            record.external_id,
        ))
        if len(batch) >= batch_size:
            written += len(batch)
            flush()
    if batch:
        written += len(batch)
        flush()
    conn.close()
    return {"rows": rows, "written": written, "rejected": rejected}
