"""Read one of a city profile's CSV files: checked header, stripped values, line numbers."""

import csv
import io
from pathlib import Path

from civiccrm.domain.text import decode_text
from civiccrm.errors import CivicError


def open_csv(path: Path) -> io.StringIO:
    """A CSV's text for csv.reader, read as the case import reads files (``domain.text.decode_text``:
    UTF-8, else Windows-1252); CivicError naming the file (and line) if it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CivicError(f"{path}: cannot read ({exc.strerror})") from None
    return io.StringIO(decode_text(data, where=str(path)), newline="")


def read_profile_csv(path: Path, required, optional=()) -> list[tuple[int, dict]]:
    """(line, row) for each record; a missing or unknown column, or a row with more fields
    than the header, is refused with the file and line."""
    required, optional = tuple(required), tuple(optional)
    with open_csv(path) as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise CivicError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
        unknown = [c for c in header if c not in required and c not in optional]
        if unknown:
            raise CivicError(f"{path}: line 1: unknown column(s) {', '.join(unknown)}; expected "
                             f"{', '.join(required + optional)}")
        rows = []
        for row in reader:
            if None in row:
                raise CivicError(f"{path}: line {reader.line_num}: {len(header) + len(row[None])} fields for "
                                 f"{len(header)} columns (quote a field that holds a comma)")
            rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()}))
        return rows
