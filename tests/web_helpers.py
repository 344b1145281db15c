"""Helpers for web tests: an app on a deployment, staff users of every role, CSRF tokens and logging in."""

import re

from civiccrm.domain.cases import CaseDraft, Location
from civiccrm.domain.users import Role

PASSWORD = "tangerine-lamp-quarry-81"
"""A password every test user gets (12+ characters, not a common one)."""
SECRET_KEY = "test-secret-key-" + "0" * 32

STAFF = {
    "ada": (Role.ADMINISTRATOR, (), ()),
    "sam": (Role.SUPERVISOR, (), ()),
    "cal": (Role.CALL_TAKER, (), ()),
    "pat": (Role.DEPARTMENT_WORKER, ("public-works",), ()),
    "nia": (Role.DEPARTMENT_WORKER, (), ("nhs-solid-waste",)),
    "ana": (Role.ANALYST, (), ()),
    "rob": (Role.READ_ONLY, (), ()),
}
"""username -> (role, departments, work groups)."""

POTHOLE = "pothole-north-of-river"  # public-works, work group public-works-street-and-traffic-district-1
DEAD_ANIMAL = "animals-pets-dead-animal-street"  # nhs, work group nhs-solid-waste
DOWNTOWN = (39.0997, -94.5786)

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def add_staff(deployment, names=None):
    from civiccrm.services import users

    for name in names or STAFF:
        role, departments, work_groups = STAFF[name]
        users.add_user(deployment, name, PASSWORD, role, departments=departments, work_groups=work_groups)


def make_app(deployment, **config):
    from civiccrm.web import create_app

    return create_app({"SECRET_KEY": SECRET_KEY, "ENV": "testing", **config}, deployment=deployment)


def new_case(deployment, service_code=POTHOLE, *, point=DOWNTOWN, description="A deep hole by the curb",
             channel="phone", customer=None):
    from civiccrm.services import cases

    location = Location(latitude=point[0], longitude=point[1], address="414 E 12th St") if point else Location()
    return cases.intake(deployment, CaseDraft(service_code=service_code, description=description, channel=channel,
                                              location=location, customer=customer), actor="test")


def csrf_token(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def login(client, username, password=PASSWORD, *, address=None):
    """Log in through the form (GET for the CSRF token, then POST); the POST's response."""
    environ = {"REMOTE_ADDR": address} if address else {}
    token = csrf_token(client.get("/admin/login", environ_base=environ).text)
    return client.post("/admin/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base=environ)


def post(client, path, data=None, *, page=None):
    """POST a form with the CSRF token read from ``page`` (default: the queue page)."""
    token = csrf_token(client.get(page or "/admin/queue").text)
    return client.post(path, data={**(data or {}), "csrf_token": token})


def client_for(deployment, username):
    """A test client of a new app on ``deployment``, logged in as ``username``."""
    client = make_app(deployment).test_client()
    assert login(client, username).status_code == 302
    return client
