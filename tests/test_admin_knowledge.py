"""The knowledge base: admin screens (/admin/kb) and what residents may read (/help), on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from civiccrm.services import knowledge
from tests.web_helpers import DEAD_ANIMAL, POTHOLE, client_for, csrf_token, make_app


def form_post(client, path, data):
    return client.post(path, data={"csrf_token": csrf_token(client.get(path).text), **data})


def test_write_an_article_and_every_edit_is_a_version(staffed):
    sam = client_for(staffed, "sam")
    response = form_post(sam, f"/admin/kb/new?type={POTHOLE}", {"type": POTHOLE, "title": "Potholes",
                                                                "answer": "Within a week."})
    assert response.status_code == 302
    article_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert knowledge.get(staffed, article_id).department == "public-works"  # the type's department
    pat = client_for(staffed, "pat")  # public works, which owns potholes
    edited = form_post(pat, f"/admin/kb/{article_id}/edit", {"title": "Potholes", "answer": "Within five business days.",
                                                             "public": "1", "based_on": "1"})
    assert edited.status_code == 302
    versions = knowledge.history(staffed, article_id)
    assert [(v.number, v.author, v.answer, v.public) for v in versions] == [
        (2, "pat", "Within five business days.", True), (1, "sam", "Within a week.", False)]
    page = pat.get(f"/admin/kb/{article_id}").text
    assert "Within a week." in page and "version 2 by pat" in page  # old versions stay readable
    intake = client_for(staffed, "cal").get(f"/admin/intake?type={POTHOLE}").text
    assert "Within five business days." in intake


def test_an_edit_over_a_newer_version_is_refused(staffed):
    article = knowledge.save(staffed, author="sam", service_code=POTHOLE, title="Potholes", answer="One.")
    knowledge.save(staffed, author="pat", article_id=article.id, title="Potholes", answer="Two.", based_on=1)
    sam = client_for(staffed, "sam")
    stale = form_post(sam, f"/admin/kb/{article.id}/edit", {"title": "Potholes", "answer": "Three.", "based_on": "1"})
    assert stale.status_code == 409 and "pat saved version 2" in stale.text
    assert knowledge.get(staffed, article.id).current.answer == "Two."


def test_editors_are_kept_to_their_departments(staffed):
    animals = knowledge.save(staffed, author="sam", service_code=DEAD_ANIMAL, title="Dead animals", answer="Next day.")
    general = knowledge.save(staffed, author="sam", title="Holidays", answer="Closed on city holidays.")
    pat = client_for(staffed, "pat")
    assert pat.get(f"/admin/kb/{animals.id}").status_code == 200  # everyone reads
    assert pat.get(f"/admin/kb/{animals.id}/edit").status_code == 403
    refused = pat.post(f"/admin/kb/{animals.id}/edit", data={
        "csrf_token": csrf_token(pat.get(f"/admin/kb/{animals.id}").text), "title": "x", "answer": "y"})
    assert refused.status_code == 403 and knowledge.get(staffed, animals.id).current.number == 1
    assert pat.get(f"/admin/kb/{general.id}/edit").status_code == 403
    assert pat.get("/admin/kb/new").status_code == 403  # a general article is for supervisors
    assert pat.get(f"/admin/kb/new?type={DEAD_ANIMAL}").status_code == 403
    assert pat.get(f"/admin/kb/new?type={POTHOLE}").status_code == 200
    for name in ("ana", "rob", "cal"):
        assert client_for(staffed, name).get(f"/admin/kb/{general.id}/edit").status_code == 403, name
    assert client_for(staffed, "ana").get("/admin/kb").status_code == 200
    assert pat.get("/admin/kb/999").status_code == 404


def test_search_and_bad_input(staffed):
    knowledge.save(staffed, author="sam", service_code=POTHOLE, title="Potholes", answer="Within five business days.")
    knowledge.save(staffed, author="sam", service_code=DEAD_ANIMAL, title="Dead animals", answer="Next day.")
    sam = client_for(staffed, "sam")
    found = sam.get("/admin/kb?q=FIVE business").text
    assert "Potholes" in found and "Dead animals" not in found
    assert sam.get("/admin/kb?q=" + "x" * 300).status_code == 400
    for data, message in (({"title": "", "answer": "x"}, "title: required"),
                          ({"title": "t", "answer": ""}, "answer: required"),
                          ({"title": "t" * 201, "answer": "x"}, "title: 201 characters"),
                          ({"title": "t", "answer": "bell \x07"}, "answer: contains a control character"),
                          ({"title": "t", "answer": "<script>x</script>"}, "answer: contains HTML"),
                          ({"title": "t", "answer": "x", "department": "nowhere"}, "department: no department")):
        response = form_post(sam, "/admin/kb/new", data)
        assert response.status_code == 400 and message in response.text, data
    assert sam.get("/admin/kb/new?type=no-such-type").status_code == 400
    bad_version = form_post(sam, f"/admin/kb/{knowledge.search(staffed)[0].id}/edit",
                            {"title": "t", "answer": "x", "based_on": "first"})
    assert bad_version.status_code == 400 and "based_on" in bad_version.text
    assert sam.post("/admin/kb/new", data={"title": "t", "answer": "x"}).status_code == 400  # no CSRF token
    assert len(knowledge.search(staffed)) == 2


def test_knowledge_versions_are_append_only(staffed):
    knowledge.save(staffed, author="sam", title="Holidays", answer="Closed on city holidays.")
    for statement in ("UPDATE kb_versions SET answer = 'x'", "DELETE FROM kb_versions"):
        with pytest.raises(DBAPIError, match="append-only"):
            with staffed.engine.begin() as connection:
                connection.execute(text(statement))


def test_residents_read_only_the_public_articles(staffed):
    public = knowledge.save(staffed, author="sam", service_code=POTHOLE, title="Potholes", answer="Within a week.",
                            timeframe="5 business days", public=True)
    knowledge.save(staffed, author="sam", service_code=DEAD_ANIMAL, title="Dead animals", answer="Staff only note.")
    knowledge.save(staffed, author="sam", title="Holidays", answer="Closed on city holidays.", public=True)
    resident = make_app(staffed).test_client()  # nobody logged in
    index = resident.get("/help/")
    assert index.status_code == 200
    assert "Potholes" in index.text and "Closed on city holidays." in index.text and "Dead animals" not in index.text
    page = resident.get(f"/help/{POTHOLE}")
    assert page.status_code == 200 and "Within a week." in page.text and "5 business days" in page.text
    assert resident.get(f"/help/{DEAD_ANIMAL}").status_code == 404
    assert resident.get("/help/no-such-type").status_code == 404
    assert "Potholes" not in resident.get("/help/?q=holidays").text
    knowledge.save(staffed, author="sam", article_id=public.id, title="Potholes", answer="Pulled back.", public=False)
    assert resident.get(f"/help/{POTHOLE}").status_code == 404  # the latest version decides
    spanish = resident.get("/help/", headers={"Accept-Language": "es"})
    assert 'lang="es"' in spanish.text and "Preguntas frecuentes" in spanish.text
