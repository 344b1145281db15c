"""The staff admin in a real Chromium: log in, work the queue, close, reopen and merge; scope rules; axe."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import log_in, screenshot, serious_violations
from tests.web_helpers import DEAD_ANIMAL, new_case


def test_log_in_and_the_queue(page, live_server):
    page.goto(f"{live_server.url}/admin/queue")
    assert page.url.startswith(f"{live_server.url}/admin/login")
    assert serious_violations(page) == []
    screenshot(page, "admin-login")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong username or password."
    log_in(page, live_server, "sam")
    assert page.url == f"{live_server.url}/admin/queue"
    expect(page.get_by_role("heading", name="Work queue")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "admin-queue")


def test_work_the_queue_assign_to_me(page, live_server):
    case = new_case(live_server.deployment, description="Pothole for the queue test")
    log_in(page, live_server, "cal")
    page.get_by_label(f"Select {case.tracking_number}").check()
    page.get_by_role("button", name="Assign to me").first.click()
    assert page.locator(".flash").first.inner_text() == "1 case changed."
    row = page.locator("tr", has=page.get_by_role("link", name=case.tracking_number))
    assert row.locator("td").last.inner_text() == "cal"
    page.get_by_label("Assigned to me").check()
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("link", name=case.tracking_number)).to_be_visible()
    screenshot(page, "admin-queue-mine")


def test_close_with_a_resolution_reopen_and_merge(page, live_server):
    deployment = live_server.deployment
    keep = new_case(deployment, description="The original pothole")
    duplicate = new_case(deployment, description="Someone else reports the same pothole")
    log_in(page, live_server, "sam")
    page.goto(f"{live_server.url}/admin/cases/{keep.tracking_number}")
    expect(page.get_by_role("heading", name="SLA clock")).to_be_visible()
    assert page.locator("svg[role=img] path").count() == 1  # the council district drawn inline
    assert serious_violations(page) == []
    screenshot(page, "admin-case")
    page.get_by_label("Reply to the resident (public)").fill("We have scheduled a crew.")
    page.get_by_label("Resolution (closes the case)").select_option("fixed")
    page.get_by_label("Closing note").fill("Filled with asphalt")
    page.get_by_role("button", name="Save").click()
    assert "Closed (Fixed)" in page.locator("dl.facts").inner_text()
    assert "We have scheduled a crew." in page.locator(".timeline").inner_text()
    page.get_by_label("Why is it reopened?").fill("The patch sank")
    page.get_by_role("button", name="Reopen").click()
    assert "Reopened" in page.locator("dl.facts").inner_text()
    screenshot(page, "admin-case-reopened")
    page.goto(f"{live_server.url}/admin/cases/{duplicate.tracking_number}")
    expect(page.get_by_role("link", name=keep.tracking_number).first).to_be_visible()  # a nearby duplicate
    page.get_by_label("Tracking number of the case to keep").fill(keep.tracking_number)
    page.get_by_role("button", name="Merge", exact=True).click()
    assert page.url.endswith(keep.tracking_number)
    page.goto(f"{live_server.url}/admin/cases/{duplicate.tracking_number}")
    assert re.search(r"Closed \(Duplicate\)", page.locator("dl.facts").inner_text())


def test_department_worker_is_refused_another_departments_case(page, live_server):
    animal = new_case(live_server.deployment, DEAD_ANIMAL, description="A dead deer on the road")
    log_in(page, live_server, "pat")  # public works
    response = page.goto(f"{live_server.url}/admin/cases/{animal.tracking_number}")
    assert response.status == 404
    assert "dead deer" not in page.content()
    screenshot(page, "admin-case-refused")
    page.goto(f"{live_server.url}/admin/queue")
    assert page.get_by_role("link", name=animal.tracking_number).count() == 0


def test_keyboard_reaches_the_main_content(page, live_server):
    log_in(page, live_server, "ana")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    assert skip.evaluate("element => element === document.activeElement")
    assert skip.bounding_box()["x"] >= 0  # shown when focused
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")


def test_the_triage_queue_and_giving_a_case_its_type(page, live_server):
    """A case nobody could classify: found through the queue's triage view, typed from its page."""
    from civiccrm.domain.cases import CaseDraft
    from civiccrm.services import cases
    from tests.web_helpers import POTHOLE

    deployment = live_server.deployment
    case = cases.intake(deployment, CaseDraft(service_code=None, description="Something odd by the river",
                                              channel="email"), actor="test")
    log_in(page, live_server, "sam")
    page.get_by_role("link", name=re.compile(r"Triage \(no type\)")).click()
    assert page.url.endswith("/admin/queue?triage=1")
    page.get_by_role("link", name=case.tracking_number).click()
    expect(page.get_by_role("heading", name=f"{case.tracking_number}: No type yet")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "admin-case-triage")
    page.get_by_label("Service type", exact=True).select_option(POTHOLE)
    page.get_by_role("button", name="Set the type").click()
    department = deployment.profile.taxonomy.departments["public-works"].name
    assert department in page.locator("dl.facts").inner_text()
    expect(page.get_by_role("heading", name=re.compile(re.escape(case.tracking_number) + ": Pothole"))).to_be_visible()
