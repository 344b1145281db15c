"""Read a city profile's SLA settings: the ``[sla]`` table and the policy versions CSV."""

from datetime import date
from pathlib import Path

from civiccrm.domain.sla import (
    DEFAULT_PAUSE_STATUSES,
    ClockStart,
    PolicyBook,
    SlaPolicy,
    check_target,
    parse_basis,
    parse_clock_start,
    parse_duration,
    parse_pause_statuses,
)
from civiccrm.domain.taxonomy import SlaBasis, Taxonomy
from civiccrm.errors import CivicError
from civiccrm.profiles.csv_files import read_profile_csv

SLA_KEYS = {"policies": str, "warning": str, "pause_statuses": list, "clock_start": str}
POLICY_COLUMNS = ("service_code", "effective_from", "target", "basis")
POLICY_OPTIONAL = ("calendar", "first_response", "pause_statuses", "clock_start", "note")
def parse_effective_from(value: str, *, where: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CivicError(f"{where}: {value!r} is not a date like 2015-07-01 (or empty for 'from the beginning')") from None


def load_sla(folder: Path, table: dict, file: Path, taxonomy: Taxonomy, calendars: dict, default_calendar: str) -> PolicyBook:
    """The profile's policy book: each service type's time-frame, or its versions from the policies CSV.

    A service type listed in the policies CSV takes its whole history from there; the
    others have one version, from the beginning, made of the service_types.csv columns.
    """
    for key, value in table.items():
        if key not in SLA_KEYS:
            raise CivicError(f"{file}: unknown key sla.{key!r}; expected one of {', '.join(sorted(SLA_KEYS))}")
        if not isinstance(value, SLA_KEYS[key]):
            raise CivicError(f"{file}: key sla.{key} must be a {SLA_KEYS[key].__name__}, got {value!r}")
    warning = parse_duration(table.get("warning", "24h"), where=f"{file}: sla.warning")
    pause = (parse_pause_statuses(table["pause_statuses"], where=f"{file}: sla.pause_statuses")
             if "pause_statuses" in table else DEFAULT_PAUSE_STATUSES)
    clock = parse_clock_start(table.get("clock_start", ClockStart.RECEIPT), where=f"{file}: sla.clock_start")

    listed: dict[str, list[SlaPolicy]] = {}
    if "policies" in table:
        path = folder / table["policies"]
        for policy in _read_policies(path, taxonomy, calendars, default_calendar, pause, clock):
            listed.setdefault(policy.service_code, []).append(policy)
    policies = []
    for code, st in taxonomy.service_types.items():
        if code in listed:
            policies.extend(listed[code])
            continue
        policies.append(SlaPolicy(
            service_code=code, target=st.sla_target, basis=st.sla_basis,
            calendar=st.calendar or default_calendar, pause_statuses=pause, clock_start=clock,
            source=f"service_types.csv ({st.sla_source})",
        ))
    return PolicyBook.build(policies, warning=warning)


def _read_policies(path: Path, taxonomy: Taxonomy, calendars: dict, default_calendar: str,
                   pause: frozenset[str], clock: str) -> list[SlaPolicy]:
    found = []
    seen: dict[tuple, int] = {}
    for line, row in read_profile_csv(path, POLICY_COLUMNS, POLICY_OPTIONAL):
        where = f"{path}: line {line}"
        code = row["service_code"]
        if code not in taxonomy.service_types:
            raise CivicError(f"{where}: service_code {code!r} is not a service type of the profile")
        effective = parse_effective_from(row["effective_from"], where=f"{where}: effective_from")
        key = (code, effective)
        if key in seen:
            raise CivicError(f"{where}: a second version of {code!r} from {row['effective_from'] or 'the beginning'} "
                             f"(first on line {seen[key]}); expected one version per service type and date")
        seen[key] = line
        calendar = row.get("calendar") or taxonomy.service_types[code].calendar or default_calendar
        if calendar not in calendars:
            raise CivicError(f"{where}: calendar {calendar!r} is not defined in profile.toml; expected one of {', '.join(calendars)}")
        first = row.get("first_response") or ""
        found.append(SlaPolicy(
            service_code=code,
            target=check_target(row["target"], where=f"{where}: target"),
            basis=parse_basis(row["basis"] or SlaBasis.CALENDAR_DAYS, where=f"{where}: basis"),
            calendar=calendar, effective_from=effective,
            first_response=check_target(first, where=f"{where}: first_response") if first else None,
            pause_statuses=(parse_pause_statuses(row["pause_statuses"].split(";"), where=f"{where}: pause_statuses")
                            if row.get("pause_statuses") else pause),
            clock_start=parse_clock_start(row.get("clock_start") or clock, where=f"{where}: clock_start"),
            source=f"{path.name} line {line}", note=row.get("note") or None,
        ))
    return found
