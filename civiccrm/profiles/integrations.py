"""Read a city profile's integration destinations: ``[integrations.<name>]`` and their status map CSVs."""

import re
from pathlib import Path

from civiccrm.domain.cases import parse_resolution, parse_status
from civiccrm.domain.integrations import Destination, StatusMapping
from civiccrm.domain.taxonomy import Taxonomy
from civiccrm.errors import CivicError
from civiccrm.profiles.csv_files import read_profile_csv

DESTINATION_KEYS = {
    "integration": str, "departments": list, "service_codes": list, "status_map": str,
    "alert_after_failures": int, "alert_after_hours": (int, float), "settings": dict,
}
STATUS_MAP_COLUMNS = ("external_status", "status")
STATUS_MAP_OPTIONAL = ("resolution", "note")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _status_map(path: Path) -> dict[str, StatusMapping]:
    found: dict[str, StatusMapping] = {}
    for line, row in read_profile_csv(path, STATUS_MAP_COLUMNS, STATUS_MAP_OPTIONAL):
        where = f"{path}: line {line}"
        code = row["external_status"].lower()
        if not code:
            raise CivicError(f"{where}: empty external_status")
        if code in found:
            raise CivicError(f"{where}: external_status {code!r} is listed twice")
        try:
            status = parse_status(row["status"], field="status")
            resolution = parse_resolution(row["resolution"], field="resolution") if row.get("resolution") else None
            found[code] = StatusMapping(external=code, status=status, resolution=resolution,
                                        note=row.get("note") or None)
        except CivicError as exc:
            raise CivicError(f"{where}: {exc}") from None
    if not found:
        raise CivicError(f"{path}: no statuses")
    return found


def load_integrations(folder: Path, table: dict, file: Path, taxonomy: Taxonomy) -> dict[str, Destination]:
    """Destination name -> Destination; which integration each names is checked when the deployment opens."""
    destinations = {}
    for name, spec in table.items():
        where = f"integrations.{name}"
        if not _NAME.match(name) or not isinstance(spec, dict):
            raise CivicError(f"{file}: [{where}] must be a table named with lower-case letters, digits, '-' or '_'")
        for key, value in spec.items():
            if key not in DESTINATION_KEYS:
                raise CivicError(f"{file}: unknown key {where}.{key!r}; expected one of {', '.join(DESTINATION_KEYS)}")
            if not isinstance(value, DESTINATION_KEYS[key]) or isinstance(value, bool):
                raise CivicError(f"{file}: key {where}.{key} has the wrong type: {value!r}")
        if "integration" not in spec:
            raise CivicError(f"{file}: missing key {where}.integration (open311, webhook or a plugin's name)")
        for department in spec.get("departments", []):
            if department not in taxonomy.departments:
                raise CivicError(f"{file}: {where}.departments: {department!r} is not a department of this profile")
        for code in spec.get("service_codes", []):
            if code not in taxonomy.service_types:
                raise CivicError(f"{file}: {where}.service_codes: {code!r} is not a service type of this profile")
        if not spec.get("departments") and not spec.get("service_codes"):
            raise CivicError(f"{file}: {where}: give departments or service_codes (which cases go there)")
        failures, hours = spec.get("alert_after_failures", 3), spec.get("alert_after_hours", 24)
        if failures < 1 or hours <= 0:
            raise CivicError(f"{file}: {where}: alert_after_failures must be at least 1 and alert_after_hours above 0")
        extra = {"status_map": _status_map(folder / spec["status_map"])} if "status_map" in spec else {}
        destinations[name] = Destination(
            name=name, integration=spec["integration"], departments=tuple(spec.get("departments", ())),
            service_codes=tuple(spec.get("service_codes", ())), settings=dict(spec.get("settings", {})),
            alert_after_failures=failures, alert_after_hours=float(hours), **extra)
    return destinations
