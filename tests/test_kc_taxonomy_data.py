"""Consistency of the Kansas City profile's shipped taxonomy CSVs, and that `civiccrm profile draft` reproduces them."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from civiccrm.cli import cli
from civiccrm.domain.imports import slugify
from civiccrm.domain.timeframes import fit_threshold
from civiccrm.services.profile_draft import assign_codes

REPO = Path(__file__).resolve().parents[1]
KC_DIR = REPO / "cities" / "kansas_city"
DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "kc311"
CSV_FILES = ("departments.csv", "work_groups.csv", "service_types.csv")
HEADERS = {
    "departments.csv": ["code", "name"],
    "work_groups.csv": ["code", "name", "department"],
    "service_types.csv": [
        "code", "name", "category", "type", "detail", "department", "work_group",
        "sla_days", "sla_source", "cases", "cases_with_verdict",
    ],
}


def _read(path: Path):
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


def consistency_problems(folder: Path) -> list[str]:
    """Every problem found in the three CSVs of `folder` (empty list = consistent)."""
    problems = []
    tables = {}
    for name in CSV_FILES:
        header, rows = _read(folder / name)
        if header != HEADERS[name]:
            problems.append(f"{name}: header {header}")
        tables[name] = rows
        for key in ("code", "name"):
            values = [r[key] for r in rows]
            if len(values) != len(set(values)):
                problems.append(f"{name}: duplicate {key}")
        for r in rows:
            if not r["code"] or r["code"] != r["code"].strip("-") or not r["code"].isascii():
                problems.append(f"{name}: bad code {r['code']!r}")
    depts = {r["code"] for r in tables["departments.csv"]}
    groups = {r["code"]: r["department"] for r in tables["work_groups.csv"]}
    for code, dept in groups.items():
        if dept not in depts:
            problems.append(f"work group {code}: unknown department {dept}")
    for r in tables["service_types.csv"]:
        where = f"service type {r['code']}"
        if r["department"] not in depts:
            problems.append(f"{where}: unknown department {r['department']}")
        if r["work_group"] not in groups:
            problems.append(f"{where}: unknown work group {r['work_group']}")
        if not r["sla_days"].isdigit() or int(r["sla_days"]) < 1:
            problems.append(f"{where}: sla_days {r['sla_days']!r}")
        if r["sla_source"] not in {"data", "default"}:
            problems.append(f"{where}: sla_source {r['sla_source']!r}")
        if not (r["cases"].isdigit() and r["cases_with_verdict"].isdigit()
                and 1 <= int(r["cases"]) and int(r["cases_with_verdict"]) <= int(r["cases"])):
            problems.append(f"{where}: counts {r['cases']!r}/{r['cases_with_verdict']!r}")
    return problems


def test_shipped_csvs_are_consistent():
    assert consistency_problems(KC_DIR) == []


def test_shipped_csvs_are_not_trivial():
    _, types = _read(KC_DIR / "service_types.csv")
    assert len(types) > 700
    assert {"data", "default"} <= {r["sla_source"] for r in types}
    assert sum(int(r["cases"]) for r in types) == 63590


def test_consistency_check_catches_broken_files(tmp_path):
    for name in CSV_FILES:
        shutil.copy(KC_DIR / name, tmp_path / name)
    path = tmp_path / "service_types.csv"
    header, rows = _read(path)
    rows[0]["sla_days"] = "0"
    rows[1]["department"] = "no-such-department"
    rows[2]["code"] = rows[3]["code"]
    rows[4]["sla_source"] = "guess"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    problems = "\n".join(consistency_problems(tmp_path))
    assert "sla_days '0'" in problems
    assert "unknown department no-such-department" in problems
    assert "duplicate code" in problems
    assert "sla_source 'guess'" in problems


def test_slugs_and_collisions():
    assert slugify("Parks & Rec") == "parks-rec"
    assert slugify("NHS-Neighborhood Preservation-") == "nhs-neighborhood-preservation"
    assert slugify("Signs-Traffic Sign-Missing \u2013 Emergency") == "signs-traffic-sign-missing-emergency"
    codes = assign_codes(["Trash Roll Out Cart Missing", "Trash - Roll-out Cart Missing", "trash-roll-out-cart-missing-2"])
    assert sorted(codes.values()) == ["trash-roll-out-cart-missing", "trash-roll-out-cart-missing-2",
                                      "trash-roll-out-cart-missing-3"]
    assert codes["trash-roll-out-cart-missing-2"] == "trash-roll-out-cart-missing-2"


def test_profile_draft_codes_with_the_importers_slugify():
    """One slugify: the codes `profile draft` writes are those an import derives from a request type."""
    from civiccrm.domain.imports import slugify
    from civiccrm.services import profile_draft

    assert profile_draft.slugify is slugify


def test_fit_threshold():
    obs = [(0, False), (2, False), (3, False), (4, True), (9, True), (1, True)]
    assert fit_threshold(obs) == (3, 1)
    assert fit_threshold([(5, False), (6, False)]) == (6, 0)  # smallest T with no errors
    assert fit_threshold([(0, False), (8, True)])[0] == 1  # T >= 1, ties to the smallest


@pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"KC 311 data not found at {DATA_DIR}")
def test_profile_draft_reproduces_shipped_csvs(tmp_path):
    out = tmp_path / "kansas-city"
    files = sorted(str(p) for p in DATA_DIR.glob("*.csv"))
    result = CliRunner().invoke(cli, ["profile", "draft", "--from-export", *files, "--mapping", "kcmo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "793 service types: 527 by data, 266 by default." in result.output
    for name in CSV_FILES:
        assert (out / name).read_bytes() == (KC_DIR / name).read_bytes(), f"{name} differs from the shipped file"
