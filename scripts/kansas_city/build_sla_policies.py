"""Write Kansas City's sla_policies.csv from the time-frame refit (scripts/kansas_city/refit.py).

Every service type of ``service_types.csv`` gets its versions in business days on the
``city-business-days`` calendar: the pieces the refit finds in the city's own verdicts (the first
from the beginning, each later one from the first day of the month it starts), or, for a type
with fewer than 5 verdicts, its department's T (else the city's) from the beginning. Byte-identical
output on every run; the method, coverage and agreement are in docs/kansas-city-timeframes.md.

    python -m scripts.kansas_city.build_sla_policies [--data DIR] [--out DIR]   (from the repository root)
"""

import argparse
import csv
import sys
from pathlib import Path

from scripts.kansas_city.refit import CALENDAR, fit, read_cases

PROFILE_DIR = Path(__file__).resolve().parents[2] / "cities" / "kansas_city"
DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kc311"
FIELDS = ["service_code", "effective_from", "target", "basis", "calendar", "note"]


def build(data_dir: Path, out_dir: Path, *, cases=None) -> list[dict]:
    """Fit on ``cases`` (read from ``data_dir`` when not given) and write ``out_dir``/sla_policies.csv."""
    model = fit(read_cases(data_dir) if cases is None else cases)
    with (out_dir / "departments.csv").open(newline="", encoding="utf-8") as fh:
        department_names = {r["code"]: r["name"] for r in csv.DictReader(fh)}
    with (out_dir / "service_types.csv").open(newline="", encoding="utf-8") as fh:
        types = sorted(csv.DictReader(fh), key=lambda r: r["code"])
    rows = []
    for st in types:
        pieces = model.types.get(st["name"])
        row = {"service_code": st["code"], "basis": "business_days", "calendar": CALENDAR}
        if pieces is None:
            department = department_names.get(st["department"], "")
            target = model.departments.get(department, model.city)
            where = f"department {department}" if department in model.departments else "all of Kansas City"
            rows.append({**row, "effective_from": "", "target": str(target),
                         "note": f"fewer than 5 verdicts: the refit's T for {where}"})
            continue
        for piece in pieces:
            share = (piece.cases - piece.errors) / piece.cases
            rows.append({**row, "effective_from": piece.start.isoformat() if piece.start else "",
                         "target": str(piece.target),
                         "note": f"refit on {piece.cases} verdicts: agrees with {share:.1%}"})
    with (out_dir / "sla_policies.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=PROFILE_DIR)
    args = parser.parse_args(argv)
    rows = build(args.data, args.out)
    print(f"{len(rows)} versions for {len({r['service_code'] for r in rows})} service types")
    return 0


if __name__ == "__main__":
    sys.exit(main())
