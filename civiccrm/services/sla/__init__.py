"""SLA use cases: policy versions (``policies``), the clock of cases and due times (``clock``), the breach
scan (``scan``) and the recompute of stored due times (``recompute``). The comparison with a city's own
verdicts is a metric: ``civiccrm.metrics.sla``."""

from civiccrm.services.sla.clock import (
    DeploymentRules,
    SlaState,
    compute_due,
    core_computes_due_at,
    core_due_epochs,
    due_epochs,
    first_response_due,
    state,
    warm,
)
from civiccrm.services.sla.policies import load_stored_policies, policy_for, set_policy
from civiccrm.services.sla.recompute import RecomputeResult, recompute
from civiccrm.services.sla.scan import ScanResult, scan

__all__ = [
    "DeploymentRules", "RecomputeResult", "ScanResult", "SlaState", "compute_due", "core_computes_due_at", "core_due_epochs",
    "due_epochs", "first_response_due", "load_stored_policies", "policy_for", "recompute", "scan", "set_policy",
    "state", "warm",
]
