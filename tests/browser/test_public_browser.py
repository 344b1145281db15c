"""The residents' pages in a real Chromium: report a problem with JavaScript (type search, the map) and
without it, in Spanish, follow it, subscribe to alerts; axe-core finds no serious violation."""

import pytest
from playwright.sync_api import expect

from civiccrm.services import cases
from tests.browser.conftest import screenshot, serious_violations
from tests.web_helpers import DOWNTOWN


@pytest.fixture
def no_js_page(browser):
    context = browser.new_context(java_script_enabled=False, locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    screenshot(page, "public-no-js-end")
    context.close()


@pytest.fixture
def spanish_page(browser):
    context = browser.new_context(locale="es-MX", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    screenshot(page, "public-spanish-end")
    context.close()


def number_from(page) -> str:
    return page.url.rsplit("/", 1)[1]


def test_report_a_problem_with_javascript_and_the_map(page, live_server):
    page.goto(f"{live_server.url}/")
    assert serious_violations(page) == []
    screenshot(page, "public-choose")
    page.get_by_label("What is the problem?").fill("pothole north")
    page.locator("#type-results").get_by_role("link", name="Pothole (North of River)").click()  # swapped in by htmx
    expect(page.get_by_role("heading", name="Report a problem: Pothole (North of River)")).to_be_visible()
    map_svg = page.locator("#city-map svg")
    expect(map_svg).to_be_visible()  # shown only where JavaScript runs
    x, y = page.evaluate("""([lat, lon]) => {
        const svg = document.querySelector('#city-map svg'), d = svg.dataset, pt = svg.createSVGPoint();
        pt.x = +d.margin + (lon - d.west) * d.shrink * d.scale; pt.y = +d.margin + (d.north - lat) * d.scale;
        const screen = pt.matrixTransform(svg.getScreenCTM()), box = svg.getBoundingClientRect();
        return [screen.x - box.left, screen.y - box.top]; }""", list(DOWNTOWN))
    map_svg.click(position={"x": x, "y": y})
    assert abs(float(page.get_by_label("Latitude", exact=True).input_value()) - DOWNTOWN[0]) < 0.01
    assert abs(float(page.get_by_label("Longitude", exact=True).input_value()) - DOWNTOWN[1]) < 0.01
    page.get_by_label("How big is the pothole?").select_option("medium")
    page.get_by_label("Describe the problem").fill("Pothole by the bus stop, browser test")
    assert serious_violations(page) == []
    screenshot(page, "public-report-form")
    page.get_by_role("button", name="Send the request").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    case = cases.get(live_server.deployment, number_from(page))
    assert case.channel == "web" and case.location.council_district == "4"
    expect(page.get_by_text("Expected by")).to_be_visible()
    assert serious_violations(page) == []
    screenshot(page, "public-status")


def test_report_a_problem_without_javascript(no_js_page, live_server):
    page = no_js_page
    page.goto(f"{live_server.url}/")
    page.get_by_label("What is the problem?").fill("street light")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Street Light Out").first.click()
    assert page.locator("#city-map").is_hidden()
    page.get_by_label("Latitude", exact=True).fill(str(DOWNTOWN[0]))
    page.get_by_label("Longitude", exact=True).fill("-90.1994")  # St. Louis: outside the city
    page.get_by_label("Describe the problem").fill("Dark corner, no-JS test")
    page.get_by_role("button", name="Send the request").click()
    summary = page.locator("#error-summary")
    assert "outside the city limits" in summary.inner_text()
    assert page.get_by_label("Describe the problem").input_value() == "Dark corner, no-JS test"
    screenshot(page, "public-report-error")
    page.get_by_label("Longitude", exact=True).fill(str(DOWNTOWN[1]))
    page.get_by_role("button", name="Send the request").click()
    expect(page.get_by_role("heading", name="Thank you")).to_be_visible()
    number = number_from(page)
    page.goto(f"{live_server.url}/status")
    page.get_by_label("Request number").fill(number)
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", name=f"Request {number}")).to_be_visible()


def test_spanish_report_and_alerts(spanish_page, live_server):
    page = spanish_page
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Reportar un problema")).to_be_visible()
    assert page.locator("html").get_attribute("lang") == "es"
    assert serious_violations(page) == []
    page.get_by_label("¿Cuál es el problema?").fill("graffiti")
    page.get_by_role("button", name="Buscar").click()
    page.get_by_role("link", name="Graffiti on Private Property").first.click()
    page.get_by_label("Dirección o cruce más cercano").fill("414 E 12th St")
    page.get_by_label("Describa el problema").fill("Pintadas en la pared")
    page.get_by_label("Building wall").check()
    page.get_by_role("button", name="Enviar la solicitud").click()
    expect(page.get_by_role("heading", name="Gracias")).to_be_visible()
    page.get_by_role("link", name="Avisos de servicio").click()
    page.get_by_label("Correo electrónico", exact=True).fill("vecina@example.org")
    page.get_by_label("Distrito del concejo", exact=True).select_option("4")
    assert serious_violations(page) == []
    page.get_by_role("button", name="Suscribirse").click()
    expect(page.get_by_text("Revise su correo electrónico")).to_be_visible()
    screenshot(page, "public-alerts-es")


def test_alerts_page_and_an_unknown_request_are_accessible(page, live_server):
    page.goto(f"{live_server.url}/alerts")
    expect(page.get_by_role("heading", name="Service alerts").first).to_be_visible()
    assert serious_violations(page) == []
    page.get_by_role("button", name="Subscribe").click()  # no e-mail given
    assert "is not an e-mail address" in page.locator("#error-summary").inner_text()
    assert serious_violations(page) == []
    response = page.goto(f"{live_server.url}/status/KC-1999-000000")
    assert response.status == 404
    expect(page.get_by_role("alert")).to_be_visible()
    assert serious_violations(page) == []
