"""The SLA clock of cases: due times (one case, or many at once), the rules the lifecycle asks, a case's state."""

from datetime import date, datetime, timedelta

import attrs
import numpy as np

from civiccrm.domain import sla as rules
from civiccrm.domain.calendar import from_epoch, tz_offsets
from civiccrm.domain.lifecycle import LEVEL_NAMES, clock_started
from civiccrm.domain.sla import SlaPolicy
from civiccrm.domain.taxonomy import SlaBasis, ServiceType
from civiccrm.errors import CivicError
from civiccrm.services.sla.policies import policy_for
from civiccrm.store import repo

CORE_PLUGIN = "civiccrm_plugins.core"


def core_computes_due_at(deployment) -> bool:
    """True when only the core answers ``compute_due_at``: its rule may then be applied to many cases at once."""
    return all(impl.plugin_name == CORE_PLUGIN for impl in deployment.pm.hook.compute_due_at.get_hookimpls())


def compute_due(deployment, service_type: ServiceType, opened_at: datetime, *, clock_from: datetime | None = None,
                paused_seconds: float = 0.0) -> datetime | None:
    """The due time: the ``compute_due_at`` hook from the clock's start, pushed back by paused time."""
    start = clock_from or opened_at
    due = deployment.pm.hook.compute_due_at(deployment=deployment, opened_at=start, service_type=service_type,
                                            profile=deployment.profile)
    if due is None or not paused_seconds:
        return due
    policy = policy_for(deployment, service_type, start)
    return rules.extend_for_pause(policy, deployment.profile.calendars[policy.calendar], due, paused_seconds)


def first_response_due(deployment, service_type: ServiceType, opened_at: datetime) -> datetime | None:
    policy = policy_for(deployment, service_type, opened_at)
    return rules.first_response_due_at(policy, deployment.profile.calendars[policy.calendar], opened_at)


def warm(deployment, *, years: int = 1) -> None:
    """Compute every active service type's due times (resolution and first response) from now and from 365 days
    on for each of the next ``years`` years, so that the calendars' timelines they need are built now and not by
    a request.

    A timeline is built lazily, and rebuilt whole when a due time falls past its last year: at 40 million cases
    that build (30-300 ms of one worker's CPU, with every request of the worker waiting) was intake's p99. The
    web app calls this when it loads and when it reloads the configuration."""
    now = deployment.clock()
    types = [t for t in deployment.profile.taxonomy.service_types.values() if t.active]
    for year in range(years + 1):
        start = now + timedelta(days=365 * year)
        for service_type in types:
            compute_due(deployment, service_type, start)
            first_response_due(deployment, service_type, start)


@attrs.frozen
class DeploymentRules:
    """The ``SlaRules`` the lifecycle transitions ask (civiccrm.domain.lifecycle), answered for a deployment."""

    deployment: object

    @property
    def warning(self):
        return self.deployment.profile.sla.warning

    def service_type(self, code: str) -> ServiceType | None:
        return self.deployment.profile.taxonomy.service_types.get(code)

    def due_at(self, service_type, opened_at, *, clock_from, paused_seconds):
        return compute_due(self.deployment, service_type, opened_at, clock_from=clock_from,
                           paused_seconds=paused_seconds)

    def response_due_at(self, service_type, opened_at):
        return first_response_due(self.deployment, service_type, opened_at)

    def pause_statuses(self, service_type, clock_start):
        return policy_for(self.deployment, service_type, clock_start).pause_statuses

    def paused_counted(self, service_type, clock_start, start, end):
        policy = policy_for(self.deployment, service_type, clock_start)
        return rules.paused_counted(policy, self.deployment.profile.calendars[policy.calendar], start, end)


# --- due times of many cases at once ---------------------------------------------------------


def _versions(profile, code: str, service_type: ServiceType, starts: np.ndarray, members: list[int]):
    """(policy version, indices) of cases of one service type, by the local day their clock started."""
    index = np.asarray(members, dtype=np.int64)
    versions = profile.sla.history(code) or (profile.sla_policy(service_type, from_epoch(starts[index[0]])),)
    if len(versions) == 1 and versions[0].effective_from is None:
        return [(versions[0], index)]
    offsets = tz_offsets(profile.tz)
    offsets.ensure_epochs(starts[index])
    local_day = np.floor(offsets.local(starts[index]) / 86400).astype(np.int64)
    bounds = [(v.effective_from - date(1970, 1, 1)).days if v.effective_from else None for v in versions]
    if bounds[0] is not None and np.any(local_day < bounds[0]):
        first = index[np.argmax(local_day < bounds[0])]
        profile.sla.in_force(code, from_epoch(starts[first], profile.tz).date())  # raises, naming the versions
    groups = []
    for k, version in enumerate(versions):
        mask = np.ones(len(index), dtype=bool)
        if bounds[k] is not None:
            mask &= local_day >= bounds[k]
        if k + 1 < len(versions):
            mask &= local_day < bounds[k + 1]
        groups.append((version, index[mask]))
    return groups


def core_due_epochs(profile, codes, starts: np.ndarray, paused: np.ndarray | None = None) -> np.ndarray:
    """The core's ``compute_due_at`` (plus pause extension) for many cases: epoch seconds, NaN for none.

    ``codes`` are the cases' service codes (an unknown code gets NaN), ``starts`` when each clock
    started (epoch seconds), ``paused`` the seconds each was paused. Cases are grouped by the policy
    version in force when their clock started; versions that share a basis, calendar and clock
    start go in one ``due_epochs`` call with a target each (business days, whose arithmetic takes
    one target at a time, go by version).
    """
    starts = np.asarray(starts, dtype=np.float64)
    due = np.full(len(starts), np.nan)
    types = profile.taxonomy.service_types
    by_code: dict[str, list[int]] = {}
    for i, code in enumerate(codes):
        by_code.setdefault(code, []).append(i)
    calls: dict = {}
    for code, members in by_code.items():
        service_type = types.get(code)
        if service_type is None:
            continue
        for policy, index in _versions(profile, code, service_type, starts, members):
            if index.size:
                key = policy if policy.basis == SlaBasis.BUSINESS_DAYS else (
                    policy.basis, policy.calendar, policy.clock_start)
                calls.setdefault(key, (policy, []))[1].append((index, policy.target))
    for policy, parts in calls.values():
        index = np.concatenate([i for i, _ in parts])
        targets = None if policy.basis == SlaBasis.BUSINESS_DAYS else np.concatenate(
            [np.full(len(i), target) for i, target in parts])
        due[index] = rules.due_epochs(policy, profile.calendars[policy.calendar], starts[index],
                                      None if paused is None else paused[index], targets=targets)
    return due


def due_epochs(deployment, codes, opened: np.ndarray, clock_from: np.ndarray | None = None,
               paused: np.ndarray | None = None) -> np.ndarray:
    """Due times of many cases (epoch seconds, NaN for none), by whatever answers ``compute_due_at``.

    When only the core answers, its rule is applied to all at once (``core_due_epochs``);
    a plugin's answer is asked case by case, so it wins as always. ``clock_from`` (NaN: from
    the opening) and ``paused`` (seconds) are optional.
    """
    opened = np.asarray(opened, dtype=np.float64)
    starts = opened if clock_from is None else np.where(np.isnan(clock_from), opened, clock_from)
    if core_computes_due_at(deployment):
        return core_due_epochs(deployment.profile, codes, starts, paused)
    types = deployment.profile.taxonomy.service_types
    due = np.full(len(opened), np.nan)
    for i, code in enumerate(codes):
        service_type = types.get(code)
        if service_type is None:
            continue
        restarted = clock_from is not None and not np.isnan(clock_from[i])
        value = compute_due(deployment, service_type, from_epoch(opened[i]),
                            clock_from=from_epoch(clock_from[i]) if restarted else None,
                            paused_seconds=float(paused[i]) if paused is not None else 0.0)
        due[i] = np.nan if value is None else value.timestamp()
    return due


# --- where a case stands --------------------------------------------------------------------


@attrs.frozen
class SlaState:
    """Where a case stands against its SLA, for ``case show``."""

    policy: SlaPolicy | None
    due_at: datetime | None
    paused_since: datetime | None
    paused_seconds: float
    level: str | None
    response_due_at: datetime | None
    responded_at: datetime | None
    response_level: str | None = None
    """``breached`` once the scan has escalated a case with no first response past ``response_due_at``."""


def state(deployment, tracking_number: str) -> SlaState:
    with deployment.session() as s:
        case = repo.load_case(session=s, tracking_number=tracking_number)
    service_type = deployment.profile.taxonomy.service_types.get(case.service_code)
    try:
        policy = policy_for(deployment, service_type, clock_started(case)) if service_type else None
    except CivicError:
        policy = None
    return SlaState(policy=policy, due_at=case.due_at, paused_since=case.sla_paused_at,
                    paused_seconds=case.sla_paused_seconds, level=LEVEL_NAMES[case.sla_level],
                    response_due_at=case.response_due_at, responded_at=case.responded_at,
                    response_level=LEVEL_NAMES[case.sla_response_level])
