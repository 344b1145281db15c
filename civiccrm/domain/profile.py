"""A city's deployment profile, as the rest of the system sees it."""

from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs

from civiccrm.domain.attributes import ServiceAttribute
from civiccrm.domain.calls import CallSettings
from civiccrm.domain.calendar import BusinessCalendar
from civiccrm.domain.duplicates import DuplicatePolicy
from civiccrm.domain.integrations import Destination
from civiccrm.domain.sla import PolicyBook, SlaPolicy
from civiccrm.domain.geo import CityMap
from civiccrm.domain.surveys import SurveyInstrument
from civiccrm.domain.taxonomy import ServiceType, Taxonomy
from civiccrm.errors import CivicError


@attrs.frozen
class CityProfile:
    """Everything that differs between cities, loaded from ``cities/<slug>/``."""

    slug: str
    name: str
    timezone: str
    path: Path
    fiscal_year_start: tuple[int, int]
    """(month, day) the fiscal year starts on, e.g. (5, 1)."""
    tracking_prefix: str
    languages: tuple[str, ...]
    channels: tuple[str, ...]
    """Codes of the channels this city takes contacts on."""
    taxonomy: Taxonomy
    calendars: dict[str, BusinessCalendar]
    default_calendar: str
    city_map: CityMap = attrs.field(eq=False, repr=False)
    surveys: dict[str, SurveyInstrument] = attrs.field(factory=dict)
    report_packs: tuple[str, ...] = ()
    settings: dict = attrs.field(factory=dict, eq=False, repr=False)
    """Extra tables for plugins (e.g. ``[import.kcmo]``), as read from the TOML."""
    sla: PolicyBook = attrs.field(factory=PolicyBook, eq=False, repr=False)
    """SLA policy versions per service type (profile files, then versions stored by the CLI)."""
    service_attributes: dict[str, tuple[ServiceAttribute, ...]] = attrs.field(factory=dict)
    """Service code -> the extra questions that service type asks, in order (Open311 definitions)."""
    duplicates: DuplicatePolicy = attrs.field(factory=DuplicatePolicy, eq=False, repr=False)
    """How possible duplicates are found at intake (``[duplicates]``)."""
    plugins: tuple[str, ...] = ()
    """Modules loaded as plugins for this city only (``[city] plugins``), e.g. its own importer."""
    calls: CallSettings | None = attrs.field(default=None, eq=False, repr=False)
    """The call centre's settings and export formats (``[calls]``); None when the profile has none."""
    integrations: dict[str, Destination] = attrs.field(factory=dict, eq=False, repr=False)
    """Destination name -> the system cases are sent to (``[integrations.<name>]``)."""

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def calendar_for(self, service_type: ServiceType | None = None) -> BusinessCalendar:
        code = (service_type.calendar if service_type else None) or self.default_calendar
        return self.calendars[code]

    def sla_policy(self, service_type: ServiceType, opened_at: datetime) -> SlaPolicy:
        """The SLA policy version a case of ``service_type`` opened at ``opened_at`` is held to."""
        if self.sla.history(service_type.code):
            return self.sla.in_force(service_type.code, opened_at.astimezone(self.tz).date())
        return SlaPolicy(
            service_code=service_type.code, target=service_type.sla_target, basis=service_type.sla_basis,
            calendar=service_type.calendar or self.default_calendar, source="service type",
        )

    def service_type(self, text: str) -> ServiceType:
        """The service type named by code or city name, or a CivicError listing how to find one."""
        found = self.taxonomy.find_service_type(text)
        if found is None:
            raise CivicError(
                f"type: no service type {text!r} in {self.name}; give a service code or the "
                f"city's request-type name (`civiccrm types` lists them)",
                field="type",
            )
        return found

    def call_settings(self) -> CallSettings:
        """The ``[calls]`` settings, or a CivicError saying the profile has none."""
        if self.calls is None:
            raise CivicError(
                f"{self.name} has no call-centre settings: add a [calls] table to "
                f"{self.path / 'profile.toml'} (docs/calls.md)"
            )
        return self.calls

    def fiscal_year_of(self, day: date) -> int:
        """The fiscal year a date falls in, named by the calendar year it ends in."""
        month, dom = self.fiscal_year_start
        if (month, dom) == (1, 1):
            return day.year
        return day.year + 1 if (day.month, day.day) >= (month, dom) else day.year
