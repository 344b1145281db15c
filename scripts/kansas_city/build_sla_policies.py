"""Write sla_policies.csv: pre-reset time-frame versions where the city's own data shows them.

Kansas City reset its time-frames on 2015-07-01. ``civiccrm profile draft --mapping kcmo``
fits each request type's ``sla_days`` on its cases since the reset when it has at least 5
verdicts there (``civiccrm.domain.timeframes``). For those types this script fits T again on the cases created before
the reset, with the same rule and acceptance test (at least 5 verdicts, one N, 90 %
agreement); where the pre-reset T is accepted and differs, the type gets two versions:
the pre-reset T from the beginning and its service_types.csv time-frame from
2015-07-01. Byte-identical output on every run.

    python -m scripts.kansas_city.build_sla_policies [--data DIR] [--out DIR]   (from the repository root)
"""

import argparse
import csv
import datetime as dt
import sys
from collections import defaultdict
from pathlib import Path

from civiccrm.domain.timeframes import agreement, fit_threshold
from civiccrm.services.profile_draft import assign_codes

PROFILE_DIR = Path(__file__).resolve().parents[2] / "cities" / "kansas_city"
DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "kc311"
RESET_DATE = dt.date(2015, 7, 1)  # Kansas City's time-frame reset
MIN_VERDICTS = 5
MIN_AGREEMENT = 0.90


def read_rows(data_dir: Path):
    files = sorted(data_dir.glob("*.csv"))
    if not files:
        raise SystemExit(f"no CSV files in {data_dir}")
    for path in files:
        with path.open(newline="", encoding="utf-8") as fh:
            yield from csv.DictReader(fh)


def parse_days(value: str):
    value = value.strip()
    return int(float(value)) if value else None

FIELDS = ["service_code", "effective_from", "target", "basis", "note"]


def build(data_dir: Path, out_dir: Path) -> list[dict]:
    verdicts = defaultdict(list)
    for row in read_rows(data_dir):
        name = row["REQUEST TYPE"].strip()
        if not name:
            continue
        days = parse_days(row["DAYS TO CLOSE"])
        verdict = row["EXCEEDED EST TIMEFRAME"].strip().upper()
        verdicts.setdefault(name, [])
        if row["CLOSED DATE"].strip() and days is not None and verdict in ("Y", "N"):
            created = dt.datetime.strptime(row["CREATION DATE"].strip(), "%m/%d/%Y").date()
            verdicts[name].append((created, days, verdict == "Y"))
    codes = assign_codes(verdicts)
    with (out_dir / "service_types.csv").open(newline="", encoding="utf-8") as fh:
        shipped = {r["code"]: r for r in csv.DictReader(fh)}
    rows = []
    for name, obs in sorted(verdicts.items(), key=lambda kv: codes[kv[0]]):
        code = codes[name]
        since = [(d, y) for c, d, y in obs if c >= RESET_DATE]
        before = [(d, y) for c, d, y in obs if c < RESET_DATE]
        if len(since) < MIN_VERDICTS or len(before) < MIN_VERDICTS or not any(not y for _, y in before):
            continue
        t, _ = fit_threshold(before)
        share = agreement(before, t) / len(before)
        current = shipped[code]["sla_days"]
        if share < MIN_AGREEMENT or str(t) == current:
            continue
        rows.append({"service_code": code, "effective_from": "", "target": str(t), "basis": "calendar_days",
                     "note": f"fit on {len(before)} verdicts before {RESET_DATE}: agrees with {share:.1%}"})
        rows.append({"service_code": code, "effective_from": RESET_DATE.isoformat(), "target": current,
                     "basis": "calendar_days", "note": f"service_types.csv time-frame ({shipped[code]['sla_source']})"})
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
    print(f"{len(rows) // 2} service types get a pre-reset version")
    return 0


if __name__ == "__main__":
    sys.exit(main())
