"""What plugins register through the collection hooks, and the registries built from them.

Every collection hook hands a plugin ``register(value)`` taking ONE of the attrs values
below; the value checks itself when it is built (a bad one raises CivicError naming the
field), and the registry refuses a second value under the same name. A ``Registry`` is
built once per ``Deployment`` (``deployment.registry``) and collects each kind the first
time it is asked for; it collects again only when plugins are registered or removed.
"""

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import attrs

from civiccrm.domain.surveys import SurveyInstrument
from civiccrm.errors import CivicError, NotFound

__all__ = [
    "Channel", "CityProfileEntry", "Importer", "Integration", "Registry", "Rendered", "ReportPack",
    "SurveyInstrument",
]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+(\s*;.*)?$")


def _named(what: str):
    """An attrs validator: a lower-case name such as ``council-monthly`` or ``walk_in``."""

    def check(instance, attribute, value):
        if not isinstance(value, str) or not _NAME.match(value):
            raise CivicError(f"{what} {value!r}: a {attribute.name} is lower-case letters, digits, '-', '_' or '.', "
                             "like 'council-monthly'", field=attribute.name)

    return check


def _callable(what: str, *, optional: bool = False):
    def check(instance, attribute, value):
        if value is None and optional:
            return
        if not callable(value):
            raise CivicError(f"{what} {_label(instance)!r}: {attribute.name} must be callable, got {value!r}",
                             field=attribute.name)

    return check


def _text(instance, attribute, value):
    if not isinstance(value, str):
        raise CivicError(f"{type(instance).__name__} {_label(instance)!r}: {attribute.name} must be a str, "
                         f"got {value!r}", field=attribute.name)


def _label(instance) -> str:
    return getattr(instance, "code", None) or getattr(instance, "name", None) or getattr(instance, "slug", "?")


@attrs.frozen
class CityProfileEntry:
    """A city profile folder: ``register(CityProfileEntry("kansas-city", path))``."""

    slug: str = attrs.field(validator=_named("city profile"))
    """How the city is named on the command line (``civiccrm init --city SLUG``)."""
    path: Path = attrs.field(converter=Path)
    """The folder holding ``profile.toml``."""

    @property
    def name(self) -> str:
        return self.slug


@attrs.frozen
class Channel:
    """One intake and/or outbound channel: ``register(Channel("phone", "Phone"))``."""

    code: str = attrs.field(validator=_named("channel"))
    """Short stable code stored on cases, e.g. ``phone`` or ``walk_in``."""
    name: str = attrs.field(validator=_text)
    """Name shown to staff."""
    inbound: bool = True
    """Contacts arrive this way and become cases."""
    outbound: bool = False
    """The city can send messages (notifications, survey invitations) this way."""
    description: str = attrs.field(default="", validator=_text)
    send: Callable[..., str | None] | None = attrs.field(default=None, validator=_callable("channel", optional=True))
    """``send(deployment, address, subject, body) -> receipt`` for an outbound channel that can send.

    It raises on failure (the caller records the failed send). A channel registered with
    ``send`` may take the code of one registered without it: it adds a sender to a known
    channel (the built-in ``sms`` channel, say)."""

    @property
    def can_send(self) -> bool:
        return self.outbound and self.send is not None


@attrs.frozen
class Rendered:
    """A rendered report: the bytes and their media type (``text/html; charset=utf-8``, ``application/pdf``)."""

    content: bytes = attrs.field()
    media_type: str = attrs.field()

    @content.validator
    def _check_content(self, attribute, value):
        if not isinstance(value, bytes):
            raise CivicError(f"rendered content must be bytes, not {type(value).__name__}", field="content")

    @media_type.validator
    def _check_media_type(self, attribute, value):
        if not isinstance(value, str) or not _MEDIA_TYPE.match(value):
            raise CivicError(f"media_type: {value!r} is not a media type such as 'text/csv'", field="media_type")

    @classmethod
    def text(cls, text: str, media_type: str) -> "Rendered":
        """UTF-8 text with ``; charset=utf-8`` added to its media type."""
        return cls(text.encode("utf-8"), f"{media_type}; charset=utf-8")

    @property
    def is_text(self) -> bool:
        return self.media_type.startswith("text/") or self.media_type.split(";")[0] in (
            "application/json", "image/svg+xml")


def _formats(value) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list) else value


@attrs.frozen
class ReportPack:
    """A named report for a period: ``render(deployment, *, start, end, format) -> Rendered``."""

    name: str = attrs.field(validator=_named("report pack"))
    """How the pack is asked for (``civiccrm report render NAME``, ``[city] report_packs``)."""
    render: Callable[..., Rendered] = attrs.field(validator=_callable("report pack"))
    description: str = attrs.field(default="", validator=_text)
    """One line shown by ``civiccrm report packs``."""
    formats: tuple[str, ...] = attrs.field(default=("json", "csv", "html"), converter=_formats)
    """The format names ``render`` produces (an open set: html, pdf, csv, json, png, ...); the first is the default."""

    @formats.validator
    def _check_formats(self, attribute, value):
        where = f"report pack {self.name!r}"
        if not isinstance(value, tuple) or not value:
            raise CivicError(f"{where}: formats must be a non-empty tuple such as ('json', 'html'), got {value!r}",
                             field="formats")
        bad = [f for f in value if not isinstance(f, str) or not _NAME.match(f)]
        if bad or len(set(value)) != len(value):
            raise CivicError(f"{where}: formats {value!r}; each a lower-case name such as 'pdf', once",
                             field="formats")

    def enabled_for(self, profile) -> bool:
        """True when the city's ``[city] report_packs`` lists the pack, or lists none (all allowed)."""
        return not profile.report_packs or self.name in profile.report_packs

    def render_report(self, deployment, *, start: datetime, end: datetime, format: str | None = None) -> Rendered:
        """Check the period and format, then call the pack's ``render``; what it rendered.

        ``start`` and ``end`` are timezone-aware instants, the period being [start, end);
        ``format`` None means the pack's first format.
        """
        format = self.formats[0] if format is None else format
        if format not in self.formats:
            raise CivicError(f"format: report pack {self.name!r} renders {', '.join(self.formats)}, not {format!r}",
                             field="format")
        for label, value in (("start", start), ("end", end)):
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise CivicError(f"{label}: a timezone-aware datetime is needed, not {value!r}", field=label)
        if end <= start:
            raise CivicError(f"end: {end.isoformat()} is not after start {start.isoformat()}", field="end")
        rendered = self.render(deployment, start=start, end=end, format=format)
        if not isinstance(rendered, Rendered):
            raise CivicError(f"report pack {self.name!r}: render returned {type(rendered).__name__}, not Rendered")
        return rendered


@attrs.frozen
class Importer:
    """A bulk importer for ``civiccrm import NAME``: ``run(deployment, files, *, batch_size, actor, on_error,
    progress) -> ImportSummary``."""

    name: str = attrs.field(validator=_named("importer"))
    run: Callable = attrs.field(validator=_callable("importer"))
    help: str = attrs.field(default="", validator=_text)


@attrs.frozen
class Integration:
    """A connection to another system (work orders, CRM, Open311 sync).

    ``send_case(deployment, case) -> external id``, ``send_update(deployment, case, event)``,
    ``fetch_updates(deployment, since) -> iterable of updates``; ``receive(deployment, request)``
    answers the other system's web calls when it pushes (None: it does not).
    """

    name: str = attrs.field(validator=_named("integration"))
    description: str = attrs.field(validator=_text)
    send_case: Callable = attrs.field(validator=_callable("integration"))
    send_update: Callable = attrs.field(validator=_callable("integration"))
    fetch_updates: Callable = attrs.field(validator=_callable("integration"))
    receive: Callable | None = attrs.field(default=None, validator=_callable("integration", optional=True))


def _key(value) -> str:
    return value.code if isinstance(value, (Channel, SurveyInstrument)) else value.name


def collect(hook, kind: type, what: str, *, merge=None) -> dict:
    """Call the collection ``hook`` and return name -> value, refusing values of another type and duplicates.

    ``merge(old, new)`` may resolve a duplicate (return the value to keep, or None to refuse it).
    """
    found: dict = {}
    hook_name = hook.name

    def register(value=None, *extra, **kwargs):
        if extra or kwargs or not isinstance(value, kind):
            given = value if not (extra or kwargs) else "several arguments"
            raise CivicError(f"{hook_name}: register takes one civiccrm.registries.{kind.__name__}, got {given!r}")
        key = _key(value)
        if key in found:
            kept = merge(found[key], value) if merge is not None else None
            if kept is None:
                raise CivicError(f"two plugins register the {what} {key!r}")
            value = kept
        found[key] = value

    hook(register=register)
    return found


def _merge_channels(old: Channel, new: Channel) -> Channel | None:
    """A channel that brings a sender takes the code of one that has none."""
    if (old.send is None) == (new.send is None):
        return None
    return new if new.send is not None else old


class Registry:
    """What the plugins of one plugin manager register, collected on first use and kept.

    It collects again only when the set of registered plugins has changed since (tests
    and ``civiccrm plugins`` register and unregister plugins on a live manager).
    """

    def __init__(self, pm):
        self.pm = pm
        self._cache: dict = {}

    def _get(self, name: str, build):
        fingerprint = frozenset(id(p) for p in self.pm.get_plugins())
        hit = self._cache.get(name)
        if hit is None or hit[0] != fingerprint:
            hit = (fingerprint, build())
            self._cache[name] = hit
        return hit[1]

    @property
    def channels(self) -> dict[str, Channel]:
        return self._get("channels", lambda: collect(
            self.pm.hook.register_channels, Channel, "channel", merge=_merge_channels))

    @property
    def report_packs(self) -> dict[str, ReportPack]:
        return self._get("report_packs", lambda: collect(self.pm.hook.register_report_packs, ReportPack,
                                                         "report pack"))

    @property
    def importers(self) -> dict[str, Importer]:
        return self._get("importers", lambda: collect(self.pm.hook.register_importers, Importer, "importer"))

    @property
    def integrations(self) -> dict[str, Integration]:
        return self._get("integrations", lambda: collect(self.pm.hook.register_integrations, Integration,
                                                         "integration"))

    @property
    def cities(self) -> dict[str, CityProfileEntry]:
        return self._get("cities", lambda: collect(self.pm.hook.register_city_profiles, CityProfileEntry,
                                                   "city profile"))

    @property
    def plugin_instruments(self) -> dict[str, SurveyInstrument]:
        """Survey instruments plugins register (a city profile's own come on top, see ``survey_instruments``)."""
        return self._get("instruments", lambda: collect(self.pm.hook.register_survey_instruments,
                                                        SurveyInstrument, "survey instrument"))

    def survey_instruments(self, profile) -> dict[str, SurveyInstrument]:
        """Code -> SurveyInstrument: the city profile's instruments and those plugins register."""
        found = dict(profile.surveys)
        for code, instrument in self.plugin_instruments.items():
            if code in found:
                raise CivicError(f"two sources define the survey instrument {code!r}")
            found[code] = instrument
        return found

    def survey_instrument(self, profile, code: str) -> SurveyInstrument:
        """One instrument by code, or NotFound naming the known ones."""
        known = self.survey_instruments(profile)
        if code not in known:
            raise NotFound(f"instrument: no survey {code!r} in {profile.name}; "
                           f"known: {', '.join(sorted(known)) or 'none'}")
        return known[code]

    def report_pack(self, name: str, *, profile=None) -> ReportPack:
        """The pack called ``name``; CivicError when no plugin registers it or ``profile``'s city does not enable it."""
        packs = self.report_packs
        if name not in packs:
            raise CivicError(f"report pack: no pack {name!r}; registered packs: {', '.join(sorted(packs)) or 'none'}",
                             field="pack")
        pack = packs[name]
        if profile is not None and not pack.enabled_for(profile):
            raise CivicError(f"report pack: {name!r} is not enabled for {profile.name}; its profile enables "
                             f"{', '.join(profile.report_packs)} ([city] report_packs in profile.toml)", field="pack")
        return pack

    def outbound_channels(self) -> set[str]:
        """Codes of the registered channels the city can send on (email, sms, ...)."""
        return {code for code, channel in self.channels.items() if channel.outbound}

    def sender(self, code: str) -> Channel | None:
        """The channel that sends on ``code``, or None when no plugin sends there."""
        channel = self.channels.get(code)
        return channel if channel is not None and channel.send is not None else None
