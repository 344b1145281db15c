"""The city's service taxonomy: departments, work groups and service types."""

import attrs


@attrs.frozen
class Department:
    code: str
    name: str


@attrs.frozen
class WorkGroup:
    code: str
    name: str
    department: str
    """Code of the department the work group belongs to."""


class SlaBasis:
    """How a service type's time-frame is counted."""

    CALENDAR_DAYS = "calendar_days"
    BUSINESS_DAYS = "business_days"
    BUSINESS_HOURS = "business_hours"
    ALL = (CALENDAR_DAYS, BUSINESS_DAYS, BUSINESS_HOURS)


@attrs.frozen
class ServiceType:
    """A node of the category / type / detail taxonomy, with its owner and time-frame."""

    code: str
    """Stable code, used as the Open311 ``service_code``."""
    name: str
    """The city's own name for the request type, e.g. ``Trash - Missed by City``."""
    category: str | None
    type: str | None
    detail: str | None
    department: str
    work_group: str | None
    sla_target: float
    """Time-frame, in units of ``sla_basis``."""
    sla_basis: str = SlaBasis.CALENDAR_DAYS
    sla_source: str = "profile"
    """Where the time-frame came from (``data``, ``default``, ``profile``)."""
    calendar: str | None = None
    """Code of the business calendar the time-frame is counted on (the city's default if None)."""
    keywords: tuple[str, ...] = ()
    description: str | None = None
    active: bool = True
    """False once the city stops taking new requests of this type (set in the admin); its cases stay."""


@attrs.frozen
class Taxonomy:
    """All of a city's departments, work groups and service types, looked up by code or name."""

    departments: dict[str, Department]
    work_groups: dict[str, WorkGroup]
    service_types: dict[str, ServiceType]

    def find_service_type(self, text: str) -> ServiceType | None:
        """The service type whose code or city name is ``text`` (case-insensitive)."""
        if text in self.service_types:
            return self.service_types[text]
        folded = text.strip().casefold()
        for st in self.service_types.values():
            if st.code.casefold() == folded or st.name.casefold() == folded:
                return st
        return None

    def find_department(self, text: str) -> Department | None:
        folded = text.strip().casefold()
        for d in self.departments.values():
            if d.code.casefold() == folded or d.name.casefold() == folded:
                return d
        return None

    def find_work_group(self, text: str) -> WorkGroup | None:
        folded = text.strip().casefold()
        for w in self.work_groups.values():
            if w.code.casefold() == folded or w.name.casefold() == folded:
                return w
        return None
