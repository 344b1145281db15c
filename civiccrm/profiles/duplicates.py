"""Read a city profile's duplicate check: the ``[duplicates]`` table and its per-type rules CSV."""

import math
from pathlib import Path

from civiccrm.domain.duplicates import DuplicatePolicy, DuplicateRule
from civiccrm.domain.taxonomy import Taxonomy
from civiccrm.errors import CivicError
from civiccrm.profiles.csv_files import read_profile_csv

DUPLICATES_KEYS = {"radius_m": (int, float), "window_days": (int, float), "limit": int, "rules": str}
RULE_COLUMNS = ("service_code",)
RULE_OPTIONAL = ("radius_m", "window_days", "group")


def _number(raw, *, where: str, default: float) -> float:
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise CivicError(f"{where}: {raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise CivicError(f"{where}: {raw!r}; expected a number of at least 0 (0 turns the check off)")
    return value


def load_duplicates(folder: Path, table: dict, file: Path, taxonomy: Taxonomy) -> DuplicatePolicy:
    """The city's DuplicatePolicy; an absent table gives the defaults (100 m, 30 days, 5 candidates)."""
    for key, value in table.items():
        if key not in DUPLICATES_KEYS:
            raise CivicError(f"{file}: unknown key duplicates.{key!r}; expected one of {', '.join(DUPLICATES_KEYS)}")
        if not isinstance(value, DUPLICATES_KEYS[key]) or isinstance(value, bool):
            raise CivicError(f"{file}: key duplicates.{key} has the wrong type: {value!r}")
    default = DuplicateRule(
        radius_m=_number(table.get("radius_m"), where=f"{file}: duplicates.radius_m", default=100.0),
        window_days=_number(table.get("window_days"), where=f"{file}: duplicates.window_days", default=30.0),
    )
    limit = table.get("limit", 5)
    if limit < 1:
        raise CivicError(f"{file}: duplicates.limit must be at least 1, got {limit}")
    rules: dict[str, DuplicateRule] = {}
    if "rules" in table:
        path = folder / table["rules"]
        for line, row in read_profile_csv(path, RULE_COLUMNS, RULE_OPTIONAL):
            where = f"{path}: line {line}"
            code = row["service_code"]
            if code not in taxonomy.service_types:
                raise CivicError(f"{where}: service_code {code!r} is not a service type of this profile")
            if code in rules:
                raise CivicError(f"{where}: service_code {code!r} is listed twice")
            rules[code] = DuplicateRule(
                radius_m=_number(row.get("radius_m"), where=f"{where}: radius_m", default=default.radius_m),
                window_days=_number(row.get("window_days"), where=f"{where}: window_days", default=default.window_days),
                group=row.get("group") or None,
            )
    return DuplicatePolicy(default=default, rules=rules, limit=limit)
