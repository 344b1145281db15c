"""`civiccrm profile draft --from-export FILE... --mapping NAME --out DIR`: a city profile from its own history.

Reads the export through the mapping (as ``import csv`` does, without a database) and
writes a profile folder that ``civiccrm init --city DIR`` takes as it is:

* ``departments.csv``, ``work_groups.csv`` (each with the department it most often appears
  under) and ``service_types.csv`` (one row per distinct type name: its most common
  category / type / detail and department / work group, ties to the smaller value);
  codes are slugs of the names, a taken slug gets ``-2``, ``-3``, ... in name order;
* a time-frame per type by ``civiccrm.domain.timeframes`` (the city's verdicts, its due
  dates, the distribution of days to close, else its peers), the method in ``sla_source``;
* ``profile.toml`` with the channels seen, one every-day calendar, the timezone of the
  mapping (or UTC) and no boundary, both marked for the city to check;
* ``mappings/NAME.toml``, a copy of the mapping, so ``import csv`` works on the new profile;
* ``DRAFT-REPORT.md``: coverage, methods, and what a person should still check.

Re-running on the same files gives byte-identical CSVs.
"""

import csv
import shutil
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

from civiccrm.domain.imports import ImportReject, slugify
from civiccrm.domain.mapping import RowReader
from civiccrm.domain.timeframes import derive, fill_defaults, method_for
from civiccrm.errors import CivicError
from civiccrm.services.csv_import import ExportFiles, load_mapping, mapping_files

SERVICE_TYPE_FIELDS = [
    "code", "name", "category", "type", "detail", "department", "work_group",
    "sla_days", "sla_source", "cases", "cases_with_verdict",
]
#: ``sla_source`` written for each method (``data``: fitted on the city's own verdicts).
SOURCES = {"verdicts": "data", "due-dates": "due-dates", "days-to-close": "days-to-close", "default": "default"}
METHOD_TEXT = {
    "verdicts": "the threshold in days that best agrees with the city's own on-time verdicts",
    "due-dates": "the median days from opening to the city's own due date",
    "days-to-close": "a quantile of the days to close of closed cases",
}
ALL_CHANNELS = ("phone", "email", "web", "app", "social", "fax", "mail", "walk_in", "staff", "sms", "other")


def assign_codes(names) -> dict[str, str]:
    """Each name -> a unique slug; collisions get -2, -3, ... in sorted-name order."""
    names = sorted(set(names))
    plain = {slugify(n) for n in names}
    used: set[str] = set()
    codes = {}
    for name in names:
        base = code = slugify(name)
        if code in used:
            i = 2
            while f"{base}-{i}" in used or f"{base}-{i}" in plain:
                i += 1
            code = f"{base}-{i}"
        used.add(code)
        codes[name] = code
    return codes


def most_common(counter: Counter):
    """Highest count; ties broken by the smallest key."""
    return min(counter.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def _history():
    return {"triples": Counter(), "routing": Counter(), "cases": 0, "verdicts": [], "due_days": [],
            "close_days": []}


class Draft:
    """What one pass over the export found."""

    def __init__(self, mapping, reader: RowReader):
        self.mapping = mapping
        self.reader = reader
        self.departments: set[str] = set()
        self.work_groups: dict[str, Counter] = defaultdict(Counter)
        self.types: dict[str, dict] = defaultdict(_history)
        self.channels: Counter = Counter()
        self.rows = 0
        self.rejected: list[ImportReject] = []
        self.rejected_count = 0
        self.files_read = 0
        self.duplicates = 0
        self.first = self.last = None

    def add(self, fields: list[str], file: str, line: int) -> None:
        reader = self.reader
        record = reader.record(fields, file, line)
        category, typ, detail = reader.parts(fields)
        dept, wg = record.department or "", record.work_group or ""
        self.departments.add(dept)
        if wg or "work_group" in self.mapping.fields:
            self.work_groups[wg][dept] += 1
        t = self.types[record.request_type]
        t["cases"] += 1
        t["triples"][(category, typ, detail)] += 1
        t["routing"][(dept, wg)] += 1
        self.channels[record.channel] += 1
        opened = record.opened_at
        self.first = opened if self.first is None or opened < self.first else self.first
        self.last = opened if self.last is None or opened > self.last else self.last
        closed_at = record.closed_at
        days = record.city_days_to_close  # the city's own count where the export has one
        if "days_to_close" not in self.mapping.fields and closed_at is not None:
            days = (closed_at - opened).total_seconds() / 86400
        if days is not None and reader.has_closed(fields) and record.city_exceeded_timeframe is not None:
            t["verdicts"].append((opened.astimezone(reader.tz).date(), days, record.city_exceeded_timeframe))
        if days is not None and closed_at is not None:
            t["close_days"].append(days)
        due = reader.due_at(fields)
        if due is not None and due > opened:
            t["due_days"].append((due - opened).total_seconds() / 86400)


def read_export(mapping_name: str, files, *, timezone_name: str | None = None) -> Draft:
    mapping = load_mapping(mapping_name)
    tz = timezone_name or mapping.timezone or "UTC"
    reader = RowReader(mapping, timezone_name=tz, channels=ALL_CHANNELS)
    export = ExportFiles(mapping, reader, files)
    draft = Draft(mapping, reader)
    counts = {"files_read": 0}
    winners, draft.duplicates = export.winners()
    for item in export.rows(counts=counts):
        if isinstance(item, ImportReject):
            if item.whole_file:
                raise CivicError(str(item))
            draft.rejected_count += 1
            if len(draft.rejected) < 20:
                draft.rejected.append(item)
            continue
        position, file, line, fields = item
        winner = winners.get(reader.case_id(fields))
        if winner is not None and winner != position:
            continue  # an older row of a repeated id: the newest stands for the case
        draft.rows += 1
        try:
            draft.add(fields, file, line)
        except CivicError as exc:
            draft.rows -= 1
            draft.rejected_count += 1
            if len(draft.rejected) < 20:
                draft.rejected.append(ImportReject(file, line, str(exc)))
    draft.files_read = counts["files_read"]
    if not draft.types:
        raise CivicError("--from-export: no usable rows in the export; nothing to draft from")
    return draft


def build(draft: Draft):
    """(departments, work groups, service types, stats) rows from what the export held."""
    settings = draft.mapping.draft
    dept_codes = assign_codes(draft.departments)
    wg_codes = assign_codes(draft.work_groups)
    type_codes = assign_codes(draft.types)
    departments = sorted(({"code": dept_codes[n], "name": n or "(no department)"} for n in draft.departments),
                         key=lambda r: r["code"])
    work_groups = sorted(({"code": wg_codes[w], "name": w or "(no work group)",
                           "department": dept_codes[most_common(c)]}
                          for w, c in draft.work_groups.items()), key=lambda r: r["code"])
    service_types, fits = [], {}
    method = method_for(draft.types.values())
    for name, t in draft.types.items():
        cat, typ, det = most_common(t["triples"])
        dept, wg = most_common(t["routing"])
        fit = derive(t, settings, method)
        fits[name] = fit
        service_types.append({
            "code": type_codes[name], "name": name, "category": cat, "type": typ, "detail": det,
            "department": dept_codes[dept], "work_group": wg_codes.get(wg, ""), "sla_days": fit["days"],
            "sla_source": SOURCES[fit["method"]], "cases": t["cases"], "cases_with_verdict": len(t["verdicts"]),
        })
    basis = fill_defaults(service_types, settings)
    service_types.sort(key=lambda r: r["code"])
    return departments, work_groups, service_types, {"fits": fits, "basis": basis, "method": method}


def _write_csv(path: Path, fields, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({f: row[f] for f in fields})


def _profile_toml(slug: str, name: str, tz: str, channels, default_days: int, method_lines) -> str:
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    hours = "\n".join(f'hours.{d} = ["00:00-24:00"]' for d in days)
    listed = ", ".join(f'"{c}"' for c in channels)
    notes = "\n".join(f"# {line}" for line in method_lines)
    return f"""# Draft profile written by `civiccrm profile draft`; read DRAFT-REPORT.md before using it.
{notes}

[city]
slug = "{slug}"
name = "{name}"
timezone = "{tz}"   # check: the city's IANA timezone
channels = [{listed}]

[taxonomy]
departments = "departments.csv"
work_groups = "work_groups.csv"
service_types = "service_types.csv"
default_sla_days = {default_days}

# Check: the export says nothing about opening hours; every time-frame is in calendar days.
[calendars.every-day]
name = "Every day"
default = true
{hours}

# Check: add [geo] boundary = "city_limits.geojson" (and districts) once the city has them.
"""


def draft_profile(files, *, mapping: str, out: Path | str, slug: str | None = None, name: str | None = None,
                  timezone_name: str | None = None) -> dict:
    """Write a draft profile for the export's city into ``out``; returns the figures of the report."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise CivicError(f"--out: {out} is not empty; give a new folder")
    draft = read_export(mapping, files, timezone_name=timezone_name)
    departments, work_groups, service_types, stats = build(draft)
    tz = timezone_name or draft.mapping.timezone or "UTC"
    slug = slug or slugify(out.name)
    name = name or out.name.replace("-", " ").replace("_", " ").title()
    channels = [c for c in ALL_CHANNELS if c in draft.channels or c == "other"]
    figures = _figures(draft, service_types, stats)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(out / "departments.csv", ["code", "name"], departments)
    _write_csv(out / "work_groups.csv", ["code", "name", "department"], work_groups)
    _write_csv(out / "service_types.csv", SERVICE_TYPE_FIELDS, service_types)
    (out / "profile.toml").write_text(
        _profile_toml(slug, name, tz, channels, stats["basis"]["overall_days"], figures["method_lines"]),
        encoding="utf-8")
    (out / "mappings").mkdir()
    source = mapping_files(None).get(mapping) or Path(mapping)
    shutil.copyfile(source, out / "mappings" / f"{draft.mapping.name}.toml")
    (out / "DRAFT-REPORT.md").write_text(_report(draft, figures, tz, files), encoding="utf-8")
    return figures


def _figures(draft: Draft, service_types, stats) -> dict:
    by_method = Counter(st["sla_source"] for st in service_types)
    cases = sum(st["cases"] for st in service_types)
    derived_cases = sum(st["cases"] for st in service_types if st["sla_source"] != "default")
    fits = stats["fits"]
    verdict_cases = agree = 0
    sla = {st["name"]: st["sla_days"] for st in service_types}
    for type_name, t in draft.types.items():
        for _, d, y in t["verdicts"]:
            verdict_cases += 1
            agree += (d > sla[type_name]) == y
    basis = stats["basis"]
    lines = [
        f"Time-frames from {stats['method']} ({METHOD_TEXT[stats['method']]}), else the peers' median.",
        f"From {draft.rows} cases in {draft.files_read} file(s) (mapping {draft.mapping.name}); "
        f"{draft.rejected_count} row(s) could not be read, {draft.duplicates} older row(s) of repeated ids left out.",
        f"{len(service_types)} service types: " + ", ".join(f"{n} by {m}" for m, n in sorted(by_method.items())) + ".",
        f"Cases of types with a time-frame from their own history: {derived_cases} of {cases}"
        f" ({derived_cases / cases:.1%}).",
        f"Defaults: {basis['department']} by department, {basis['category']} by category, {basis['overall']} overall"
        f" ({basis['overall_days']} d).",
    ]
    if verdict_cases:
        lines.append(f"The time-frames agree with {agree / verdict_cases:.1%} of the city's own {verdict_cases} "
                     "on-time verdicts.")
    few = sorted((st for st in service_types if st["cases"] < draft.mapping.draft.min_verdicts),
                 key=lambda st: st["code"])
    defaults = sorted((st for st in service_types if st["sla_source"] == "default"),
                      key=lambda st: (-st["cases"], st["code"]))
    weak = sorted((name for name, f in fits.items() if f["method"] == "verdicts" and not any(
        y for _, _, y in draft.types[name]["verdicts"])))
    return {"method_lines": lines, "types": len(service_types), "by_method": dict(by_method), "cases": cases,
            "rows": draft.rows, "rejected": draft.rejected_count, "few": few, "defaults": defaults, "weak": weak,
            "departments": len(draft.departments), "work_groups": len(draft.work_groups),
            "channels": dict(draft.channels), "first": draft.first, "last": draft.last}


def _report(draft: Draft, figures: dict, tz: str, files) -> str:
    written = datetime.now(timezone.utc).date().isoformat()
    lines = [
        "# Draft profile: what to check", "",
        f"Written by `civiccrm profile draft` on {written} from {len(list(files))} file(s) with the mapping "
        f"`{draft.mapping.name}`.", "",
        *[f"- {line}" for line in figures["method_lines"]],
        f"- Cases opened {figures['first']:%Y-%m-%d} to {figures['last']:%Y-%m-%d}; "
        f"{figures['departments']} departments, {figures['work_groups']} work groups.", "",
        "## Check before use", "",
        f"1. **Timezone**: `{tz}` in profile.toml " + ("came from the mapping." if draft.mapping.timezone else
                                                       "is a placeholder: set the city's IANA timezone."),
        "2. **Boundary and districts**: none; add `[geo]` with the city's GeoJSON (the import then drops points "
        "outside it).",
        "3. **Calendar**: one every-day calendar in calendar days; add the city's opening hours and holidays if "
        "time-frames are in business days.",
        "4. **Names and codes**: departments and work groups are named as the export spells them; codes are slugs.",
        f"5. **Channels**: {', '.join(f'{c} ({n})' for c, n in sorted(figures['channels'].items()))}.",
        "6. **Time-frames without history of their own** (`sla_source = default`, most cases first):",
    ]
    lines += [f"   - `{st['code']}` {st['name']}: {st['sla_days']} d ({st['cases']} cases)"
              for st in figures["defaults"][:25]]
    if len(figures["defaults"]) > 25:
        lines.append(f"   - ... and {len(figures['defaults']) - 25} more")
    if figures["weak"]:
        lines.append(f"7. **Lower bounds**: {len(figures['weak'])} type(s) fitted on verdicts that were all on time "
                     "(the real time-frame may be shorter): " + ", ".join(figures["weak"][:15]))
    if draft.rejected:
        lines += ["", "## Rows that could not be read (first 20)", ""]
        lines += [f"- {r}" for r in draft.rejected]
    return "\n".join(lines) + "\n"
