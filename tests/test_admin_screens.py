"""The admin's work queue and case page through the Flask test client, on SQLite and PostgreSQL."""

import re

from civiccrm import hookimpl, plugins
from civiccrm.services import cases
from tests.web_helpers import DEAD_ANIMAL, client_for, new_case, post


def queue_numbers(html: str) -> list[str]:
    return re.findall(r'<td><a href="/admin/cases/([^"]+)">', html)


def test_queue_sorted_by_due_time_with_counts(staffed):
    pothole, animal = new_case(staffed), new_case(staffed, DEAD_ANIMAL, description="A dead raccoon")
    client = client_for(staffed, "sam")
    page = client.get("/admin/queue")
    assert page.status_code == 200
    expected = sorted([pothole, animal], key=lambda c: c.due_at)
    assert queue_numbers(page.text) == [c.tracking_number for c in expected]
    assert "<strong>2</strong> open cases" in page.text


class StormDuty:
    """A tiny plugin: department workers also take neighbourhood services' cases (nhs), and not those of the
    pothole crew's work group (sent to another district for the storm)."""

    @hookimpl(tryfirst=True)
    def permission_allowed(self, deployment, actor, action, resource):
        if actor is None or actor.role != "department_worker" or not hasattr(resource, "department"):
            return None
        if resource.work_group == "public-works-street-and-traffic-district-1":
            return False
        return True if resource.department == "nhs" else None


def test_a_plugin_widens_and_narrows_the_queue_through_permission_allowed(staffed):
    pothole, animal = new_case(staffed), new_case(staffed, DEAD_ANIMAL, description="A dead raccoon")
    trail = new_case(staffed, "bicycle-or-pedestrian-trail", description="Trail washed out")
    pat = client_for(staffed, "pat")
    assert sorted(queue_numbers(pat.get("/admin/queue").text)) == sorted([pothole.tracking_number,
                                                                           trail.tracking_number])
    staffed.pm.register(StormDuty(), name="test-storm-duty")
    try:
        page = pat.get("/admin/queue").text
        assert sorted(queue_numbers(page)) == sorted([animal.tracking_number, trail.tracking_number])
        assert "<strong>2</strong> open cases" in page  # the counts use the same scope
        assert pat.get(f"/admin/cases/{animal.tracking_number}").status_code == 200
        assert pat.get(f"/admin/cases/{pothole.tracking_number}").status_code == 404
        assert len(queue_numbers(client_for(staffed, "sam").get("/admin/queue").text)) == 3  # others as before
    finally:
        staffed.pm.unregister(name="test-storm-duty")
    assert pat.get(f"/admin/cases/{animal.tracking_number}").status_code == 404


def test_department_worker_sees_only_their_cases_and_others_are_404(staffed):
    pothole, animal = new_case(staffed), new_case(staffed, DEAD_ANIMAL, description="A dead raccoon")
    pat, nia = client_for(staffed, "pat"), client_for(staffed, "nia")  # public works; the nhs-solid-waste group
    assert queue_numbers(pat.get("/admin/queue").text) == [pothole.tracking_number]
    assert queue_numbers(nia.get("/admin/queue").text) == [animal.tracking_number]
    assert pat.get(f"/admin/cases/{pothole.tracking_number}").status_code == 200
    hidden = pat.get(f"/admin/cases/{animal.tracking_number}")
    assert hidden.status_code == 404 and "raccoon" not in hidden.text
    assert pat.get("/admin/cases/KC-1999-000001").status_code == 404  # the same answer as no case at all
    refused = post(pat, f"/admin/cases/{animal.tracking_number}", {"note": "sneaky"})
    assert refused.status_code == 404
    assert [e.kind for e in cases.history(staffed, animal.tracking_number)] == ["created"]
    bulk = post(pat, "/admin/queue/bulk", {"case": [animal.tracking_number], "action": "assign_to_me"})
    assert bulk.status_code == 302
    assert [e.kind for e in cases.history(staffed, animal.tracking_number)] == ["created"]


def test_analyst_and_read_only_read_but_never_write(staffed):
    case = new_case(staffed)
    for name in ("ana", "rob"):
        client = client_for(staffed, name)
        page = client.get(f"/admin/cases/{case.tracking_number}")
        assert page.status_code == 200 and "Work the case" not in page.text
        assert post(client, f"/admin/cases/{case.tracking_number}", {"note": "x"}).status_code == 403
        assert post(client, "/admin/queue/bulk", {"case": [case.tracking_number], "action": "assign_to_me"}).status_code == 403
    assert [e.kind for e in cases.history(staffed, case.tracking_number)] == ["created"]


def test_one_form_replies_notes_assigns_and_closes(staffed):
    case = new_case(staffed)
    client = client_for(staffed, "cal")
    response = post(client, f"/admin/cases/{case.tracking_number}",
                    {"reply": "A crew is on the way", "note": "Caller sounded upset", "status": "in_progress"})
    assert response.status_code == 302
    history = cases.history(staffed, case.tracking_number)
    assert [(e.kind, e.actor) for e in history[1:]] == [("public_note", "cal"), ("note", "cal"), ("status_changed", "cal")]
    response = post(client, f"/admin/cases/{case.tracking_number}",
                    {"status": "closed", "resolution": "fixed", "resolution_note": "Patched"})
    closed = cases.get(staffed, case.tracking_number)
    assert closed.status.value == "closed" and closed.resolution.value == "fixed"
    page = client.get(f"/admin/cases/{case.tracking_number}").text
    assert "A crew is on the way" in page and "Closed" in page and "Reopen" in page


def test_closing_without_a_resolution_is_a_clear_400(staffed):
    case = new_case(staffed)
    client = client_for(staffed, "cal")
    response = post(client, f"/admin/cases/{case.tracking_number}", {"status": "closed"},)
    assert response.status_code == 400 and "resolution" in response.text
    assert cases.get(staffed, case.tracking_number).status.value == "new"


def test_reopen_and_merge(staffed):
    first, second = new_case(staffed), new_case(staffed, description="Same pothole again")
    client = client_for(staffed, "sam")
    page = client.get(f"/admin/cases/{second.tracking_number}").text
    assert first.tracking_number in page  # suggested as a nearby duplicate
    response = post(client, f"/admin/cases/{second.tracking_number}/merge", {"into": first.tracking_number})
    assert response.status_code == 302 and response.headers["Location"].endswith(first.tracking_number)
    merged = cases.get(staffed, second.tracking_number)
    assert merged.duplicate_of == first.tracking_number and merged.resolution.value == "duplicate"
    assert post(client, f"/admin/cases/{second.tracking_number}/reopen", {"reason": ""}).status_code == 400
    assert post(client, f"/admin/cases/{second.tracking_number}/reopen", {"reason": "Not the same hole"}).status_code == 302
    assert cases.get(staffed, second.tracking_number).status.value == "reopened"


def test_merge_into_a_case_one_cannot_see_is_404(staffed):
    pothole, animal = new_case(staffed), new_case(staffed, DEAD_ANIMAL)
    pat = client_for(staffed, "pat")
    assert post(pat, f"/admin/cases/{pothole.tracking_number}/merge", {"into": animal.tracking_number}).status_code == 404
    assert cases.get(staffed, pothole.tracking_number).status.value == "new"


def test_bulk_assign_to_me_status_and_work_group(staffed):
    numbers = [new_case(staffed).tracking_number for _ in range(3)]
    client = client_for(staffed, "sam")
    assert post(client, "/admin/queue/bulk", {"case": numbers[:2], "action": "assign_to_me"}).status_code == 302
    mine = client.get("/admin/queue?mine=1").text
    assert sorted(queue_numbers(mine)) == sorted(numbers[:2])
    post(client, "/admin/queue/bulk", {"case": numbers, "action": "status", "status": "in_progress"})
    assert {cases.get(staffed, n).status.value for n in numbers} == {"in_progress"}
    post(client, "/admin/queue/bulk", {"case": numbers[2:], "action": "assign", "work_group": "nhs-solid-waste"})
    assert cases.get(staffed, numbers[2]).work_group == "nhs-solid-waste"
    cal = client_for(staffed, "cal")  # a call taker may not move cases to another work group
    post(cal, "/admin/queue/bulk", {"case": numbers[:1], "action": "assign", "work_group": "nhs-solid-waste"})
    assert cases.get(staffed, numbers[0]).work_group != "nhs-solid-waste"


def test_queue_filters_and_keyset_pages(staffed, monkeypatch):
    from civiccrm.web.admin import queue

    monkeypatch.setattr(queue, "PAGE_SIZE", 2)
    made = [new_case(staffed) for _ in range(3)] + [new_case(staffed, DEAD_ANIMAL) for _ in range(2)]
    client = client_for(staffed, "sam")
    seen, url = [], "/admin/queue"
    while url:
        page = client.get(url).text
        seen += queue_numbers(page)
        found = re.search(r'<a href="([^"]+)" rel="next">', page)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert sorted(seen) == sorted(c.tracking_number for c in made) and len(seen) == 5
    animals = client.get(f"/admin/queue?type={DEAD_ANIMAL}").text
    assert "<strong>2</strong> open cases" in animals
    assert client.get("/admin/queue?department=public-works&work_group=public-works-street-and-traffic-district-1")\
        .text.count("<strong>3</strong> open cases") == 1
    assert "<strong>0</strong> open cases" in client.get("/admin/queue?overdue=1").text
    bad = client.get("/admin/queue?due_within=soon")
    assert bad.status_code == 400 and "due_within" in bad.text
    assert client.get("/admin/queue?status=closed").status_code == 400


def test_plugins_add_menu_links_and_case_actions(staffed):
    case = new_case(staffed)

    class Extra:
        @hookimpl
        def menu_links(self, deployment, actor):
            return [{"href": "/admin/potholes", "label": f"Potholes for {actor.name}"}]

        @hookimpl
        def case_actions(self, deployment, actor, case):
            return [{"href": f"/work-orders/new?case={case.tracking_number}", "label": "Open a work order"}]

    pm = plugins.load_plugins()
    pm.register(Extra(), name="extra-links")
    try:
        client = client_for(staffed, "sam")
        assert "Potholes for sam" in client.get("/admin/queue").text
        page = client.get(f"/admin/cases/{case.tracking_number}").text
        assert f"/work-orders/new?case={case.tracking_number}" in page and "Open a work order" in page
    finally:
        pm.unregister(name="extra-links")


def test_the_spanish_admin(staffed):
    from civiccrm.services import users

    users.set_language(staffed, "sam", "es")
    client = client_for(staffed, "sam")
    page = client.get("/admin/queue").text
    assert '<html lang="es">' in page and "Cola de trabajo" in page and "Work queue" not in page
