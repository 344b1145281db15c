"""The plugin contract: registries of attrs values, `deployment` handed to every hook, the core's
answers to the decision hooks, and one dispatcher for every event hook (survey_answered included)."""

from datetime import datetime, timezone
from types import SimpleNamespace

import pluggy
import pytest
from werkzeug.datastructures import MultiDict

from civiccrm import hookimpl, hookspecs, plugins
from civiccrm.domain.actors import Actor
from civiccrm.domain.cases import CaseDraft, CaseEvent, Location, Resolution
from civiccrm.domain.messages import InboundMessage, Notification
from civiccrm.domain.surveys import SurveyResponse
from civiccrm.errors import CivicError
from civiccrm.registries import (
    Channel,
    CityProfileEntry,
    Importer,
    Integration,
    Registry,
    Rendered,
    ReportPack,
)
from civiccrm.services import apikeys, cases
from civiccrm.services.events import fire
from civiccrm.services.hook_retry import pending_failures, retry_failures
from civiccrm_plugins import core as core_plugin

POINT = Location(latitude=39.102738, longitude=-94.600134)
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=timezone.utc)


def _manager(*plugin_objects) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("civiccrm")
    pm.add_hookspecs(hookspecs)
    for n, plugin in enumerate(plugin_objects):
        pm.register(plugin, name=f"test-{n}")
    return pm


def _noop(*args, **kwargs):
    return None


# --- the values plugins register ----------------------------------------------------------------


@pytest.mark.parametrize("make, message", [
    (lambda: Channel("Walk In", "Walk-in"), "channel 'Walk In': a code is lower-case"),
    (lambda: Channel("fax", None), "name must be a str"),
    (lambda: Channel("fax", "Fax", send="smtp"), "channel 'fax': send must be callable"),
    (lambda: CityProfileEntry("Spring Field", "."), "city profile 'Spring Field': a slug is lower-case"),
    (lambda: Importer("csv", None), "importer 'csv': run must be callable"),
    (lambda: Integration("cityworks", "Work orders", _noop, _noop, fetch_updates=42),
     "integration 'cityworks': fetch_updates must be callable"),
    (lambda: Rendered("text", "text/plain"), "rendered content must be bytes, not str"),
    (lambda: Rendered(b"", "pdf"), "media_type: 'pdf' is not a media type"),
])
def test_values_check_their_fields(make, message):
    with pytest.raises(CivicError) as caught:
        make()
    assert message in str(caught.value)


def test_rendered_text_is_utf8_with_its_charset():
    rendered = Rendered.text("Año", "text/html")
    assert rendered == Rendered("Año".encode(), "text/html; charset=utf-8") and rendered.is_text
    assert not Rendered(b"%PDF", "application/pdf").is_text


class Registers:
    """A plugin whose collection hook ``hook`` registers ``values``."""

    def __init__(self, hook, *values):
        def collection(register):
            for value in values:
                register(value)

        setattr(self, hook, hookimpl(collection))


def test_register_takes_one_value_of_the_hooks_type():
    pm = _manager(Registers("register_importers", "kcmo"))
    with pytest.raises(CivicError, match="register_importers: register takes one civiccrm.registries.Importer, "
                                         "got 'kcmo'"):
        Registry(pm).importers

    class OldShape:
        @hookimpl
        def register_city_profiles(self, register):
            register("springfield", ".")

    with pytest.raises(CivicError, match="register takes one civiccrm.registries.CityProfileEntry, "
                                         "got 'several arguments'"):
        Registry(_manager(OldShape())).cities


def test_a_sender_takes_the_code_of_a_channel_without_one():
    def send(deployment, address, subject, body):
        return "sent"

    plain = Channel("sms", "Text message (SMS)", outbound=True)
    gateway = Channel("sms", "SMS gateway", outbound=True, send=send)
    registry = Registry(_manager(Registers("register_channels", plain), Registers("register_channels", gateway)))
    assert registry.channels["sms"] is gateway and registry.sender("sms") is gateway
    assert registry.outbound_channels() == {"sms"}
    two_senders = Registry(_manager(Registers("register_channels", gateway), Registers("register_channels", gateway)))
    with pytest.raises(CivicError, match="two plugins register the channel 'sms'"):
        two_senders.channels
    assert Registry(_manager(Registers("register_channels", plain))).sender("sms") is None


def test_integrations_are_registered_and_kept_once_per_deployment(sqlite_deployment):
    calls = []

    class CityWorks:
        @hookimpl
        def register_integrations(self, register):
            calls.append(1)
            register(Integration("cityworks", "Work orders", send_case=_noop, send_update=_noop,
                                 fetch_updates=_noop))

    registry = sqlite_deployment.registry
    sqlite_deployment.pm.register(CityWorks(), name="test-cityworks")
    try:
        assert registry.integrations["cityworks"].receive is None
        assert registry.integrations is registry.integrations  # collected once, then kept
        assert calls == [1]
    finally:
        sqlite_deployment.pm.unregister(name="test-cityworks")
    assert "cityworks" not in registry.integrations  # the plugin set changed: collected again


def test_one_registry_per_deployment_serves_every_intake(sqlite_deployment):
    counted = []

    class CountsCollections:
        @hookimpl
        def register_channels(self, register):
            counted.append(1)

    sqlite_deployment.pm.register(CountsCollections(), name="test-counts")
    try:
        for _ in range(3):
            cases.intake(sqlite_deployment, CaseDraft(service_code="trash-missed-by-city", description="Missed",
                                                      channel="phone"))
    finally:
        sqlite_deployment.pm.unregister(name="test-counts")
    assert counted == [1]


def test_the_shipped_plugins_register_values(sqlite_deployment):
    registry = sqlite_deployment.registry
    assert registry.sender("email").code == "email"
    assert registry.channels["phone"].send is None
    assert isinstance(registry.importers["kcmo"], Importer)
    assert isinstance(registry.report_packs["council-monthly"], ReportPack)
    assert registry.cities["kansas-city"].path.name == "kansas_city"


# --- deployment is handed to the hooks ------------------------------------------------------------


class SeesTheDeployment:
    def __init__(self):
        self.seen = []

    @hookimpl
    def route_case(self, deployment, draft):
        self.seen.append(("route_case", deployment))

    @hookimpl
    def compute_due_at(self, deployment):
        self.seen.append(("compute_due_at", deployment))

    @hookimpl
    def case_created(self, deployment, case):
        self.seen.append(("case_created", deployment))

    @hookimpl
    def case_closed(self, deployment, event):
        self.seen.append(("case_closed", deployment))


def test_every_decision_and_event_hook_gets_the_deployment(deployment):
    plugin = SeesTheDeployment()
    deployment.pm.register(plugin, name="test-sees-deployment")
    try:
        case = cases.intake(deployment, CaseDraft(service_code="trash-missed-by-city", description="Missed",
                                                  channel="phone", location=POINT))
        cases.close(deployment, case.tracking_number, Resolution.FIXED)
    finally:
        deployment.pm.unregister(name="test-sees-deployment")
    assert [name for name, _ in plugin.seen] == ["route_case", "compute_due_at", "case_created", "case_closed"]
    assert all(given is deployment for _, given in plugin.seen)


def test_the_dispatcher_refuses_what_is_not_an_event_hook(sqlite_deployment):
    with pytest.raises(ValueError, match="'route_case' is not an event hook"):
        fire(sqlite_deployment, "route_case", case=None, event=None)
    with pytest.raises(ValueError, match="survey_answered takes response, not case"):
        fire(sqlite_deployment, "survey_answered", case=None)


class FlakyDashboard:
    def __init__(self):
        self.up = False
        self.seen = []

    @hookimpl
    def survey_answered(self, deployment, response):
        if not self.up:
            raise ConnectionError("dashboard unreachable")
        self.seen.append((deployment.profile.slug, response.id, response.answers))


def test_a_failed_survey_answered_is_recorded_and_retried(deployment):
    case = cases.intake(deployment, CaseDraft(service_code="trash-missed-by-city", description="Missed",
                                              channel="phone", location=POINT))
    response = SurveyResponse(id=7, instrument="post-case", answered_at=NOW, answers={"timeliness": 2},
                              tracking_number=case.tracking_number, department=case.department)
    plugin = FlakyDashboard()
    deployment.pm.register(plugin, name="test-dashboard")
    try:
        assert fire(deployment, "survey_answered", response=response) == ["test-dashboard"]
        [failure] = pending_failures(deployment)
        assert (failure.hook, failure.plugin, failure.tracking_number) == ("survey_answered", "test-dashboard",
                                                                          case.tracking_number)
        assert "dashboard unreachable" in failure.note
        plugin.up = True
        assert retry_failures(deployment).retried == 1
    finally:
        deployment.pm.unregister(name="test-dashboard")
    assert plugin.seen == [("kansas-city", 7, {"timeliness": 2})]
    assert pending_failures(deployment) == []


# --- the core's answers to the decision hooks ------------------------------------------------------


def test_core_geocode_reads_a_point_inside_the_city(sqlite_deployment):
    hook = sqlite_deployment.pm.hook.geocode
    found = hook(deployment=sqlite_deployment, address="39.102738, -94.600134")
    assert (found.latitude, found.longitude) == (39.102738, -94.600134)
    assert hook(deployment=sqlite_deployment, address="40.7128, -74.0060") is None  # New York: outside
    assert hook(deployment=sqlite_deployment, address="414 E 12th St") is None
    assert hook(deployment=sqlite_deployment, address="99.5, 10") is None  # not a latitude


def test_core_classify_inbound_finds_a_service_type_named_in_the_message(sqlite_deployment):
    types = sqlite_deployment.profile.taxonomy.service_types
    name = types["trash-missed-by-city"].name

    def classify(subject, body):
        message = InboundMessage(channel="email", sender="pat@example.org", subject=subject, body=body,
                                 received_at=NOW)
        return sqlite_deployment.pm.hook.classify_inbound(deployment=sqlite_deployment, message=message)

    assert classify(f"Re: {name.upper()}!", "see above") == "trash-missed-by-city"
    assert classify(None, f"Hello, this is about: {name}. Thanks") == "trash-missed-by-city"
    assert classify("Hello", "The weather is nice today") is None


def test_core_render_notification(sqlite_deployment):
    case = cases.intake(sqlite_deployment, CaseDraft(service_code="trash-missed-by-city", description="Missed",
                                                     channel="phone"))
    closed = cases.close(sqlite_deployment, case.tracking_number, Resolution.FIXED)

    def render(kind, channel="email", subject_case=closed, event=None):
        """The core's own answer (Kansas City's templates, civiccrm_plugins.notification_templates, come first)."""
        return core_plugin.render_notification(
            deployment=sqlite_deployment, kind=kind, case=subject_case, event=event, language="en", channel=channel)

    mail = render("closed")
    assert isinstance(mail, Notification) and case.tracking_number in mail.subject
    assert "was closed: fixed" in mail.body
    text = render("created", channel="sms", subject_case=case)
    assert text.subject == "" and text.body.startswith("Kansas City") and "\n" not in text.body
    assert "Received" in render("status_changed", subject_case=case).body
    assert render("survey_invitation") is None  # an invitation without its link
    invitation = CaseEvent(kind="survey_invitation", at=NOW, actor="system",
                           changes={"survey_link": "http://x.test/survey/abc", "survey_until": "2026-04-01"})
    invited = render("survey_invitation", event=invitation)
    assert "http://x.test/survey/abc" in invited.body and "2026-04-01" in invited.body
    assert render("weather_alert") is None


def test_core_actor_from_request_is_the_api_key(sqlite_deployment):
    key, secret = apikeys.add(sqlite_deployment, name="Tester app", channel="app")

    def actor(**values):
        request = SimpleNamespace(values=MultiDict(values))
        return sqlite_deployment.pm.hook.actor_from_request(deployment=sqlite_deployment, request=request)

    assert actor(api_key=secret) == Actor(name="api_key:Tester app", kind="api_key", id=key.id)
    assert actor(api_key="c311_wrong") is None
    assert actor() is None
    apikeys.revoke(sqlite_deployment, key.id)
    assert actor(api_key=secret) is None


def test_core_actor_from_request_believes_a_key_for_the_api_cache_time(sqlite_deployment):
    """The same path as the Open311 API: a key found active is believed for ``API_KEY_CACHE_SECONDS``."""
    from civiccrm.services.deployment import open_deployment
    from civiccrm.web import create_app

    key, secret = apikeys.add(sqlite_deployment, name="Cached app", channel="app")
    request = SimpleNamespace(values=MultiDict({"api_key": secret}))

    def actor():
        return sqlite_deployment.pm.hook.actor_from_request(deployment=sqlite_deployment, request=request)

    elsewhere = open_deployment(str(sqlite_deployment.engine.url))  # another process's view of the database
    try:
        with create_app({"TESTING": True, "API_KEY_CACHE_SECONDS": 60.0}, deployment=sqlite_deployment).app_context():
            assert actor() == Actor(name="api_key:Cached app", kind="api_key", id=key.id)
            apikeys.revoke(elsewhere, key.id)
            assert actor() is not None  # believed until its time is up
        with create_app({"API_KEY_CACHE_SECONDS": 0.0}, deployment=sqlite_deployment).app_context():  # read each time
            assert actor() is None
    finally:
        elsewhere.engine.dispose()


@pytest.mark.parametrize("actor, action, allowed", [
    (Actor(name="system", kind="system"), "case.close", True),
    (Actor(name="pat", kind="os"), "report.render", True),
    (Actor(name="api_key:app", kind="api_key"), "case.create", True),
    (Actor(name="api_key:app", kind="api_key"), "case.close", False),
    (Actor(name="lee", kind="user", role="administrator"), "case.merge", True),
    (Actor(name="kim", kind="user", role="call_taker"), "case.merge", False),
    (None, "case.read", False),
])
def test_core_permission_allowed(sqlite_deployment, actor, action, allowed):
    assert sqlite_deployment.pm.hook.permission_allowed(
        deployment=sqlite_deployment, actor=actor, action=action, resource=None) is allowed


def test_a_plugin_answers_before_the_core(sqlite_deployment):
    class Supervisors:
        @hookimpl
        def permission_allowed(self, actor, action):
            return True if actor is not None and actor.role == "supervisor" and action == "case.merge" else None

    sqlite_deployment.pm.register(Supervisors(), name="test-supervisors")
    try:
        ask = sqlite_deployment.pm.hook.permission_allowed
        assert ask(deployment=sqlite_deployment, actor=Actor(name="sam", kind="user", role="supervisor"),
                   action="case.merge", resource=None) is True
        assert ask(deployment=sqlite_deployment, actor=Actor(name="sam", kind="user", role="supervisor"),
                   action="case.close", resource=None) is False
    finally:
        sqlite_deployment.pm.unregister(name="test-supervisors")


def test_an_actor_kind_is_checked():
    with pytest.raises(CivicError, match="actor kind: 'robot'; expected one of user, api_key, os, system"):
        Actor(name="r2", kind="robot")


def test_the_shared_registry_follows_the_loaded_plugins():
    assert plugins.registry() is plugins.registry()
    assert "kansas-city" in plugins.city_folders()
