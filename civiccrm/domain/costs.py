"""Unit costs of casework: what one case of a type costs, per case or by hours of work at an hourly cost."""

import attrs


@attrs.frozen
class UnitCost:
    """The cost of one case: ``cost_per_case``, or ``hours_per_case`` x ``cost_per_hour``."""

    department: str
    service_code: str | None
    """None: the department's default, for its types without a row of their own."""
    cost_per_case: float | None = None
    hours_per_case: float | None = None
    cost_per_hour: float | None = None

    @property
    def per_case(self) -> float:
        if self.cost_per_case is not None:
            return self.cost_per_case
        return self.hours_per_case * self.cost_per_hour

    @property
    def basis(self) -> str:
        return "per case" if self.cost_per_case is not None else f"{self.hours_per_case:g} h x {self.cost_per_hour:,.2f}/h"


@attrs.frozen
class CostTable:
    """A city's unit costs: a type's own row wins over its department's default."""

    rows: tuple[UnitCost, ...]

    def for_type(self, service_code: str | None, department: str | None) -> UnitCost | None:
        own = next((r for r in self.rows if service_code is not None and r.service_code == service_code), None)
        return own or next((r for r in self.rows if r.service_code is None and r.department == department), None)
