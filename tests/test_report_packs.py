"""Report packs: the render contract, the council-monthly pack and its 311 matrix, `civiccrm report packs|render`.

The data are built through the services (intake, close, survey invitation on close, answer)
with a controlled clock, on SQLite and PostgreSQL; the figures expected are worked out by
hand beside the data.
"""

import csv
import html
import io
import json
import re
from datetime import datetime
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import attrs
import pluggy
import pytest
from click.testing import CliRunner

from civiccrm import hookimpl, hookspecs, plugins
from civiccrm.cli import cli
from civiccrm.cli.params import inclusive_range
from civiccrm.domain.cases import CaseDraft, Customer, Resolution
from civiccrm.errors import CivicError
from civiccrm.registries import Channel, Rendered, ReportPack
from civiccrm.metrics.matrix import matrix, quadrant
from civiccrm.services import cases
from civiccrm.services import outbox as delivery
from civiccrm.services.surveys import answers as survey_answers
from civiccrm_plugins import council_pack

CHICAGO = ZoneInfo("America/Chicago")
FROM, TO = "2026-03-01", "2026-03-31"  # daylight time starts 2026-03-08
START, END = inclusive_range(FROM, TO, CHICAGO)

KCPD = "kcpd-parking-control"  # abandoned-vehicle: 5 calendar days
BRWF = "parks-rec-landscape-services-brwf"  # bruce-r-watkins-freeway: 21 calendar days
PW1 = "public-works-street-and-traffic-district-1"  # pothole-north-of-river: 8 calendar days
BRWF_LABEL = "Parks & Rec-Landscape Services-BRWF"


def local(*args) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


class Clock:
    def __init__(self):
        self.now = local(2026, 1, 1)

    def __call__(self):
        return self.now


class Outbox:
    """Takes the survey invitations instead of the SMTP channel: address -> token."""

    def __init__(self):
        self.tokens = {}

    def send(self, deployment, address, subject, body):
        self.tokens[address] = re.search(r"/survey/([A-Za-z0-9_-]+)", body).group(1)
        return f"test-{len(self.tokens)}"

    @hookimpl
    def register_channels(self, register):
        register(Channel("email", "E-mail", outbound=True, send=self.send))


@pytest.fixture
def outbox(deployment):
    """The box sends e-mail in place of the SMTP channel plugin while the test runs."""
    box = Outbox()
    email = deployment.pm.unregister(name="civiccrm_plugins.email_channel")
    deployment.pm.register(box, name="test-outbox")
    try:
        yield box
    finally:
        deployment.pm.unregister(name="test-outbox")
        deployment.pm.register(email, name="civiccrm_plugins.email_channel")


# (name, service code, channel, opened, closed or None, answered at or None, department_service, timeliness)
CASES = [
    # KCPD parking control: 6 closed in March, 5 on time (k4 took 10 days); 4 answers, 3 acceptable.
    ("k1", "abandoned-vehicle", "phone", local(2026, 3, 2, 10), local(2026, 3, 3, 10), local(2026, 3, 5, 9), 5, 5),
    ("k2", "abandoned-vehicle", "phone", local(2026, 3, 4, 10), local(2026, 3, 5, 10), local(2026, 3, 6, 9), 4, 2),
    ("k3", "abandoned-vehicle", "phone", local(2026, 3, 9, 10), local(2026, 3, 10, 10), local(2026, 3, 11, 9), 3, 1),
    ("k4", "abandoned-vehicle", "phone", local(2026, 3, 10, 10), local(2026, 3, 20, 10), local(2026, 3, 21, 9), 1, 1),
    ("k5", "abandoned-vehicle", "phone", local(2026, 3, 12, 10), local(2026, 3, 13, 10), None, None, None),
    ("k6", "abandoned-vehicle", "phone", local(2026, 3, 25, 10), None, None, None, None),  # still open
    ("k7", "abandoned-vehicle", "phone", local(2026, 3, 31, 20), local(2026, 3, 31, 23, 30), None, None, None),
    ("k8", "abandoned-vehicle", "phone", local(2026, 3, 31, 22), local(2026, 4, 1, 0, 30), None, None, None),  # closed after
    # Parks & Rec BRWF: b1 closed in February but answered in March (satisfaction only);
    # b4 answered in April (timeliness only). 3 closed, all on time; 3 answers, 2 acceptable.
    ("b1", "bruce-r-watkins-freeway", "web", local(2026, 2, 10, 10), local(2026, 2, 12, 10), local(2026, 3, 2, 9), 2, 5),
    ("b2", "bruce-r-watkins-freeway", "web", local(2026, 3, 3, 10), local(2026, 3, 5, 10), local(2026, 3, 7, 9), 5, 5),
    ("b3", "bruce-r-watkins-freeway", "web", local(2026, 3, 16, 10), local(2026, 3, 18, 10), local(2026, 3, 20, 9), 4, 4),
    ("b4", "bruce-r-watkins-freeway", "web", local(2026, 3, 28, 10), local(2026, 3, 30, 10), local(2026, 4, 2, 9), 1, 1),
    # Public Works district 1: one pothole closed after 18 days (late), answered 5.
    ("p1", "pothole-north-of-river", "email", local(2026, 3, 2, 10), local(2026, 3, 20, 10), local(2026, 3, 21, 9), 5, 4),
]

EXPECTED_MATRIX = [
    # work group, closed, on_time, on_time_known, answered, acceptable, quadrant
    (KCPD, 6, 5, 6, 4, 3, "below-both"),
    (BRWF, 3, 3, 3, 3, 2, "timely-only"),
    (PW1, 1, 0, 1, 1, 1, "satisfied-only"),
]


@pytest.fixture
def loaded(deployment, outbox):
    """The cases above, with their invitations and answers, written event by event in time order."""
    clock = Clock()
    deployment.clock = clock
    events = []
    for name, code, channel, opened, closed, answered, service, timely in CASES:
        events.append((opened, 0, name))
        if closed:
            events.append((closed, 1, name))
        if answered:
            events.append((answered, 2, name))
    by_name = {row[0]: row for row in CASES}
    tracking = {}
    for at, kind, name in sorted(events):
        _, code, channel, opened, closed, answered, service, timely = by_name[name]
        clock.now = at
        if kind == 0:
            customer = Customer(email=f"{name}@example.org") if answered else None
            case = cases.intake(deployment, CaseDraft(service_code=code, description=f"case {name}", channel=channel,
                                                      customer=customer, opened_at=opened))
            tracking[name] = case.tracking_number
        elif kind == 1:
            cases.close(deployment, tracking[name], Resolution.FIXED)
            delivery.run(deployment, once=True)  # the invitation goes out from the outbox, as `civiccrm deliver` sends it
        else:
            token = outbox.tokens[f"{name}@example.org"]
            survey_answers.answer(deployment, token, {"department_service": service, "timeliness": timely})
    clock.now = local(2026, 4, 15, 12)
    return deployment


def _grid(deployment, question="department_service", **targets):
    return matrix(deployment.engine, start=START, end=END, instrument="post-case", question=question,
                  acceptable_from=3, timeliness_target=targets.get("timeliness", 0.85),
                  satisfaction_target=targets.get("satisfaction", 0.85))


def test_matrix_figures(loaded):
    grid = _grid(loaded)
    assert [(r.work_group, r.closed, r.on_time, r.on_time_known, r.answered, r.acceptable, r.quadrant)
            for r in grid.rows] == EXPECTED_MATRIX
    kcpd, brwf, pw1 = grid.rows
    assert kcpd.label == "KCPD-Parking Control-" and kcpd.department == "kcpd"
    assert brwf.label == BRWF_LABEL and brwf.department == "parks-rec"
    assert kcpd.timeliness == pytest.approx(5 / 6) and kcpd.satisfaction == pytest.approx(0.75)
    assert brwf.timeliness == 1.0 and brwf.satisfaction == pytest.approx(2 / 3)
    assert pw1.timeliness == 0.0 and pw1.satisfaction == 1.0
    total = grid.total
    assert (total.closed, total.on_time, total.on_time_known, total.answered, total.acceptable) == (10, 8, 10, 8, 6)
    assert total.quadrant == "below-both"


def test_matrix_other_question_and_targets(loaded):
    """The timeliness question (answers 5,2,1,1 / 5,5,4 / 4) and lower targets move the groups."""
    grid = _grid(loaded, question="timeliness", timeliness=0.8, satisfaction=0.5)
    assert [(r.work_group, r.answered, r.acceptable, r.quadrant) for r in grid.rows] == [
        (KCPD, 4, 1, "timely-only"), (BRWF, 3, 3, "meets-both"), (PW1, 1, 1, "satisfied-only"),
    ]


def test_matrix_period_edges(loaded):
    """March 31 alone: k7 closed 23:30 CDT counts, k8 closed 00:30 the next day does not."""
    start, end = inclusive_range("2026-03-31", "2026-03-31", CHICAGO)
    grid = matrix(loaded.engine, start=start, end=end, instrument="post-case", question="department_service",
                  acceptable_from=3, timeliness_target=0.85, satisfaction_target=0.85)
    assert [(r.work_group, r.closed, r.on_time, r.answered, r.quadrant) for r in grid.rows] == [(KCPD, 1, 1, 0, None)]


def test_quadrants():
    targets = {"timeliness_target": 0.85, "satisfaction_target": 0.85}
    assert quadrant(0.85, 0.85, **targets) == "meets-both"
    assert quadrant(0.9, 0.84, **targets) == "timely-only"
    assert quadrant(0.5, 0.9, **targets) == "satisfied-only"
    assert quadrant(0.5, 0.5, **targets) == "below-both"
    assert quadrant(None, 0.9, **targets) is None and quadrant(0.9, None, **targets) is None


def test_matrix_rejects_bad_targets(sqlite_deployment):
    with pytest.raises(CivicError, match="timeliness_target: 85 is not a share between 0 and 1"):
        matrix(sqlite_deployment.engine, start=START, end=END, instrument="post-case", question="department_service",
               acceptable_from=3, timeliness_target=85, satisfaction_target=0.85)


# --- the council-monthly pack -----------------------------------------------------------------


def _render(deployment, fmt):
    pack = plugins.report_pack("council-monthly", profile=deployment.profile, pm=deployment.pm)
    rendered = pack.render_report(deployment, start=START, end=END, format=fmt)
    assert rendered.media_type == {"json": "application/json", "csv": "text/csv",
                                   "html": "text/html"}[fmt] + "; charset=utf-8"
    return rendered.content.decode("utf-8")


def test_council_pack_json(loaded):
    data = json.loads(_render(loaded, "json"))
    assert data["pack"] == "council-monthly" and data["city"] == "Kansas City, Missouri"
    assert data["period"] == {"start": "2026-03-01T00:00:00-06:00", "end": "2026-04-01T00:00:00-05:00",
                              "first_day": FROM, "last_day": TO}
    groups = {g["key"]: g for g in data["summary"]["groups"]}
    assert {k: (g["opened"], g["closed"], g["backlog"]) for k, g in groups.items()} == {
        "kcpd": (8, 6, 2), "parks-rec": (3, 3, 0), "public-works": (1, 1, 0),
    }
    assert groups["kcpd"]["on_time"] == 5 and groups["kcpd"]["on_time_known"] == 6
    assert data["summary"]["by"] == "department" and data["summary"]["total"]["opened"] == 12
    assert data["channel_mix"] == [{"channel": "phone", "count": 8, "share": pytest.approx(8 / 12)},
                                   {"channel": "web", "count": 3, "share": 0.25},
                                   {"channel": "email", "count": 1, "share": pytest.approx(1 / 12)}]
    grid = data["matrix"]
    assert grid["question"] == "department_service" and grid["acceptable_from"] == 3
    assert grid["targets"] == {"timeliness": 0.85, "satisfaction": 0.85}
    assert [(r["work_group"], r["closed"], r["on_time"], r["on_time_known"], r["answered"], r["acceptable"],
             r["quadrant"]) for r in grid["rows"]] == EXPECTED_MATRIX
    assert grid["rows"][1]["label"] == BRWF_LABEL and grid["rows"][1]["satisfaction"] == pytest.approx(2 / 3)
    assert {m["name"] for m in grid["definitions"]} == {"timeliness", "satisfaction", "quadrant"}


def test_council_pack_csv(loaded):
    rows = list(csv.reader(io.StringIO(_render(loaded, "csv"), newline="")))
    sections = [[]]
    for row in rows:
        if row:
            sections[-1].append(row)
        else:
            sections.append([])
    assert [s[1][0] for s in sections] == ["report", "summary", "channel_mix", "matrix"]
    assert all(s[0][0] == "section" and all(r[0] == s[1][0] for r in s[1:]) for s in sections)
    report = {r[1]: r[2] for r in sections[0][1:]}
    assert report["start"] == "2026-03-01T00:00:00-06:00" and report["satisfaction_question"] == "department_service"
    header, *matrix_rows = sections[3]
    table = [dict(zip(header, r)) for r in matrix_rows]
    assert [(r["work_group"], r["closed"], r["on_time_known"], r["answered"], r["acceptable"], r["quadrant"])
            for r in table] == [(wg, str(c), str(k), str(a), str(ok), q) for wg, c, _, k, a, ok, q in EXPECTED_MATRIX] + [
        ("", "10", "10", "8", "6", "below-both")]
    assert table[1]["label"] == BRWF_LABEL and table[1]["satisfaction"] == "0.6667" and table[1]["timeliness"] == "1.0000"
    summary_header, *summary_rows = sections[1]
    assert [r[1] for r in summary_rows] == ["kcpd", "parks-rec", "public-works", ""]
    assert sections[2][1] == ["channel_mix", "phone", "8", "0.6667"]


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text, self.open = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag != "meta":  # the page's only void element
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):  # <circle .../> in the SVG
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, (tag, self.open[-5:])
        self.open.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_council_pack_html(loaded):
    page = _render(loaded, "html")
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert parser.open == []  # every element closed, in order
    text = "".join(parser.text)
    assert "Parks &amp; Rec-Landscape Services-BRWF" in page and "Parks & Rec-Landscape Services-BRWF" not in page
    assert BRWF_LABEL in text and "KCPD-Parking Control-" in text
    names = [tag for tag, _ in parser.tags]
    assert names.count("svg") == 1 and names.count("circle") == 3 and names.count("line") == 2
    assert not any(tag in ("script", "link", "img", "iframe") for tag in names)
    assert not any(v and re.match(r"(https?:)?//", v) for _, attributes in parser.tags for k, v in attributes.items()
                   if k in ("src", "href"))
    assert "83.3% (5/6)" in text and "66.7% (2/3)" in text and "timely, below the satisfaction target" not in text
    assert "on time, below the satisfaction target" in text
    assert "timeliness = the work group's cases closed in the period" in text


def test_council_pack_escapes_labels(sqlite_deployment):
    """A work group label with markup is escaped everywhere it is printed."""
    from civiccrm.store.tables import WorkGroupRow

    with sqlite_deployment.engine.begin() as conn:
        conn.execute(WorkGroupRow.__table__.update().where(WorkGroupRow.__table__.c.code == KCPD)
                     .values(name='<b>"Parking"</b> & Co'))
    sqlite_deployment.clock = lambda: local(2026, 3, 10, 12)
    case = cases.intake(sqlite_deployment, CaseDraft(service_code="abandoned-vehicle", description="car",
                                                     channel="phone", opened_at=local(2026, 3, 2, 10)))
    cases.close(sqlite_deployment, case.tracking_number, Resolution.FIXED)
    page = _render(sqlite_deployment, "html")
    assert "<b>" not in page and "&lt;b&gt;&quot;Parking&quot;&lt;/b&gt; &amp; Co" in page


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
def test_council_pack_for_a_city_without_the_post_case_survey(tmp_path, fmt):
    """Tulsa (and any new city) has no 'post-case' survey: the pack still renders its summary and
    channel mix, and marks the matrix "no survey configured" naming what the profile lacks."""
    from civiccrm.services.deployment import init_deployment

    tulsa = init_deployment(f"sqlite:///{tmp_path / 'tulsa.db'}", "tulsa")
    try:
        assert "post-case" not in tulsa.profile.surveys
        text = _render(tulsa, fmt)
    finally:
        tulsa.engine.dispose()
    if fmt == "html":
        text = html.unescape(text)
    assert "no survey configured: no survey 'post-case' in" in text and "known: employee, standard" in text
    if fmt == "json":
        data = json.loads(text)
        assert data["matrix"] is None and data["summary"]["groups"] is not None and "channel_mix" in data
    if fmt == "html":
        assert "<h2>Summary by department</h2>" in text and "No survey configured." in text


def test_council_pack_settings(sqlite_deployment):
    profile = sqlite_deployment.profile

    def with_settings(table):
        plugins_table = {**profile.settings.get("plugins", {}), "council_monthly": table}
        sqlite_deployment.profile = attrs.evolve(profile, settings={**profile.settings, "plugins": plugins_table})
        return council_pack.settings(sqlite_deployment)

    found = with_settings({"satisfaction_question": "customer_service_311"})
    assert found["question"].code == "customer_service_311" and found["satisfaction_target"] == 0.90
    assert found["timeliness_target"] == 0.85
    with pytest.raises(CivicError, match="satisfaction_question: 'nope' is not a rated question of 'post-case'"):
        with_settings({"satisfaction_question": "nope"})
    with pytest.raises(CivicError, match="instrument: no survey 'exit'"):
        with_settings({"instrument": "exit"})
    with pytest.raises(CivicError, match="timeliness_target: 1.5 is not a share"):
        with_settings({"timeliness_target": 1.5})
    with pytest.raises(CivicError, match="unknown key 'target'"):
        with_settings({"target": 0.8})


# --- the contract: register and render_report -------------------------------------------------


def _packs(*registrations) -> dict:
    """What ``report_packs`` collects from a plugin calling ``register(ReportPack(*args, **kwargs))`` for each one."""
    pm = pluggy.PluginManager("civiccrm")
    pm.add_hookspecs(hookspecs)

    class Plugin:
        @hookimpl
        def register_report_packs(self, register):
            for args, kwargs in registrations:
                register(ReportPack(*args, **kwargs))

    pm.register(Plugin())
    return plugins.report_packs(pm)


def _render_nothing(deployment, *, start, end, format):
    return Rendered(b"", "text/plain")


@pytest.mark.parametrize("args, kwargs, message", [
    (("Council Monthly", _render_nothing), {}, "pack 'Council Monthly': a name is lower-case"),
    (("x", "not a function"), {}, "pack 'x': render must be callable"),
    (("x", _render_nothing), {"formats": "json"}, "formats must be a non-empty tuple"),
    (("x", _render_nothing), {"formats": ()}, "formats must be a non-empty tuple"),
    (("x", _render_nothing), {"formats": ("json", "PDF")}, "formats ('json', 'PDF'); each a lower-case name"),
    (("x", _render_nothing), {"formats": ("json", "json")}, "formats ('json', 'json'); each a lower-case name"),
])
def test_register_validates(args, kwargs, message):
    with pytest.raises(CivicError) as caught:
        _packs((args, kwargs))
    assert message in str(caught.value)


def test_register_defaults_and_duplicates():
    pack = _packs((("x", _render_nothing), {}))["x"]
    assert (pack.description, pack.formats) == ("", ("json", "csv", "html"))
    assert _packs((("x", _render_nothing), {"formats": ["html"]}))["x"].formats == ("html",)
    assert _packs((("x", _render_nothing), {"formats": ("pdf", "png")}))["x"].formats == ("pdf", "png")  # an open set
    with pytest.raises(CivicError, match="two plugins register the report pack 'x'"):
        _packs((("x", _render_nothing), {}), (("x", _render_nothing), {}))


def test_render_report_validates(sqlite_deployment):
    calls = []

    def render(deployment, *, start, end, format):
        calls.append((start, end, format))
        return "text, not Rendered" if format == "csv" else Rendered(b"%PDF-1.7", "application/pdf")

    pack = _packs((("echo", render), {"formats": ("json", "csv")}))["echo"]
    assert pack.render_report(sqlite_deployment, start=START, end=END) == Rendered(b"%PDF-1.7", "application/pdf")
    assert calls == [(START, END, "json")]
    with pytest.raises(CivicError, match=r"format: report pack 'echo' renders json, csv, not 'html'"):
        pack.render_report(sqlite_deployment, start=START, end=END, format="html")
    with pytest.raises(CivicError, match="start: a timezone-aware datetime is needed"):
        pack.render_report(sqlite_deployment, start=datetime(2026, 3, 1), end=END, format="json")
    with pytest.raises(CivicError, match="end: .* is not after start"):
        pack.render_report(sqlite_deployment, start=END, end=START, format="json")
    with pytest.raises(CivicError, match="render returned str, not Rendered"):
        pack.render_report(sqlite_deployment, start=START, end=END, format="csv")
    assert len(calls) == 2


def test_enabled_for(sqlite_deployment):
    pack = _packs((("echo", _render_nothing), {}))["echo"]
    profile = sqlite_deployment.profile
    assert profile.report_packs == ("council-monthly", "kcstat", "resident-survey", "employee-survey", "budget")
    assert not pack.enabled_for(profile)
    assert pack.enabled_for(attrs.evolve(profile, report_packs=()))
    assert pack.enabled_for(attrs.evolve(profile, report_packs=("council-monthly", "echo")))


def test_docs_example_pack_renders(loaded):
    """The register_report_packs example in docs/plugin_hooks.md renders under the contract."""
    import types

    from test_docs import PLUGIN_HOOKS, examples, hook_sections

    (code,) = examples(hook_sections(PLUGIN_HOOKS.read_text(encoding="utf-8"))["register_report_packs"][1])
    module = types.ModuleType("docs_example_backlog_pack")
    exec(compile(code, str(PLUGIN_HOOKS), "exec"), module.__dict__)
    loaded.pm.register(module, name=module.__name__)
    try:
        pack = plugins.report_pack("backlog", profile=attrs.evolve(loaded.profile, report_packs=()), pm=loaded.pm)
        assert pack.formats == ("json", "csv")
        data = json.loads(pack.render_report(loaded, start=START, end=END, format="json").content)
        assert data[0] == {"department": "KCPD", "opened": 8, "closed": 6, "backlog": 2}
        rendered = pack.render_report(loaded, start=START, end=END, format="csv")
        assert rendered.media_type == "text/csv; charset=utf-8"
        rows = list(csv.reader(io.StringIO(rendered.content.decode("utf-8"))))
        assert rows[0] == ["department", "opened", "closed", "backlog"] and rows[2] == ["Parks & Rec", "3", "3", "0"]
    finally:
        loaded.pm.unregister(name=module.__name__)


# --- the command line --------------------------------------------------------------------------


class EchoPack:
    """A throwaway third-party pack: the period it was asked for, as JSON."""

    @hookimpl
    def register_report_packs(self, register):
        register(ReportPack("test-echo", self.render, description="Echo the period", formats=("json",)))

    @staticmethod
    def render(deployment, *, start, end, format):
        return Rendered.text(json.dumps({"city": deployment.profile.slug, "start": start.isoformat(),
                                         "end": end.isoformat(), "format": format}), "application/json")


@pytest.fixture
def echo_pack(deployment):
    deployment.pm.register(EchoPack(), name="test-echo-pack")
    try:
        yield
    finally:
        deployment.pm.unregister(name="test-echo-pack")


def _url(deployment) -> str:
    return deployment.engine.url.render_as_string(hide_password=False)


def _invoke(deployment, *args):
    return CliRunner().invoke(cli, ["--db", _url(deployment), "report", *args])


def _one_line_error(result, message):
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output
    assert "Traceback" not in result.output


def test_cli_packs_lists_builtin_and_plugin_packs(deployment, echo_pack):
    result = _invoke(deployment, "packs", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {row["name"]: row for row in data["packs"]}
    assert rows["council-monthly"]["enabled"] is True
    assert rows["council-monthly"]["formats"] == ["json", "csv", "html"]
    assert rows["test-echo"] == {"name": "test-echo", "description": "Echo the period", "formats": ["json"],
                                 "enabled": False}
    assert data["enabled_but_not_registered"] == []
    text = _invoke(deployment, "packs").output
    assert "council-monthly  [json, csv, html; enabled]" in text
    assert "test-echo  [json; not enabled for Kansas City, Missouri]" in text


def test_cli_render_council_pack(loaded, tmp_path):
    result = _invoke(loaded, "render", "council-monthly", "--from", FROM, "--to", TO, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["matrix"]["total"]["answered"] == 8
    out = tmp_path / "council.html"
    result = _invoke(loaded, "render", "council-monthly", "--from", FROM, "--to", TO, "--format", "html", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    default = _invoke(loaded, "render", "council-monthly", "--from", FROM, "--to", TO)
    assert json.loads(default.stdout)["pack"] == "council-monthly"  # json: the pack's first format


def test_cli_render_plugin_pack_when_the_city_allows_all(deployment, echo_pack, monkeypatch):
    deployment.profile = attrs.evolve(deployment.profile, report_packs=())
    monkeypatch.setattr("civiccrm.services.deployment.open_deployment", lambda url=None: deployment)
    result = _invoke(deployment, "render", "test-echo", "--from", FROM, "--to", TO)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"city": "kansas-city", "start": "2026-03-01T00:00:00-06:00",
                                         "end": "2026-04-01T00:00:00-05:00", "format": "json"}
    _one_line_error(_invoke(deployment, "render", "test-echo", "--from", FROM, "--to", TO, "--format", "csv"),
                    "format: report pack 'test-echo' renders json, not 'csv'")


PERIOD = ["--from", FROM, "--to", TO]


@pytest.mark.parametrize("args, message", [
    (["nope", *PERIOD], "report pack: no pack 'nope'; registered packs: budget, council-monthly, employee-survey, kcstat, resident-survey, test-echo, tulsa-customer-service"),
    (["test-echo", *PERIOD],
     "report pack: 'test-echo' is not enabled for Kansas City, Missouri; its profile enables council-monthly, kcstat"),
    (["council-monthly", *PERIOD, "--format", "pdf"],
     "format: report pack 'council-monthly' renders json, csv, html, not 'pdf'"),
    (["council-monthly", "--from", "2026-04-01", "--to", TO], "--to: 2026-03-31 is before --from 2026-04-01"),
    (["council-monthly", "--from", FROM, "--to", "2026-02-30"], "--to: '2026-02-30' is not a date"),
])
def test_cli_render_bad_input(sqlite_deployment, args, message):
    sqlite_deployment.pm.register(EchoPack(), name="test-echo-pack")
    try:
        result = _invoke(sqlite_deployment, "render", *args)
    finally:
        sqlite_deployment.pm.unregister(name="test-echo-pack")
    _one_line_error(result, message)
