"""Build the Kansas City profile's departments, work groups and service types (with time-frames) from the KC 311 CSVs.

Method:

* Read every ``*.csv`` in the data directory (sorted by file name) with the
  stdlib ``csv`` module. Rows with an empty ``REQUEST TYPE`` are skipped and
  counted.
* ``departments.csv``: one row per distinct ``DEPARTMENT``; ``work_groups.csv``:
  one row per distinct ``WORK GROUP`` (name kept exactly, trailing ``-``
  included) with the department it most often appears under;
  ``service_types.csv``: one row per distinct ``REQUEST TYPE``.
* Codes are slugs, made by the importer's own ``civiccrm.domain.imports.slugify``
  (NFKD to ASCII, lowercase, runs of non-alphanumerics become ``-``,
  leading/trailing ``-`` stripped), so imported request types find their codes. Names are processed in sorted order;
  a slug already taken (or equal to another name's plain slug) gets ``-2``,
  ``-3``, ... so codes are unique and stable.
* "Most common" always breaks ties by the smaller value (string order), so the
  output does not depend on row order.
* A service type's category/type/detail is its most common
  (CATEGORY, TYPE, DETAIL) triple; its department/work group the most common
  (DEPARTMENT, WORK GROUP) pair (default routing; imported cases keep theirs).
* Time-frame: ``DAYS TO CLOSE`` is whole calendar days (it always equals
  CLOSED DATE - CREATION DATE). A case "has a verdict" when it has a CLOSED
  DATE, a DAYS TO CLOSE and ``EXCEEDED EST TIMEFRAME`` in {Y, N}. For each type
  the integer threshold T >= 1 minimising the number of verdict cases with
  (days > T) != (verdict == Y) is chosen, ties to the smallest T.
  Window: Kansas City reset its time-frames (and renamed most request types)
  in July 2015, so a type with at least ``MIN_VERDICTS`` verdict cases created
  on/after 2015-07-01 is fitted on those cases only (the time-frame in force
  now); a type with fewer (a retired, pre-reset type) is fitted on all its
  cases.
* T is accepted (``sla_source = data``) when the window has at least
  ``MIN_VERDICTS`` verdict cases, at least one N, and T agrees with at least
  ``MIN_AGREEMENT`` of them. Otherwise ``sla_source = default`` and
  ``sla_days`` is the (lower) median of the data-derived time-frames of the
  service types in the same department if that department has at least
  ``MIN_PEERS`` of them, else of the same category (same minimum), else of
  all data-derived types.
* Output CSVs are sorted by code, UTF-8, ``\\n`` line endings; re-running
  gives byte-identical files. A coverage summary is printed to stdout.

Usage (from the repository root): python -m scripts.kansas_city.build_taxonomy [--data DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import statistics
import sys
from collections import Counter, defaultdict
from pathlib import Path

from civiccrm.domain.imports import slugify

REPO = Path(__file__).resolve().parents[2]
PROFILE_DIR = REPO / "cities" / "kansas_city"
DEFAULT_DATA = REPO.parent / "shared" / "data" / "kc311"

RESET_DATE = dt.date(2015, 7, 1)  # Kansas City's time-frame reset
MIN_VERDICTS = 5  # verdict cases needed in the window to accept a fitted T
MIN_AGREEMENT = 0.90  # share of verdicts the fitted T must agree with
MIN_PEERS = 3  # data-derived types needed for a department/category median

SERVICE_TYPE_FIELDS = [
    "code", "name", "category", "type", "detail", "department", "work_group",
    "sla_days", "sla_source", "cases", "cases_with_verdict",
]


def assign_codes(names) -> dict[str, str]:
    """Map each name to a unique slug; collisions get -2, -3, ... in sorted-name order."""
    names = sorted(set(names))
    plain = {slugify(n) for n in names}
    used: set[str] = set()
    codes = {}
    for name in names:
        base = slugify(name)
        code = base
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


def read_rows(data_dir: Path):
    files = sorted(data_dir.glob("*.csv"))
    if not files:
        raise SystemExit(f"no CSV files in {data_dir}")
    for path in files:
        with path.open(newline="", encoding="utf-8") as fh:
            yield from csv.DictReader(fh)


def parse_days(value: str):
    value = value.strip()
    if not value:
        return None
    f = float(value)
    if f != int(f) or f < 0:
        raise ValueError(f"unexpected DAYS TO CLOSE {value!r}")
    return int(f)


def fit_threshold(obs):
    """obs: list of (days, is_y). Return (T, errors) with T >= 1 minimising errors, ties smallest T."""
    n_by_day = Counter(d for d, y in obs if not y)
    y_by_day = Counter(d for d, y in obs if y)
    top = max([1] + [d for d, _ in obs])
    # errors(T) = N cases with days > T + Y cases with days <= T
    err_n = sum(n_by_day.values()) - n_by_day[0]
    err_y = y_by_day[0]
    best = None
    for t in range(1, top + 1):
        err_n -= n_by_day[t]
        err_y += y_by_day[t]
        if best is None or err_n + err_y < best[1]:
            best = (t, err_n + err_y)
    return best


def agreement(obs, t):
    return sum(1 for d, y in obs if (d > t) == y)


def build(data_dir: Path):
    dept_names = set()
    wg_dept = defaultdict(Counter)
    types = defaultdict(lambda: {
        "triples": Counter(), "routing": Counter(), "cases": 0,
        "verdicts": [],  # (created, days, is_y, case department)
    })
    skipped_empty = 0
    total = 0
    for row in read_rows(data_dir):
        total += 1
        dept = row["DEPARTMENT"].strip()
        wg = row["WORK GROUP"].strip()
        name = row["REQUEST TYPE"].strip()
        if not name:
            skipped_empty += 1
            continue
        dept_names.add(dept)
        wg_dept[wg][dept] += 1
        t = types[name]
        t["cases"] += 1
        t["triples"][(row["CATEGORY"].strip(), row["TYPE"].strip(), row["DETAIL"].strip())] += 1
        t["routing"][(dept, wg)] += 1
        days = parse_days(row["DAYS TO CLOSE"])
        verdict = row["EXCEEDED EST TIMEFRAME"].strip().upper()
        if row["CLOSED DATE"].strip() and days is not None and verdict in ("Y", "N"):
            created = dt.datetime.strptime(row["CREATION DATE"].strip(), "%m/%d/%Y").date()
            t["verdicts"].append((created, days, verdict == "Y", dept))

    dept_codes = assign_codes(dept_names)
    wg_codes = assign_codes(wg_dept)
    type_codes = assign_codes(types)

    departments = sorted(({"code": dept_codes[n], "name": n} for n in dept_names), key=lambda r: r["code"])
    work_groups = sorted(
        ({"code": wg_codes[w], "name": w, "department": dept_codes[most_common(c)]} for w, c in wg_dept.items()),
        key=lambda r: r["code"],
    )

    # Fit time-frames.
    service_types = []
    fits = {}
    for name, t in types.items():
        cat, typ, det = most_common(t["triples"])
        dept, wg = most_common(t["routing"])
        all_obs = [(d, y) for _, d, y, _ in t["verdicts"]]
        post_obs = [(d, y) for c, d, y, _ in t["verdicts"] if c >= RESET_DATE]
        window, obs = ("since-2015-07", post_obs) if len(post_obs) >= MIN_VERDICTS else ("all", all_obs)
        fit = fit_threshold(obs) if obs else None
        accepted = (
            fit is not None
            and len(obs) >= MIN_VERDICTS
            and any(not y for _, y in obs)
            and (len(obs) - fit[1]) / len(obs) >= MIN_AGREEMENT
        )
        fits[name] = {"window": window, "obs": obs, "fit": fit, "accepted": accepted}
        service_types.append({
            "code": type_codes[name], "name": name, "category": cat, "type": typ, "detail": det,
            "department": dept_codes[dept], "work_group": wg_codes[wg],
            "sla_days": fit[0] if accepted else None,
            "sla_source": "data" if accepted else "default",
            "cases": t["cases"], "cases_with_verdict": len(t["verdicts"]),
        })

    # Defaults: median of data-derived time-frames in the same department, else category, else overall.
    by_dept = defaultdict(list)
    by_cat = defaultdict(list)
    derived = []
    for st in service_types:
        if st["sla_source"] == "data":
            by_dept[st["department"]].append(st["sla_days"])
            by_cat[st["category"]].append(st["sla_days"])
            derived.append(st["sla_days"])
    overall = statistics.median_low(derived) if derived else 7
    default_basis = Counter()
    for st in service_types:
        if st["sla_source"] == "default":
            if len(by_dept[st["department"]]) >= MIN_PEERS:
                st["sla_days"] = statistics.median_low(by_dept[st["department"]])
                default_basis["department"] += 1
            elif len(by_cat[st["category"]]) >= MIN_PEERS:
                st["sla_days"] = statistics.median_low(by_cat[st["category"]])
                default_basis["category"] += 1
            else:
                st["sla_days"] = overall
                default_basis["overall"] += 1
        st["sla_days"] = max(1, int(st["sla_days"]))
    service_types.sort(key=lambda r: r["code"])

    stats = {
        "total_rows": total, "skipped_empty_request_type": skipped_empty,
        "types": types, "fits": fits, "service_types": service_types,
        "dept_codes": dept_codes, "default_basis": default_basis, "overall_default": overall,
        "dept_medians": {k: statistics.median_low(v) for k, v in by_dept.items() if len(v) >= MIN_PEERS},
    }
    return departments, work_groups, service_types, stats


def write_csv(path: Path, fields, rows):
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({f: r[f] for f in fields})


def summary(stats) -> str:
    sts = stats["service_types"]
    types, fits = stats["types"], stats["fits"]
    sla = {st["name"]: st["sla_days"] for st in sts}
    src = {st["name"]: st["sla_source"] for st in sts}
    n_data = sum(1 for s in sts if s["sla_source"] == "data")
    cases = sum(s["cases"] for s in sts)
    cases_data = sum(s["cases"] for s in sts if s["sla_source"] == "data")
    lines = [
        f"rows read: {stats['total_rows']}; skipped (empty REQUEST TYPE): {stats['skipped_empty_request_type']}",
        f"service types: {len(sts)}; data-derived time-frame: {n_data} ({n_data / len(sts):.1%}),"
        f" default: {len(sts) - n_data} (by department {stats['default_basis']['department']},"
        f" category {stats['default_basis']['category']}, overall {stats['default_basis']['overall']};"
        f" overall default {stats['overall_default']} d)",
        f"cases: {cases}; of types with data-derived time-frame: {cases_data} ({cases_data / cases:.1%})",
        "fit windows (data types): " + ", ".join(
            f"{w} {n}" for w, n in sorted(Counter(f['window'] for n_, f in fits.items() if f['accepted']).items())),
        "data types with no Y verdict (T is a lower bound): "
        f"{sum(1 for f in fits.values() if f['accepted'] and not any(y for _, y in f['obs']))}",
    ]
    # Agreement of the shipped sla_days with the city's verdicts, on all verdict cases.
    agg = defaultdict(lambda: [0, 0, 0, 0])  # verdicts, agree, verdicts of data types, agree data types
    fit_ok = fit_n = 0
    for name, t in types.items():
        for _, d, y, dept in t["verdicts"]:
            ok = (d > sla[name]) == y
            for key in (dept, "__all__"):
                a = agg[key]
                a[0] += 1
                a[1] += ok
                if src[name] == "data":
                    a[2] += 1
                    a[3] += ok
        f = fits[name]
        if f["accepted"]:
            fit_n += len(f["obs"])
            fit_ok += agreement(f["obs"], sla[name])
    a = agg["__all__"]
    lines.append(f"agreement with city Y/N, all {a[0]} verdict cases: {a[1] / a[0]:.1%};"
                 f" data-derived types only ({a[2]} cases): {a[3] / a[2]:.1%};"
                 f" within the fit windows ({fit_n} cases): {fit_ok / fit_n:.1%}")
    lines.append("")
    lines.append("| department (case's own) | verdict cases | agreement | cases of data-derived types | agreement |")
    lines.append("|---|---:|---:|---:|---:|")
    for dept in sorted((k for k in agg if k != "__all__"), key=lambda k: (-agg[k][0], k)):
        v, ok, vd, okd = agg[dept]
        lines.append(f"| {dept} | {v} | {ok / v:.1%} | {vd} | {(okd / vd if vd else 0):.1%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of KC 311 CSVs")
    ap.add_argument("--out", type=Path, default=PROFILE_DIR, help="output directory (default: cities/kansas_city)")
    ap.add_argument("--quiet", action="store_true", help="do not print the coverage summary")
    args = ap.parse_args(argv)
    departments, work_groups, service_types, stats = build(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "departments.csv", ["code", "name"], departments)
    write_csv(args.out / "work_groups.csv", ["code", "name", "department"], work_groups)
    write_csv(args.out / "service_types.csv", SERVICE_TYPE_FIELDS, service_types)
    if not args.quiet:
        print(summary(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
