"""Browser tests: the real app served on loopback, Debian's Chromium driven by Playwright, axe-core checks,
and a screenshot of every test saved under test-artifacts/ (outside git).

Fixtures for any team's pages:
  live_server  -- module-scoped: a Kansas City deployment on SQLite with one staff user of every role
                  (tests/web_helpers.py STAFF, password PASSWORD), served by werkzeug on 127.0.0.1.
  browser      -- session-scoped headless Chromium (/usr/bin/chromium, or $CIVICCRM_CHROMIUM).
  page         -- a fresh browser context and page per test; screenshotted when the test ends.
Helpers: screenshot(page, name), serious_violations(page), log_in(page, server, username).
"""

import os
import re
import threading
from pathlib import Path

import attrs
import pytest
from playwright.sync_api import expect

# expect() waits for what JavaScript shows (the map, htmx swaps) as long as a page action may take on a loaded machine.
expect.set_options(timeout=15_000)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CIVICCRM_TEST_ARTIFACTS") or ROOT / "test-artifacts")
CHROMIUM = os.environ.get("CIVICCRM_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).with_name("vendor") / "axe.min.js"


@attrs.frozen
class LiveServer:
    url: str
    """Base URL, e.g. http://127.0.0.1:43121 (no trailing slash)."""
    deployment: object
    app: object


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium package (.ci/run does)", pytrace=False)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=["--no-sandbox", "--disable-dev-shm-usage"])
    yield chromium
    chromium.close()
    playwright.stop()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    from werkzeug.serving import make_server

    from civiccrm.services.deployment import init_deployment
    from tests.web_helpers import add_staff, make_app

    folder = tmp_path_factory.mktemp("live")
    deployment = init_deployment(f"sqlite:///{folder / 'civiccrm.db'}", "kansas-city")
    add_staff(deployment)
    app = make_app(deployment)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", deployment=deployment, app=app)
    server.shutdown()
    thread.join(10)
    deployment.engine.dispose()


def _artifact_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:150]


def screenshot(page, name: str) -> Path:
    """Save a full-page PNG under test-artifacts/screenshots/ and return its path."""
    path = ARTIFACTS / "screenshots" / f"{_artifact_name(name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def page(browser, request):
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    try:
        screenshot(page, f"{request.node.name}-end")
    finally:
        context.close()


def serious_violations(page) -> list[str]:
    """axe-core's serious and critical violations on the current page, one line each (empty is good)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
        .filter(v => v.impact === 'serious' || v.impact === 'critical')
        .map(v => v.id + ': ' + v.help + ' at ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', '))""")
    return found


def log_in(page, server: LiveServer, username: str, password: str | None = None) -> None:
    """Log in through the form, as a person would."""
    from tests.web_helpers import PASSWORD

    page.goto(f"{server.url}/admin/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password or PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
