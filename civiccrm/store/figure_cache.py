"""Figures of past periods kept in the analytics copy, dropped for exactly the periods a sync changed.

Most of a monthly pack is about months that no longer change: the year before, the 25 months
of the trend, the last fiscal year. The analytics engine keeps each such figure (the query rows
behind it, as the engine computed them) in ``figures.json`` beside the Parquet copy, keyed by
what it was computed for, with its *scope*: which cases could change it, as up to three
clauses on a case's own columns

- opened in [opened_lo, opened_hi),
- closed in [closed_lo, closed_hi),
- in the backlog at ``backlog_at`` (opened before it, and not closed or closed at or after it),

exactly the ``WHERE`` of the statements that compute the figure. A case outside every clause,
before and after a change, adds nothing to the figure either time, so a sync drops an entry
only when one of the cases it copied matches the scope in its new row or in the row the copy
held before (a case reopened, closed or retyped in an old month drops that month; a new case
its own month) and keeps every other entry. A change to the departments or work groups (the
names some figures carry) drops them all.

Every entry is the exact rows the statements returned (JSON keeps integers and floats to the
last digit), so a figure read from here is the one a fresh query gives; tests/test_analytics.py
compares both with the SQL path. Entries are written only for the copy's data version they
were computed on (``version``, bumped by every sync that copied something), under a lock shared
with ``sync``, so a connection opened before a sync never writes a figure of the old data back.
"""

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Linux
    fcntl = None

FILE, LOCK = "figures.json", "figures.lock"
SCOPE_FIELDS = ("opened_lo", "opened_hi", "closed_lo", "closed_hi", "backlog_at")
CHANGED_SQL_COLUMNS = "opened_at, closed_at, status"
"""The case columns a scope reads, of the rows a sync compares (old and new)."""


def scope(*, opened: tuple[datetime, datetime] | None = None, closed: tuple[datetime, datetime] | None = None,
          backlog_at: datetime | None = None) -> dict:
    """A scope (see the module's docstring) as JSON-ready ISO instants."""
    values = dict(zip(SCOPE_FIELDS, (*(opened or (None, None)), *(closed or (None, None)), backlog_at)))
    for name, value in values.items():
        if value is not None and value.utcoffset() is None:
            raise ValueError(f"scope {name}: a timezone-aware instant is needed, not {value!r}")
    return {name: None if value is None else value.isoformat() for name, value in values.items()}


def instant_key(instant: datetime) -> str:
    """An instant as UTC ISO text, the same whatever zone it was given in (for cache keys)."""
    return instant.astimezone(timezone.utc).isoformat()


def _json_ready(value):
    """``value`` unchanged when JSON gives it back equal (ints, floats, text, flags, None, lists, dicts)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    raise TypeError(f"figure cache: {type(value).__name__} {value!r} would not come back from JSON as it is")


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on the copy's folder (``figures.lock``) between processes: sync and cache writes."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK, "a+") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_file(folder: Path) -> dict:
    """The cache file's content; an empty cache when there is none or it cannot be read (it is only a cache:
    every figure can be computed again)."""
    path = Path(folder) / FILE
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"version": None, "entries": {}}
    if not isinstance(content, dict) or not isinstance(content.get("entries"), dict):
        return {"version": None, "entries": {}}
    return content


def write_file(folder: Path, content: dict) -> None:
    path = Path(folder) / FILE
    temporary = path.with_name(f"{FILE}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(content, sort_keys=True), encoding="utf-8")
    temporary.replace(path)


class FigureCache:
    """The cached figures of one analytics copy at one data version, as a connection sees them.

    ``get_or_compute`` answers from the file's entries (read when the connection opened) or
    computes and remembers; ``save`` writes what was computed, if the copy is still at the
    version it was computed on."""

    def __init__(self, folder: Path, version: int):
        self.folder = Path(folder)
        self.version = version
        content = read_file(self.folder)
        self.entries: dict = content["entries"] if content.get("version") == version else {}
        self.new: dict = {}
        self.hits = self.misses = 0

    def get_or_compute(self, key: str, entry_scope: dict, compute: Callable[[], object], *, keep: bool = True):
        """The value stored under ``key``, else ``compute()`` (JSON-ready rows), remembered when ``keep``."""
        if key in self.entries:
            self.hits += 1
            return self.entries[key]["value"]
        self.misses += 1
        value = _json_ready(compute())
        if keep:
            entry = {"scope": entry_scope, "value": value}
            self.entries[key] = self.new[key] = entry
            # What was computed comes back as JSON would give it (lists for tuples), cached or not.
            value = json.loads(json.dumps(value))
        return value

    def forget(self, duck, changed_sql: str) -> set[str]:
        """Drop the entries a sync copying the rows of ``changed_sql`` would drop (see ``stale_keys``),
        from this connection's view only; their keys."""
        stale = stale_keys(duck, self.entries, changed_sql)
        for key in stale:
            del self.entries[key]
        return stale

    def save(self) -> int:
        """Write the new entries beside the stored ones when the copy is still at this version; how many."""
        if not self.new:
            return 0
        with folder_lock(self.folder):
            content = read_file(self.folder)
            if content.get("version") is not None and content["version"] > self.version:
                self.new = {}
                return 0  # a sync since this connection opened: its figures are of older data
            if content.get("version") != self.version:
                content = {"version": self.version, "entries": {}}
            content["entries"].update(self.new)
            write_file(self.folder, content)
        written, self.new = len(self.new), {}
        return written


def stale_keys(duck, entries: dict, changed_sql: str) -> set[str]:
    """The keys of ``entries`` whose scope holds one of the rows of ``changed_sql`` (DuckDB SQL giving
    ``opened_at, closed_at, status`` of every changed case, the rows before and after the change)."""
    if not entries:
        return set()
    import pyarrow

    keys = list(entries)
    columns = {"key": pyarrow.array(keys, pyarrow.string())}
    for name in SCOPE_FIELDS:
        values = [entries[k]["scope"].get(name) for k in keys]
        columns[name] = pyarrow.array([None if v is None else datetime.fromisoformat(v) for v in values],
                                      pyarrow.timestamp("us", tz="UTC"))
    duck.register("figure_scopes", pyarrow.table(columns))
    try:
        rows = duck.execute(f"""
            SELECT DISTINCT s.key FROM figure_scopes AS s JOIN ({changed_sql}) AS c ON
                (c.opened_at >= s.opened_lo AND c.opened_at < s.opened_hi)
                OR (c.closed_at >= s.closed_lo AND c.closed_at < s.closed_hi)
                OR (c.opened_at < s.backlog_at AND (c.status <> 'closed' OR c.closed_at >= s.backlog_at))
        """).fetchall()
    finally:
        duck.unregister("figure_scopes")
    return {row[0] for row in rows}


def figure_cache(db) -> FigureCache | None:
    """The FigureCache of an analytics connection (``AnalyticsCopy.connect``), else None."""
    info = getattr(db, "info", None)
    return info.get("figure_cache") if isinstance(info, dict) else None


def cached(db, key: str, entry_scope: dict, compute: Callable[[], object], *, keep: bool = True):
    """``compute()`` through the connection's figure cache when it has one, else simply ``compute()``."""
    cache = figure_cache(db)
    if cache is None:
        return compute()
    return cache.get_or_compute(key, entry_scope, compute, keep=keep)


def cached_runs(db, keys: list[str], scopes: list[dict], compute: Callable[[int, int], list]) -> list:
    """The values under ``keys`` (one per piece of a split period: its months, ...) from the connection's figure
    cache, each missing run of consecutive pieces computed at once: ``compute(n, run)`` gives the values (JSON-ready)
    of pieces ``n`` to ``run - 1``, each then kept with its scope. Without a cache every piece is computed."""
    cache = figure_cache(db)
    if cache is None or not keys:
        return list(compute(0, len(keys))) if keys else []
    found = {n: cache.entries[key]["value"] for n, key in enumerate(keys) if key in cache.entries}
    cache.hits += len(found)
    n = 0
    while n < len(keys):
        if n in found:
            n += 1
            continue
        run = n
        while run < len(keys) and run not in found:
            run += 1
        for offset, value in enumerate(compute(n, run)):
            found[n + offset] = cache.get_or_compute(keys[n + offset], scopes[n + offset], lambda value=value: value)
        n = run
    return [found[n] for n in range(len(keys))]


__all__ = ["FigureCache", "cached", "cached_runs", "figure_cache", "folder_lock", "instant_key", "scope", "stale_keys"]
