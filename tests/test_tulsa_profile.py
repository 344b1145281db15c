"""Tulsa's profile is data only: init works, cases get Tulsa districts, the standard instrument loads."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from shapely import make_valid
from shapely.geometry import shape

from civiccrm.cli import cli
from civiccrm.domain.cases import CaseDraft, Customer, Location
from civiccrm.errors import CivicError
from civiccrm.profiles import load_profile
from civiccrm.services import cases
from civiccrm.services.deployment import init_deployment

TULSA = Path(__file__).resolve().parents[1] / "cities" / "tulsa"


@pytest.fixture
def tulsa(database_url):
    dep = init_deployment(database_url, "tulsa")
    yield dep
    dep.engine.dispose()


def test_profile_loads():
    profile = load_profile(TULSA)
    assert profile.timezone == "America/Chicago"
    assert [d.id for d in profile.city_map.districts] == [str(i) for i in range(1, 10)]
    names = {d.name for d in profile.taxonomy.departments.values()}
    assert {"Customer Care", "Human Resources", "Communications", "Finance", "Mayor's Office", "Police", "Fire",
            "Streets and Stormwater", "Water and Sewer", "Parks"} <= names
    for dep in profile.taxonomy.departments:
        assert any(s.department == dep for s in profile.taxonomy.service_types.values()), dep
        assert dep in profile.settings["customers"], dep
    standard = profile.surveys["standard"]
    core = [q for q in standard.questions if q.department is None]
    assert len(core) == 10
    assert core[0].text == "My overall experience with this service was positive."
    assert core[9].text == "It felt easy to get information about policies and procedures for this service."
    assert core[0].points == [(1, "Strongly Disagree"), (2, "Disagree"), (3, "Agree"), (4, "Strongly Agree"), (9, "N/A")]
    assert all(q.acceptable == 3 and q.na_codes == (9,) for q in core)
    assert standard.audience == "any"
    assert len(standard.questions_for("parks")) == 11
    assert standard.target_for("overall", "customer-care").baseline == 0.84
    assert standard.target_for("overall", "police").target == 0.85


def test_a_tulsa_case_gets_a_tulsa_district(tulsa):
    assert tulsa.profile.slug == "tulsa"
    service = tulsa.profile.service_type("pothole")
    case = cases.intake(tulsa, CaseDraft(
        service_code=service.code, description="Pothole in the right lane", channel="phone",
        location=Location(latitude=36.13997, longitude=-95.96191), customer=Customer(email="r@example.org")))
    assert case.tracking_number.startswith("TUL-")
    assert case.location.council_district == "4"
    assert case.department == "streets-stormwater" and case.work_group == "streets-maintenance"
    with pytest.raises(CivicError, match="outside the city limits"):
        cases.intake(tulsa, CaseDraft(service_code="pothole", description="x", channel="phone",
                                      location=Location(latitude=39.1, longitude=-94.58)))  # Kansas City


def test_overlap_slivers_go_to_the_lowest_district():
    profile = load_profile(TULSA)
    features = json.loads((TULSA / "council_districts.geojson").read_text())["features"]
    shapes = {f["properties"]["district_id"]: make_valid(shape(f["geometry"])) for f in features}
    found = 0
    for a in sorted(shapes, key=int):
        for b in sorted(shapes, key=int):
            if int(a) < int(b):
                overlap = shapes[a].intersection(shapes[b])
                if overlap.area > 0:
                    point = overlap.representative_point()
                    assert profile.city_map.district_at(point.y, point.x) == a
                    found += 1
    assert found > 0


def test_init_from_the_command_line(tmp_path):
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path / 't.db'}", "init", "--city", "tulsa"])
    assert result.exit_code == 0, result.output
    assert "Tulsa, Oklahoma" in result.output and "9 districts" in result.output
