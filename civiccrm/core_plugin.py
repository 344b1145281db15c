"""The core's own answers to the decision hooks, given last so any plugin can override them."""

from civiccrm import hookimpl
from civiccrm.domain.calendar import add_calendar_days
from civiccrm.domain.cases import Routing
from civiccrm.domain.taxonomy import SlaBasis


@hookimpl(trylast=True)
def route_case(draft, service_type, profile):
    """Route to the department and work group that own the service type."""
    return Routing(department=service_type.department, work_group=service_type.work_group)


@hookimpl(trylast=True)
def compute_due_at(opened_at, service_type, profile):
    """Due after the service type's time-frame, counted on its basis and calendar."""
    target = service_type.sla_target
    if service_type.sla_basis == SlaBasis.CALENDAR_DAYS:
        return add_calendar_days(opened_at, target, profile.tz)
    calendar = profile.calendar_for(service_type)
    if service_type.sla_basis == SlaBasis.BUSINESS_DAYS:
        return calendar.add_business_days(opened_at, target)
    return calendar.add_business_hours(opened_at, target)
