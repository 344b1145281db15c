"""Saved work-queue filters through the Flask test client, on SQLite and PostgreSQL."""

import re

from tests.web_helpers import DEAD_ANIMAL, client_for, new_case, post


def saved(html: str) -> dict[str, str]:
    return dict((name, href) for href, name in re.findall(r'<li><a href="(/admin/queue[^"]*)">([^<]+)</a>', html))


def test_save_use_replace_and_delete_a_filter(staffed):
    pothole, animal = new_case(staffed), new_case(staffed, DEAD_ANIMAL, description="A dead raccoon")
    client = client_for(staffed, "sam")
    response = post(client, "/admin/queue/filters", {"name": "  Dead   animals ", "type": DEAD_ANIMAL, "overdue": ""})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/admin/queue?type={DEAD_ANIMAL}")
    page = client.get("/admin/queue").text
    href = saved(page)["Dead animals"]
    shown = client.get(href.replace("&amp;", "&")).text
    assert animal.tracking_number in shown and pothole.tracking_number not in shown
    post(client, "/admin/queue/filters", {"name": "Dead animals", "type": DEAD_ANIMAL, "overdue": "1"})
    assert saved(client.get("/admin/queue").text) == {"Dead animals": f"/admin/queue?type={DEAD_ANIMAL}&amp;overdue=1"}
    filter_id = re.search(r'/admin/queue/filters/(\d+)/delete', client.get("/admin/queue").text).group(1)
    other = client_for(staffed, "cal")
    assert saved(other.get("/admin/queue").text) == {}  # filters are one's own
    assert post(other, f"/admin/queue/filters/{filter_id}/delete").status_code == 404
    assert post(client, f"/admin/queue/filters/{filter_id}/delete").status_code == 302
    assert saved(client.get("/admin/queue").text) == {}


def test_bad_filters_are_refused(staffed):
    client = client_for(staffed, "ana")  # readers save filters too
    for data, message in (({"name": ""}, "name: give the filter a name"),
                          ({"name": "x" * 101}, "name: 101 characters"),
                          ({"name": "ok", "due_within": "soon"}, "due_within"),
                          ({"name": "ok", "status": "closed"}, "status"),
                          ({"name": "bell\x07"}, "control character")):
        response = post(client, "/admin/queue/filters", data)
        assert response.status_code == 400 and message in response.text, data
    assert client.post("/admin/queue/filters", data={"name": "no token"}).status_code == 400
    assert saved(client.get("/admin/queue").text) == {}
