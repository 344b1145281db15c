"""Load a city profile's cost table (costs.csv): unit costs per service type or per department."""

from pathlib import Path

from civiccrm.domain.costs import CostTable, UnitCost
from civiccrm.errors import CivicError
from civiccrm.profiles.csv_files import read_profile_csv

COST_COLUMNS = ("department",)
COST_OPTIONAL = ("service_code", "cost_per_case", "hours_per_case", "cost_per_hour", "note")


def _amount(path, line, row, column) -> float | None:
    text = row.get(column, "")
    if not text:
        return None
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        raise CivicError(f"{path}: line {line}: {column}: {text!r} is not a number like 42.50") from None
    if not value >= 0:
        raise CivicError(f"{path}: line {line}: {column}: {text!r}; expected a number of 0 or more")
    return value


def load_cost_table(path: Path, taxonomy) -> CostTable:
    """The cost table at ``path``, every row checked against the taxonomy; errors name the file and line."""
    rows, seen = [], {}
    for line, row in read_profile_csv(path, COST_COLUMNS, COST_OPTIONAL):
        department = row["department"]
        if department not in taxonomy.departments:
            raise CivicError(f"{path}: line {line}: department: {department!r} is not a department of the taxonomy")
        code = row.get("service_code") or None
        if code is not None:
            service_type = taxonomy.service_types.get(code)
            if service_type is None:
                raise CivicError(f"{path}: line {line}: service_code: {code!r} is not a service type of the taxonomy")
            if service_type.department != department:
                raise CivicError(f"{path}: line {line}: service_code: {code!r} belongs to department "
                                 f"{service_type.department!r}, not {department!r}")
        key = code or f"department {department}"
        if key in seen:
            raise CivicError(f"{path}: line {line}: {key!r} already has a cost on line {seen[key]}")
        seen[key] = line
        per_case = _amount(path, line, row, "cost_per_case")
        hours, rate = _amount(path, line, row, "hours_per_case"), _amount(path, line, row, "cost_per_hour")
        if (per_case is None) == (hours is None and rate is None) or (per_case is None and None in (hours, rate)):
            raise CivicError(f"{path}: line {line}: give either cost_per_case, or hours_per_case and cost_per_hour")
        rows.append(UnitCost(department, code, per_case, hours, rate))
    return CostTable(tuple(rows))
