"""Benchmark: survey results over 1,000,000 stored responses, SQL (GROUP BY) beside pandas.

Usage: .venv/bin/python bench/surveys.py [--responses N] [--db URL]

Generates N post-case responses (one answer each, spread over the three items and the
Kansas City departments; some N/A) with executemany, then computes per item and
department the answers counted, share acceptable, mean and Wilson 95% interval twice:
with civiccrm.metrics.surveys.results (one GROUP BY in the database) and with pandas
(read_sql of the same tables, then groupby). Prints both times and checks the figures
are identical.
"""

import argparse
import math
import random
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
from sqlalchemy import insert, text

from civiccrm.domain.survey_stats import Z95
from civiccrm.metrics import surveys as survey_metrics
from civiccrm.services.deployment import init_deployment
from civiccrm.store.tables import survey_answers_table, survey_responses_table


def generate(deployment, n: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    departments = sorted(deployment.profile.taxonomy.departments)
    items = [q.code for q in deployment.profile.surveys["post-case"].questions]
    at = datetime(2026, 1, 15, tzinfo=timezone.utc)
    batch = 100_000
    with deployment.engine.begin() as conn:
        for start in range(0, n, batch):
            count = min(batch, n - start)
            conn.execute(insert(survey_responses_table), [
                {"id": start + i + 1, "instrument": "post-case", "source": "bench", "period": "2026-01",
                 "answered_at": at, "department": departments[rng.randrange(len(departments))]}
                for i in range(count)])
            answers = []
            for i in range(count):
                value = rng.choice((1, 2, 3, 3, 4, 4, 4, 5, 5, None))
                answers.append({"response_id": start + i + 1, "item": items[(start + i) % len(items)],
                                "value": value, "raw": value if value is not None else 9,
                                "acceptable": None if value is None else int(value >= 3)})
            conn.execute(insert(survey_answers_table), answers)


def with_sql(deployment) -> dict:
    figures = survey_metrics.results(deployment, "post-case", by="department")
    return {(r["group"], r["item"]): (r["answered"], r["acceptable"], r["mean"], r["low"], r["high"])
            for r in figures["rows"]}


def with_pandas(deployment) -> dict:
    frame = pd.read_sql(text(
        "SELECT r.department, a.item, a.value, a.acceptable FROM survey_answers a "
        "JOIN survey_responses r ON a.response_id = r.id WHERE r.instrument = 'post-case'"), deployment.engine)
    frame = frame.dropna(subset=["value"])
    grouped = frame.groupby(["department", "item"]).agg(n=("value", "count"), acc=("acceptable", "sum"),
                                                         mean=("value", "mean"))
    p = grouped["acc"] / grouped["n"]
    z2 = Z95 * Z95
    denom = 1 + z2 / grouped["n"]
    centre = (p + z2 / (2 * grouped["n"])) / denom
    half = Z95 * ((p * (1 - p) / grouped["n"] + z2 / (4 * grouped["n"] ** 2)) ** 0.5) / denom
    grouped["low"] = (centre - half).clip(lower=0)
    grouped["high"] = (centre + half).clip(upper=1)
    return {key: (int(r["n"]), int(r["acc"]), float(r["mean"]), float(r["low"]), float(r["high"]))
            for key, r in grouped.iterrows()}


def same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(x[:2] == y[:2] and all(math.isclose(u, v, rel_tol=1e-9, abs_tol=1e-12) for u, v in zip(x[2:], y[2:]))
               for x, y in ((a[k], b[k]) for k in a))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.db'}"
        deployment = init_deployment(url, "kansas-city")
        started = time.perf_counter()
        generate(deployment, args.responses)
        print(f"generated {args.responses:,} responses in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        sql = with_sql(deployment)
        sql_time = time.perf_counter() - started
        started = time.perf_counter()
        pandas = with_pandas(deployment)
        pandas_time = time.perf_counter() - started
        deployment.engine.dispose()
    identical = same(sql, pandas)
    print(f"SQL (civiccrm.metrics.surveys): {sql_time:.2f} s for {len(sql)} item x department rows")
    print(f"pandas (read_sql + groupby):    {pandas_time:.2f} s for {len(pandas)} rows")
    print(f"figures identical: {identical}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
