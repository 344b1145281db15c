"""Survey screens: instruments, plans and draws, results with intervals and targets, action plans; on SQLite
and PostgreSQL (Tulsa's profile, whose standard survey has targets and action plans)."""

import html

import pytest

from civiccrm.services.deployment import init_deployment
from civiccrm.services.surveys import action_plans, imports
from tests.web_helpers import add_staff, client_for, post


@pytest.fixture
def tulsa(database_url, tmp_path):
    deployment = init_deployment(database_url, "tulsa")
    add_staff(deployment, ["ada", "sam", "cal", "ana", "rob"])
    answers = tmp_path / "answers.csv"
    answers.write_text("department,overall,knowledge\nparks,1,1\nparks,4,2\nparks,2,2\nparks,3,1\n")
    imports.import_csv(deployment, "standard", answers)
    yield deployment
    deployment.engine.dispose()


def test_results_with_intervals_targets_and_action_plans(tulsa):
    client = client_for(tulsa, "ana")  # analysts read surveys
    index = client.get("/admin/surveys")
    assert index.status_code == 200 and "/admin/surveys/standard" in index.text
    page = client.get("/admin/surveys/standard")
    assert page.status_code == 200 and "under target" in page.text and "Streets and Stormwater" in page.text
    assert " – " in page.text  # an interval
    assert client.get("/admin/surveys/standard?by=department").status_code == 200
    assert "Add an action plan" not in page.text and 'name="status"' not in page.text


def test_a_supervisor_adds_an_action_plan_and_changes_its_status(tulsa):
    client = client_for(tulsa, "sam")
    path = "/admin/surveys/standard"
    before = len(action_plans.action_plans(tulsa, include_closed=True))
    response = post(client, f"{path}/action-plans", {"item": "overall", "owner": "311 manager",
                                                     "actions": "Call back every caller", "due": "2027-09-30"},
                    page=path)
    assert response.status_code == 302
    plans = action_plans.action_plans(tulsa, include_closed=True)
    assert len(plans) == before + 1
    added = max(plans, key=lambda p: p.id)
    assert (added.owner, added.item, str(added.due)) == ("311 manager", "overall", "2027-09-30")
    assert post(client, f"/admin/surveys/action-plans/{added.id}", {"status": "closed"},
                page=path).status_code == 302
    assert next(p for p in action_plans.action_plans(tulsa, include_closed=True) if p.id == added.id
                ).status.value == "closed"


def test_bad_input_and_permissions(tulsa):
    sam = client_for(tulsa, "sam")
    path = "/admin/surveys/standard"
    before = len(action_plans.action_plans(tulsa, include_closed=True))
    for data, status, message in (
            ({"item": "overall", "owner": "x", "actions": "y", "due": "someday"}, 400, "due: 'someday'"),
            ({"item": "overall", "owner": "", "actions": "y", "due": "2027-01-01"}, 400, "owner"),
            ({"item": "knowledge", "owner": "x", "actions": "y", "due": "2027-01-01"}, 400, "has no target"),
            ({"item": "nothing", "owner": "x", "actions": "y", "due": "2027-01-01"}, 400, "nothing")):
        response = post(sam, f"{path}/action-plans", data, page=path)
        assert response.status_code == status and message in html.unescape(response.text), data
    assert post(sam, "/admin/surveys/action-plans/1", {"status": "done"}, page=path).status_code == 400
    assert post(sam, "/admin/surveys/action-plans/9999", {"status": "closed"}, page=path).status_code == 404
    assert sam.get("/admin/surveys/nope").status_code == 400
    assert sam.get(f"{path}?by=shoe-size").status_code == 400
    assert sam.post(f"{path}/action-plans", data={"item": "overall"}).status_code == 400  # no CSRF token
    for name in ("ana", "cal"):
        refused = post(client_for(tulsa, name), f"{path}/action-plans",
                       {"item": "overall", "owner": "x", "actions": "y", "due": "2027-01-01"}, page="/admin/queue")
        assert refused.status_code == 403, name
    assert client_for(tulsa, "rob").get("/admin/surveys").status_code == 403  # read_only: cases only
    assert len(action_plans.action_plans(tulsa, include_closed=True)) == before


def test_a_supervisor_adds_a_plan_and_draws_its_sample(staffed):
    from civiccrm.domain.cases import Customer, Resolution
    from civiccrm.services import cases
    from civiccrm.services.surveys import plans
    from tests.web_helpers import new_case

    for n in range(4):
        case = new_case(staffed, customer=Customer(name=f"Resident {n}", email=f"r{n}@example.org"))
        cases.close(staffed, case.tracking_number, Resolution.FIXED, actor="test")
    client = client_for(staffed, "sam")
    response = post(client, "/admin/surveys/plans", {"code": "nov-post-case", "instrument": "post-case",
                                                     "method": "simple_random", "sample_size": "2", "seed": "7"},
                    page="/admin/surveys")
    assert response.status_code == 302
    plan = plans.get_plan(staffed, "nov-post-case")
    assert (plan.sample_size, plan.seed, plan.method.value) == (2, 7, "simple_random")
    today = staffed.clock().astimezone(staffed.profile.tz).date().isoformat()
    drawn = post(client, "/admin/surveys/plans/nov-post-case/draw", {"from": today, "to": today},
                 page="/admin/surveys")
    assert drawn.status_code == 302
    page = client.get("/admin/surveys").text
    assert "Draw 1: 2 of 4 cases." in page and "nov-post-case" in page
    for data, message in (({"code": "Bad Code", "instrument": "post-case", "method": "census"}, "code"),
                          ({"code": "nov-post-case", "instrument": "post-case", "method": "census"}, "already exists"),
                          ({"code": "x", "instrument": "nope", "method": "census"}, "instrument"),
                          ({"code": "x", "instrument": "post-case", "method": "guess"}, "method"),
                          ({"code": "x", "instrument": "post-case", "method": "stratified"}, "strata"),
                          ({"code": "x", "instrument": "post-case", "method": "simple_random", "sample_size": "two"},
                           "sample_size"),
                          ({"code": "x", "instrument": "post-case", "method": "simple_random", "rate": "half"}, "rate")):
        bad = post(client, "/admin/surveys/plans", data, page="/admin/surveys")
        assert bad.status_code == 400 and message in bad.text, data
    for data, status in (({"from": "soon", "to": today}, 400), ({"from": today, "to": "2000-01-01"}, 400)):
        assert post(client, "/admin/surveys/plans/nov-post-case/draw", data, page="/admin/surveys"
                    ).status_code == status, data
    assert post(client, "/admin/surveys/plans/nope/draw", {"from": today, "to": today},
                page="/admin/surveys").status_code == 404
    analyst = client_for(staffed, "ana")
    assert post(analyst, "/admin/surveys/plans", {"code": "y", "instrument": "post-case", "method": "census"},
                page="/admin/surveys").status_code == 403
    assert post(analyst, "/admin/surveys/plans/nov-post-case/draw", {"from": today, "to": today},
                page="/admin/surveys").status_code == 403
