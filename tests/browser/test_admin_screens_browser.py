"""The call-taker, knowledge-base and operations screens in a real Chromium: take a call end to end, see the
possible duplicates before saving, edit an article, retry a failed delivery; axe-core on every screen."""

import re

from playwright.sync_api import expect

from civiccrm.services import knowledge
from tests.browser.conftest import log_in, screenshot, serious_violations
from tests.web_helpers import DOWNTOWN, POTHOLE, new_case


def test_take_a_call_end_to_end(page, live_server):
    knowledge.save(live_server.deployment, author="sam", service_code=POTHOLE, title="Potholes north of the river",
                   answer="Crews fill potholes within a week.", questions="Is it in a traffic lane?")
    log_in(page, live_server, "cal")
    page.get_by_role("link", name="Take a call").click()
    page.get_by_label("What is the call about?").fill("pothole north")
    page.get_by_role("button", name="Find the service type").click()
    assert serious_violations(page) == []
    page.get_by_role("link", name=re.compile("north of river", re.I)).first.click()
    assert "Crews fill potholes within a week." in page.locator("aside.kb").inner_text()
    assert serious_violations(page) == []
    screenshot(page, "admin-intake")
    page.get_by_label("What did the caller report?").fill("Deep pothole in the right lane of Main")
    page.get_by_label("How big is the pothole?").select_option("large")
    page.get_by_label("Latitude").fill("39.0400")
    page.get_by_label("Longitude").fill("-94.5600")
    page.get_by_role("button", name="Check the location").click()
    assert "Inside the city limits." in page.get_by_role("status").first.inner_text()
    assert page.get_by_label("What did the caller report?").input_value() == "Deep pothole in the right lane of Main"
    page.get_by_label("Name", exact=True).fill("Rosa Resident")
    page.get_by_label("Phone").fill("816-555-0101")
    page.get_by_label("Channel").select_option("walk_in")
    page.get_by_role("button", name="Create the case").click()
    expect(page.get_by_role("heading", name="Case created")).to_be_visible()
    readback = page.locator(".readback").first.inner_text()
    number = re.search(r"Your tracking number is (\S+)\.", readback).group(1)
    assert serious_violations(page) == []
    screenshot(page, "admin-intake-done")
    page.get_by_role("link", name="Open the case").click()
    assert number in page.content() and "Deep pothole in the right lane of Main" in page.content()


def test_duplicates_are_shown_before_the_case_is_saved(page, live_server):
    existing = new_case(live_server.deployment, description="The pothole already reported")
    log_in(page, live_server, "cal")
    page.goto(f"{live_server.url}/admin/intake?type={POTHOLE}")
    page.get_by_label("What did the caller report?").fill("Same pothole again")
    page.get_by_label("How big is the pothole?").select_option("small")
    page.get_by_label("Latitude").fill(str(DOWNTOWN[0]))
    page.get_by_label("Longitude").fill(str(DOWNTOWN[1]))
    page.get_by_role("button", name="Create the case").click()
    expect(page.get_by_role("heading", name="Possible duplicates")).to_be_visible()
    expect(page.get_by_role("link", name=existing.tracking_number)).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "admin-intake-duplicates")
    page.get_by_role("button", name=f"Same problem: the caller follows {existing.tracking_number}").click()
    assert f"Your tracking number is {existing.tracking_number}." in page.locator(".readback").first.inner_text()
    page.goto(f"{live_server.url}/admin/intake?type={POTHOLE}")
    page.get_by_label("What did the caller report?").fill("Same pothole, a new case this time")
    page.get_by_label("How big is the pothole?").select_option("small")
    page.get_by_label("Latitude").fill(str(DOWNTOWN[0]))
    page.get_by_label("Longitude").fill(str(DOWNTOWN[1]))
    page.get_by_role("button", name="Create the case").click()
    page.get_by_role("button", name="Create a new case anyway").click()
    expect(page.get_by_role("heading", name="Case created")).to_be_visible()


def test_edit_an_article_and_residents_see_it(page, live_server):
    article = knowledge.save(live_server.deployment, author="sam", service_code=POTHOLE, title="Potholes",
                             answer="Within a week.")
    log_in(page, live_server, "pat")  # public works owns potholes
    page.get_by_role("link", name="Knowledge base").click()
    assert serious_violations(page) == []
    screenshot(page, "admin-kb")
    page.goto(f"{live_server.url}/admin/kb/{article.id}")
    page.get_by_role("link", name="Edit (adds a version)").click()
    page.get_by_label("What to tell the caller").fill("Within five business days.")
    page.get_by_label("Show to residents on the public pages").check()
    assert serious_violations(page) == []
    page.get_by_role("button", name="Save as a new version").click()
    assert "Article saved (version 2)." in page.locator(".flash").first.inner_text()
    assert serious_violations(page) == []
    screenshot(page, "admin-kb-article")
    page.goto(f"{live_server.url}/help/{POTHOLE}")
    assert "Within five business days." in page.content()
    assert serious_violations(page) == []
    screenshot(page, "help-article")


def test_operations_retry_a_failed_delivery(page, live_server):
    from tests.test_admin_operations import dead_delivery

    outbox_id = dead_delivery(live_server.deployment, "SMTP 554 browser test")
    log_in(page, live_server, "sam")
    page.get_by_role("link", name="Operations").click()
    assert "SMTP 554 browser test" in page.content()
    assert serious_violations(page) == []
    screenshot(page, "admin-operations")
    page.get_by_role("button", name=f"Retry delivery {outbox_id}").click()
    assert "will be tried again now" in page.locator(".flash").first.inner_text()


def test_every_admin_screen_is_axe_clean(page, live_server):
    log_in(page, live_server, "ada")
    for path in ("/admin/config", f"/admin/config/sla/{POTHOLE}", "/admin/surveys", "/admin/surveys/kc-resident",
                 "/admin/users", "/admin/api-keys", "/admin/kb/new", "/help/"):
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert serious_violations(page) == [], path
        screenshot(page, "screen" + path.replace("/", "-"))


def test_an_administrator_adds_an_sla_version(page, live_server):
    log_in(page, live_server, "ada")
    page.goto(f"{live_server.url}/admin/config/sla/{POTHOLE}")
    page.get_by_label("Target", exact=True).fill("4")
    page.get_by_label("Why (kept with the version)").fill("browser test")
    page.get_by_role("button", name="Add the version").click()
    assert "New SLA policy version from" in page.locator(".flash").first.inner_text()
    assert "browser test" in page.content()
