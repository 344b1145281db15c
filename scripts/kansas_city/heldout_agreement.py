"""How well per-key time-frames learned from Kansas City's own verdicts agree with EXCEEDED EST
TIMEFRAME on neighbourhoods the fit did not see (issue 13's timeliness refit; see
docs/kansas-city-timeframes.md, "Held-out agreement").

Leave one neighbourhood out: each of the 12 kc311 files is held out in turn, the thresholds are
fitted on the other 11, and the held-out cases are predicted. A key's threshold is the T (whole
days, searched over the values seen) minimising the cases with ``(days > T) != (verdict == Y)``,
with the basis (calendar days, or business days without US federal holidays) chosen the same
way; a case takes the finest key with at least ``--min-cases`` training cases, falling back
level by level.

Prints the held-out agreement of the refit the profile ships (scripts/kansas_city/refit.py:
business days per request type with the dates the city changed them), overall and per
department; with ``--compare``, also of the ladders of keys tried before it.

Usage: .venv/bin/python scripts/kansas_city/heldout_agreement.py [--data DIR] [--compare] [--federal-holidays]
       [--min-cases N] [--per-detail REQUEST_TYPE ...]
"""

import argparse
import csv
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import holidays
import numpy as np

if __package__ in (None, ""):  # run as a file: the repository root on the path for `scripts.`
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from scripts.kansas_city import refit

RESET = date(2015, 7, 1)
LADDERS = {
    "request type (calendar days)": (("type",), ("department",), ("all",)),
    "request type before/after the July 2015 reset (calendar days)": (("type", "era"), ("type",), ("department",),
                                                                       ("all",)),
    "the same, calendar or business days": (("type", "era"), ("type",), ("department",), ("all",)),
    "category/type/detail, then request type, calendar or business days": (
        ("type", "triple", "era"), ("type", "era"), ("type",), ("department",), ("all",)),
}
BASES = {"request type (calendar days)": ("calendar",),
         "request type before/after the July 2015 reset (calendar days)": ("calendar",)}


def read_cases(folder: Path) -> list[dict]:
    files = sorted(folder.glob("*.csv"))
    if not files:
        raise SystemExit(f"no kc311 CSV files in {folder}")
    federal = list(holidays.US(years=range(2006, 2022)).keys())
    cases = []
    for path in files:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            for row in csv.DictReader(handle):
                verdict = row["EXCEEDED EST TIMEFRAME"].strip()
                if verdict not in ("Y", "N") or not row["CLOSED DATE"].strip():
                    continue
                opened = datetime.strptime(row["CREATION DATE"].strip(), "%m/%d/%Y").date()
                closed = datetime.strptime(row["CLOSED DATE"].strip(), "%m/%d/%Y").date()
                cases.append({
                    "file": path.name, "y": verdict == "Y", "calendar": (closed - opened).days,
                    "business": int(np.busday_count(opened, closed, holidays=federal)),
                    "type": row["REQUEST TYPE"].strip(), "era": opened >= RESET, "department": row["DEPARTMENT"].strip(),
                    "triple": (row["CATEGORY"].strip(), row["TYPE"].strip(), row["DETAIL"].strip()), "all": "all",
                })
    return cases


def _best(cases, bases):
    y = np.array([c["y"] for c in cases])
    best = None
    for basis in bases:
        days = np.array([c[basis] for c in cases])
        for t in np.unique(np.concatenate([days, [0]])):
            errors = int(((days > t) != y).sum())
            if best is None or errors < best[0]:
                best = (errors, basis, int(t))
    return best[1], best[2]


def agreement(cases, ladder, bases, min_cases) -> float:
    agree = 0
    for held in sorted({c["file"] for c in cases}):
        train = [c for c in cases if c["file"] != held]
        fitted = []
        for key in ladder:
            groups = defaultdict(list)
            for c in train:
                groups[tuple(c[k] for k in key)].append(c)
            fitted.append({k: _best(g, bases) for k, g in groups.items() if len(g) >= min_cases or key == ("all",)})
        for c in (c for c in cases if c["file"] == held):
            for key, found in zip(ladder, fitted):
                rule = found.get(tuple(c[k] for k in key))
                if rule is not None:
                    agree += (c[rule[0]] > rule[1]) == c["y"]
                    break
    return agree / len(cases)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data" / "kc311")
    parser.add_argument("--min-cases", type=int, default=5)
    parser.add_argument("--compare", action="store_true", help="also the ladders of keys tried before the refit")
    parser.add_argument("--federal-holidays", action="store_true",
                        help="take the US federal holidays off the business days (the first refit: 96.56%%)")
    parser.add_argument("--per-detail", action="append", default=[], metavar="REQUEST_TYPE",
                        help="also: the refit with this request type keyed by DETAIL as well (repeatable; "
                             "e.g. 'Property Violations'; a measurement, the engine cannot key on detail)")
    args = parser.parse_args(argv)
    held = refit.read_cases(args.data, refit.federal_holidays() if args.federal_holidays else refit.NO_HOLIDAYS)
    agree, total, by_dept, n_dept = refit.held_out(held, min_cases=args.min_cases)
    print(f"{total:,} closed cases with a Y/N verdict; leave one neighbourhood (file) out")
    print(f"{agree / total:7.2%}  the refit: request type with its change dates, business days ({agree:,} of {total:,})")
    for department, n in n_dept.most_common():
        print(f"         {by_dept[department] / n:7.2%}  {department or '(blank)'} ({by_dept[department]:,} of {n:,})")
    if args.per_detail:
        keyed = refit.key_by_detail(held, args.per_detail)
        agree, total, _, _ = refit.held_out(keyed, min_cases=args.min_cases)
        print(f"{agree / total:7.2%}  the same with {', '.join(args.per_detail)} keyed by detail too "
              f"({agree:,} of {total:,})")
    if not args.compare:
        return 0
    cases = read_cases(args.data)
    for name, ladder in LADDERS.items():
        share = agreement(cases, ladder, BASES.get(name, ("calendar", "business")), args.min_cases)
        print(f"{share:7.2%}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
