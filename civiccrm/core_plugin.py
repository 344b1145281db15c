"""The core's own answers to the decision hooks, given last so any plugin can override them."""

from civiccrm import hookimpl
from civiccrm.domain import sla
from civiccrm.domain.cases import Routing


@hookimpl(trylast=True)
def route_case(draft, service_type, profile):
    """Route to the department and work group that own the service type."""
    return Routing(department=service_type.department, work_group=service_type.work_group)


@hookimpl(trylast=True)
def compute_due_at(opened_at, service_type, profile):
    """Due after the target of the SLA policy version in force, counted on its basis and calendar."""
    policy = profile.sla_policy(service_type, opened_at)
    return sla.due_at(policy, profile.calendars[policy.calendar], opened_at)
