"""`civiccrm import csv FILE... --mapping NAME`: any city's CSV export, read through a mapping.

Finds the mapping (the city profile's ``mappings/NAME.toml``, then the mappings shipped
with CivicCRM, or a path to a TOML file), streams every file with ``csv.reader`` and the
mapping's ``RowReader``, and hands the records to ``civiccrm.services.imports.import_cases``
(batches, idempotent by the export's id, a case and its history in one transaction).

Duplicate ids: a first pass reads only the id column (and the columns that say which
row is newest) of every file; where an id appears more than once with different content,
the newest row is imported and the others are skipped and counted (``duplicates``); a row
repeated exactly is read again and found unchanged. Re-importing the same files therefore
finds every case unchanged.
"""

import csv
import tomllib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import attrs

from civiccrm.domain.imports import ImportRecord, ImportReject, ImportSummary
from civiccrm.domain.mapping import Mapping, RowReader, intlike
from civiccrm.domain.text import WINDOWS_1252_FALLBACK
from civiccrm.errors import CivicError

BUILTIN_MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"
"""Mappings shipped with CivicCRM (written from the cities' published column lists)."""

PROGRESS_EVERY = 256
"""Rows between two progress reports (bytes read so far)."""

def mapping_files(profile_folder: Path | None) -> dict[str, Path]:
    """Mapping name -> file: the shipped ones, then those of the installed city profiles'
    ``mappings/`` folders, overridden by ``profile_folder``'s own."""
    from civiccrm import plugins

    found = {p.stem: p for p in sorted(BUILTIN_MAPPINGS.glob("*.toml"))}
    for folder in plugins.city_folders().values():
        found.update({p.stem: p for p in sorted((Path(folder) / "mappings").glob("*.toml"))})
    if profile_folder is not None:
        found.update({p.stem: p for p in sorted((Path(profile_folder) / "mappings").glob("*.toml"))})
    return found


def load_mapping(name: str, *, profile_folder: Path | None = None, channels=None) -> Mapping:
    """The mapping called ``name`` (or the TOML file at that path), checked."""
    path = Path(name).expanduser()
    if not (name.endswith(".toml") and path.is_file()):
        known = mapping_files(profile_folder)
        if name not in known:
            raise CivicError(f"--mapping: no mapping {name!r}; known: {', '.join(sorted(known)) or 'none'}, "
                             "or give the path of a .toml file")
        path = known[name]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CivicError(f"{path}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CivicError(f"{path}: not valid TOML: {exc}") from None
    return Mapping.from_toml(data, source=str(path), channels=channels)


def profile_bounds(profile, margin: float):
    """(west, south, east, north) around the profile's boundary, widened by ``margin`` degrees."""
    boundary = profile.city_map.boundary
    if boundary is None:
        return None
    west, south, east, north = boundary.bounds
    return (west - margin, south - margin, east + margin, north + margin)


class ExportFiles:
    """The files of one export, read with one mapping: rows in order, with file and line."""

    def __init__(self, mapping: Mapping, reader: RowReader, paths: Iterable):
        self.mapping = mapping
        self.reader = reader
        self.paths = [Path(p) for p in paths]

    def _open(self, path: Path):
        encoding = self.mapping.encoding
        if encoding.replace("-", "").lower() == "utf8":
            encoding = "utf-8-sig"
        return open(path, newline="", encoding=encoding, errors=WINDOWS_1252_FALLBACK)

    def rows(self, *, progress: Callable[[int], None] | None = None,
             counts: dict | None = None) -> Iterator[tuple[int, str, int, list[str]] | ImportReject]:
        """(position, file, line, fields) per data row, or an ImportReject; ``bind`` is called per file."""
        for file_no, path in enumerate(self.paths):
            file = str(path)
            try:
                handle = self._open(path)
            except OSError as exc:
                yield ImportReject(file, None, f"cannot read: {exc.strerror}")
                continue
            except LookupError:
                raise CivicError(f"mapping {self.mapping.name}: encoding {self.mapping.encoding!r} "
                                 "is unknown") from None
            with handle:
                raw = handle.buffer
                reader = csv.reader(handle, delimiter=self.mapping.delimiter)
                try:
                    if self.mapping.header:
                        header = next(reader, None)
                        if not header:
                            yield ImportReject(file, None, "empty file: no header line")
                            continue
                    else:
                        header = list(self.mapping.columns)
                    self.reader.bind(header)
                except csv.Error as exc:
                    yield ImportReject(file, None, f"unreadable header: {exc}")
                    continue
                except CivicError as exc:
                    yield ImportReject(file, None, str(exc))
                    continue
                if counts is not None:
                    counts["files_read"] = counts.get("files_read", 0) + 1
                width = self.reader.width
                reported = rows = 0
                base = file_no << 40
                while True:
                    line = reader.line_num + 1
                    try:
                        fields = next(reader)
                    except StopIteration:
                        break
                    except csv.Error as exc:
                        yield ImportReject(file, line, f"unreadable CSV: {exc}")
                        continue
                    if not fields or fields == [""]:
                        continue  # a blank line
                    rows += 1
                    if len(fields) != width:
                        yield ImportReject(file, line, f"{len(fields)} fields; the header has {width}")
                    else:
                        yield base + rows, file, line, fields
                    if progress is not None and rows % PROGRESS_EVERY == 0:
                        position = raw.tell()
                        progress(position - reported)
                        reported = position
                if progress is not None:
                    progress(raw.tell() - reported)

    def _repeated(self) -> dict[str, list[int]]:
        """id -> positions of its rows, for the ids seen more than once (a pass over the ids only)."""
        first: dict[str, int] = {}
        repeated: dict[str, list[int]] = {}
        for item in self.rows():
            if isinstance(item, ImportReject):
                continue
            position, _, _, fields = item
            case_id = self.reader.case_id(fields)
            if not case_id:
                continue
            case_id = intlike(case_id)
            seen = first.setdefault(case_id, position)
            if seen != position:
                repeated.setdefault(case_id, [seen]).append(position)
        return repeated

    def _newest(self, repeated: dict[str, list[int]]) -> tuple[dict[str, int], dict[int, tuple]]:
        """(id -> position of its newest row, position -> the fields of every repeated row)."""
        wanted = {p for positions in repeated.values() for p in positions}
        keys, contents = {}, {}
        for item in self.rows():
            if not isinstance(item, ImportReject) and item[0] in wanted:
                keys[item[0]] = self.reader.newest_key(item[3])
                contents[item[0]] = tuple(item[3])
        winners = {case_id: max(positions, key=lambda p: (keys.get(p, (float("-inf"),)), p))
                   for case_id, positions in repeated.items()}
        return winners, contents

    def winners(self) -> tuple[dict, int]:
        """(id -> position of the row to import, for ids seen more than once; rows skipped as older)."""
        repeated = self._repeated()
        if not repeated:
            return {}, 0
        winners, _ = self._newest(repeated)
        return winners, sum(len(p) - 1 for p in repeated.values())

    def older_rows(self) -> frozenset[int]:
        """Positions of the rows an import skips: those of a repeated id that differ from its newest row.

        A row repeated exactly (the same file given twice, an export that lists a case twice)
        is not skipped: it is read again and found unchanged.
        """
        repeated = self._repeated()
        if not repeated:
            return frozenset()
        winners, contents = self._newest(repeated)
        return frozenset(p for case_id, positions in repeated.items() for p in positions
                         if contents.get(p) != contents.get(winners[case_id]))


class TaxonomyPolicy:
    """The mapping's ``[unknown]`` policies for a type, department or work group the profile lacks.

    ``add`` (the default) leaves the record alone: the import keeps the source's name under a
    new code and counts it (``unknown service type`` and so on); ``reject`` refuses the row;
    ``default`` puts the named known value in its place.
    """

    def __init__(self, mapping: Mapping, taxonomy):
        self.mapping = mapping
        self.taxonomy = taxonomy
        self._known: dict[tuple[str, str], bool] = {}
        self.rules = {k: mapping.unknown[k] for k in ("type", "department", "work_group")
                      if mapping.unknown[k].policy != "add"}
        for key, rule in self.rules.items():
            if rule.policy == "default" and not self._is_known(key, str(rule.value)):
                raise CivicError(f"mapping {mapping.name}: [unknown] {key} default {rule.value!r} is not in the "
                                 "city's taxonomy")

    def _is_known(self, key: str, text: str) -> bool:
        found = self._known.get((key, text))
        if found is None:
            tax = self.taxonomy
            if key == "type":
                found = tax.find_service_type(text) is not None
            elif key == "department":
                found = tax.find_department(text) is not None
            else:
                folded = text.casefold()
                found = any(w.code.casefold() == folded or w.name.strip().casefold() == folded
                            for w in tax.work_groups.values())
            self._known[(key, text)] = found
        return found

    def apply(self, record: ImportRecord) -> ImportRecord:
        """The record with defaults put in; CivicError for a value the mapping rejects."""
        changes = {}
        for key, rule in self.rules.items():
            attr = "request_type" if key == "type" else key
            text = getattr(record, attr)
            if key == "type" and record.service_code and self._is_known(key, record.service_code):
                continue
            if not text or self._is_known(key, text):
                continue
            if rule.policy == "reject":
                column = self.mapping.fields.get("name") or self.mapping.fields.get(key) or (key,)
                raise CivicError(f"{column[0]} {text!r} is not a {key.replace('_', ' ')} of the city's taxonomy")
            changes[attr] = str(rule.value)
            if key == "type":
                changes["service_code"] = None
        return attrs.evolve(record, **changes) if changes else record


def read_records(export: ExportFiles, *, taxonomy=None, progress=None, counts=None,
                 on_duplicate: Callable[[str, str, int], None] | None = None) -> Iterator[ImportRecord | ImportReject]:
    """Records of every file, the older rows of a repeated id left out (``on_duplicate`` hears of each)."""
    older = export.older_rows()
    reader = export.reader
    policy = TaxonomyPolicy(export.mapping, taxonomy) if taxonomy is not None else None
    for item in export.rows(progress=progress, counts=counts):
        if isinstance(item, ImportReject):
            yield item
            continue
        position, file, line, fields = item
        if position in older:
            if on_duplicate is not None:
                on_duplicate(reader.case_id(fields), file, line)
            continue
        try:
            record = reader.record(fields, file, line)
            if policy is not None:
                record = policy.apply(record)
        except CivicError as exc:
            yield ImportReject(file, line, str(exc))
            continue
        yield record


def run(deployment, files, *, mapping: str, batch_size: int = 1000, actor: str = "import",
        on_error: Callable[[ImportReject], None] | None = None,
        progress: Callable[[int], None] | None = None) -> ImportSummary:
    """Import export files through a mapping; ``progress`` gets the bytes read since its last call."""
    from civiccrm.services.imports import import_cases

    profile = deployment.profile
    found = load_mapping(mapping, profile_folder=profile.path, channels=profile.channels)
    reader = RowReader(found, timezone_name=profile.timezone, channels=profile.channels,
                       bounds=profile_bounds(profile, found.margin))
    export = ExportFiles(found, reader, files)
    counts: dict = {"files_read": 0}
    duplicates = 0

    def skipped(case_id, file, line):
        nonlocal duplicates
        duplicates += 1

    records = read_records(export, taxonomy=profile.taxonomy, progress=progress, counts=counts,
                           on_duplicate=skipped)
    summary = import_cases(deployment, records,
                           origin=f"import:{found.origin}", batch_size=batch_size, actor=actor, on_error=on_error)
    summary.files_read = counts["files_read"]
    summary.read += duplicates
    summary.duplicates = duplicates
    return summary
