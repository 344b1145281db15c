"""The queue table's rows built in Python (civiccrm/web/admin/queue_rows.py): every value escaped, the words in the
page's language, overdue and paused cases marked, the due time in the city's timezone."""

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from flask import Flask, g

from civiccrm.web.admin.queue_rows import queue_rows

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)
TZ = ZoneInfo("America/Chicago")
TAXONOMY = SimpleNamespace(work_groups={"streets": SimpleNamespace(name="Streets & Alleys")})


def row(**values):
    base = dict(id=7, tracking_number="KC-1", request_type="Pothole", service_code="pothole", status="open",
                due_at=NOW + timedelta(hours=3), sla_paused_at=None, work_group="streets", council_district="3",
                assignee=None)
    return SimpleNamespace(**{**base, **values})


@pytest.fixture
def language():
    app = Flask(__name__)
    with app.app_context():
        yield lambda code: setattr(g, "language", code)


def render(rows, can_work=True):
    return str(queue_rows(rows, now=NOW, can_work=can_work, taxonomy=TAXONOMY, tz=TZ,
                          case_url=lambda number: f"/admin/cases/{number}"))


def test_a_row_and_its_cells(language):
    html = render([row()])
    assert html.startswith("<tr>\n")
    assert 'name="case" value="KC-1" id="c-7" aria-label="Select KC-1"' in html
    assert '<a href="/admin/cases/KC-1">KC-1</a>' in html
    assert "<td>Pothole</td>" in html and "<td>Open</td>" in html and "<td>3</td>" in html
    assert '<time datetime="2026-03-02T18:00:00+00:00">2026-03-02 12:00</time></td>' in html  # Chicago, CST
    assert "<td>Streets &amp; Alleys</td>" in html and "<td>—</td>" in html  # nobody assigned
    assert "overdue" not in html and "checkbox" not in render([row()], can_work=False)


def test_every_stored_value_is_escaped(language):
    html = render([row(tracking_number='KC-"><script>', request_type="<b>Bad</b>", work_group="<i>gone</i>",
                       council_district="<u>", assignee="<img src=x>")])
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html and "<img" not in html
    assert 'value="KC-&#34;&gt;&lt;script&gt;"' in html and "&lt;b&gt;Bad&lt;/b&gt;" in html
    assert "<td>&lt;img src=x&gt;</td>" in html


def test_overdue_paused_untyped_and_undated(language):
    html = render([row(due_at=NOW - timedelta(hours=1), sla_paused_at=NOW, assignee="ana"),
                   row(id=8, tracking_number="KC-2", service_code=None, request_type=None, due_at=None,
                       work_group=None, council_district=None)])
    first, second = html.split("</tr>\n")[:2]
    assert first.startswith('<tr class="overdue">') and '<span class="badge badge-bad">overdue</span>' in first
    assert '<span class="badge">clock paused</span>' in first and "<td>ana</td>" in first
    assert '<span class="badge">No type yet</span>' in second and "<td>—</td>" in second and "<time" not in second


def test_spanish_and_no_rows(language):
    language("es")
    html = render([row(due_at=NOW - timedelta(hours=1), sla_paused_at=NOW)])
    assert 'aria-label="Seleccionar KC-1"' in html and "reloj en pausa" in html and "vencidos" in html
    assert render([]) == '<tr><td colspan="8">Ningún caso abierto coincide.</td></tr>\n'
