"""Read and check a city profile folder (profile.toml, taxonomy CSVs, GeoJSON)."""

import math
import re
import tomllib
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from civiccrm.domain import calls as call_domain
from civiccrm.domain.attributes import ATTRIBUTE_CODE, AttributeValue, Datatype, ServiceAttribute
from civiccrm.domain.calendar import WEEKDAYS, BusinessCalendar, HolidaySet, parse_day_hours
from civiccrm.domain.geo import CityMap
from civiccrm.domain.profile import CityProfile
from civiccrm.domain.taxonomy import Department, ServiceType, SlaBasis, Taxonomy, WorkGroup
from civiccrm.errors import CivicError
from civiccrm.profiles.csv_files import read_profile_csv
from civiccrm.profiles.duplicates import load_duplicates
from civiccrm.profiles.integrations import load_integrations
from civiccrm.profiles.sla import load_sla
from civiccrm.profiles.surveys import check_customers, load_surveys

PROFILE_FILE = "profile.toml"

# Allowed keys per table: key -> type (or a nested dict for sub-tables).
_CITY = {
    "slug": str, "name": str, "timezone": str, "fiscal_year_start": str,
    "tracking_prefix": str, "languages": list, "channels": list, "report_packs": list, "plugins": list,
}
_TAXONOMY = {
    "departments": str, "work_groups": str, "service_types": str, "default_sla_days": (int, float),
    "service_attributes": str,
}
_CALENDAR = {"name": str, "default": bool, "hours": dict, "holidays": dict, "closures": list}
_HOLIDAYS = {"country": str, "subdivision": str, "categories": list}
_GEO = {"boundary": str, "districts": str, "district_property": str}
_TOP = {"city": dict, "taxonomy": dict, "calendars": dict, "geo": dict, "surveys": list, "customers": dict, "import": dict, "plugins": dict,
        "open311": dict, "sla": dict, "duplicates": dict, "open_data": dict, "calls": dict, "integrations": dict,
        "privacy": dict}
_OPEN311 = {"jurisdiction_id": str}
_PRIVACY = {"retention_years": (int, float)}
_OPEN_DATA = {"public_descriptions": bool}

_SERVICE_TYPE_COLUMNS = ("code", "name", "department")
_SERVICE_TYPE_OPTIONAL = (
    "category", "type", "detail", "work_group", "sla_days", "sla_target", "sla_basis",
    "sla_source", "calendar", "keywords", "description", "cases", "cases_with_verdict",
)
_CODE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _check_keys(table: dict, allowed: dict, *, where: str, file: Path) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise CivicError(
                f"{file}: unknown key {where}{key!r}; expected one of {', '.join(sorted(allowed))}"
            )
        types = allowed[key] if isinstance(allowed[key], tuple) else (allowed[key],)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join(t.__name__ for t in types)
            raise CivicError(f"{file}: key {where}{key} must be a {names}, got {value!r}")


def _require(table: dict, keys, *, where: str, file: Path) -> None:
    for key in keys:
        if key not in table:
            raise CivicError(f"{file}: missing key {where}{key}")


def _unique(rows, path: Path, what: str) -> dict[str, tuple[int, dict]]:
    seen: dict[str, tuple[int, dict]] = {}
    for line, row in rows:
        code = row["code"]
        if not code:
            raise CivicError(f"{path}: line {line}: empty code")
        if not _CODE.match(code):
            raise CivicError(f"{path}: line {line}: code {code!r} must be lowercase letters, digits, '-', '_' or '.'")
        if code in seen:
            raise CivicError(f"{path}: line {line}: duplicate {what} code {code!r} (first on line {seen[code][0]})")
        seen[code] = (line, row)
    return seen


def _load_taxonomy(folder: Path, table: dict, file: Path, calendars: dict) -> Taxonomy:
    _check_keys(table, _TAXONOMY, where="taxonomy.", file=file)
    _require(table, ["departments", "service_types"], where="taxonomy.", file=file)
    default_days = float(table.get("default_sla_days", 10))

    dep_path = folder / table["departments"]
    departments = {
        code: Department(code=code, name=row["name"] or code)
        for code, (_, row) in _unique(read_profile_csv(dep_path, ("code", "name"), ()), dep_path, "department").items()
    }
    work_groups: dict[str, WorkGroup] = {}
    if "work_groups" in table:
        wg_path = folder / table["work_groups"]
        for code, (line, row) in _unique(read_profile_csv(wg_path, ("code", "name", "department"), ()), wg_path, "work group").items():
            if row["department"] not in departments:
                raise CivicError(f"{wg_path}: line {line}: department {row['department']!r} is not in {dep_path.name}")
            work_groups[code] = WorkGroup(code=code, name=row["name"] or code, department=row["department"])

    st_path = folder / table["service_types"]
    service_types: dict[str, ServiceType] = {}
    names: dict[str, int] = {}
    for code, (line, row) in _unique(read_profile_csv(st_path, _SERVICE_TYPE_COLUMNS, _SERVICE_TYPE_OPTIONAL), st_path, "service type").items():
        if not row["name"]:
            raise CivicError(f"{st_path}: line {line}: empty name")
        folded = row["name"].casefold()
        if folded in names:
            raise CivicError(f"{st_path}: line {line}: duplicate service type name {row['name']!r} (first on line {names[folded]})")
        names[folded] = line
        if row["department"] not in departments:
            raise CivicError(f"{st_path}: line {line}: department {row['department']!r} is not in {dep_path.name}")
        wg = row.get("work_group") or None
        if wg and wg not in work_groups:
            raise CivicError(f"{st_path}: line {line}: work_group {wg!r} is not a known work group")
        raw_target = row.get("sla_target") or row.get("sla_days") or ""
        try:
            target = float(raw_target) if raw_target else default_days
        except ValueError:
            raise CivicError(f"{st_path}: line {line}: sla_days {raw_target!r} is not a number") from None
        if not math.isfinite(target):
            raise CivicError(f"{st_path}: line {line}: sla_days {raw_target!r} is not a finite number")
        if target <= 0:
            raise CivicError(f"{st_path}: line {line}: sla_days must be greater than 0, got {raw_target}")
        basis = row.get("sla_basis") or SlaBasis.CALENDAR_DAYS
        if basis not in SlaBasis.ALL:
            raise CivicError(f"{st_path}: line {line}: sla_basis {basis!r}; expected one of {', '.join(SlaBasis.ALL)}")
        calendar = row.get("calendar") or None
        if calendar and calendar not in calendars:
            raise CivicError(f"{st_path}: line {line}: calendar {calendar!r} is not defined in {PROFILE_FILE}")
        service_types[code] = ServiceType(
            code=code, name=row["name"], category=row.get("category") or None,
            type=row.get("type") or None, detail=row.get("detail") or None,
            department=row["department"], work_group=wg, sla_target=target, sla_basis=basis,
            sla_source=row.get("sla_source") or ("profile" if raw_target else "default"),
            calendar=calendar,
            keywords=tuple(k.strip() for k in (row.get("keywords") or "").split(";") if k.strip()),
            description=row.get("description") or None,
        )
    if not service_types:
        raise CivicError(f"{st_path}: no service types")
    return Taxonomy(departments=departments, work_groups=work_groups, service_types=service_types)


def _load_calendars(table: dict, tz: str, file: Path) -> tuple[dict[str, BusinessCalendar], str]:
    if not table:
        raise CivicError(f"{file}: missing table [calendars.<code>] with the centre's opening hours")
    calendars = {}
    default = None
    for code, spec in table.items():
        where = f"calendars.{code}."
        if not isinstance(spec, dict):
            raise CivicError(f"{file}: calendars.{code} must be a table")
        _check_keys(spec, _CALENDAR, where=where, file=file)
        _require(spec, ["hours"], where=where, file=file)
        for day in spec["hours"]:
            if day not in WEEKDAYS:
                raise CivicError(f"{file}: unknown key {where}hours.{day!r}; expected a weekday name ({', '.join(WEEKDAYS)})")
        week = []
        for day in WEEKDAYS:
            raw = spec["hours"].get(day, [])
            if isinstance(raw, str):
                raw = [raw]
            if not isinstance(raw, list) or not all(isinstance(t, str) for t in raw):
                raise CivicError(f"{file}: {where}hours.{day}: {raw!r} is not a list of intervals like [\"07:00-20:00\"]")
            week.append(parse_day_hours(raw, where=f"{file}: {where}hours.{day}"))
        holidays = None
        if "holidays" in spec:
            _check_keys(spec["holidays"], _HOLIDAYS, where=f"{where}holidays.", file=file)
            _require(spec["holidays"], ["country"], where=f"{where}holidays.", file=file)
            holidays = HolidaySet(
                country=spec["holidays"]["country"], subdivision=spec["holidays"].get("subdivision"),
                categories=tuple(spec["holidays"].get("categories", ())),
            )
            holidays.check(where=f"{file}: {where}holidays")
        closures = set()
        for raw in spec.get("closures", []):
            try:
                closures.add(raw if isinstance(raw, date) else date.fromisoformat(str(raw)))
            except ValueError:
                raise CivicError(f"{file}: {where}closures: {raw!r} is not a date like 2026-01-26") from None
        calendars[code] = BusinessCalendar(
            code=code, name=spec.get("name", code), timezone=tz, hours=tuple(week),
            holidays=holidays, closures=frozenset(closures),
        )
        if spec.get("default"):
            if default:
                raise CivicError(f"{file}: calendars {default!r} and {code!r} are both marked default")
            default = code
    return calendars, default or next(iter(calendars))


_ATTRIBUTE_COLUMNS = ("service_code", "code", "datatype", "description")
_ATTRIBUTE_OPTIONAL = ("order", "required", "variable", "datatype_description", "values")
_BOOLEAN = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False, "": None}


def _load_service_attributes(path: Path, taxonomy: Taxonomy) -> dict[str, tuple[ServiceAttribute, ...]]:
    """Read the service attributes CSV: one row per question; list values as ``key=Name;key=Name``."""
    found: dict[str, dict[str, tuple[int, ServiceAttribute]]] = {}
    for line, row in read_profile_csv(path, _ATTRIBUTE_COLUMNS, _ATTRIBUTE_OPTIONAL):
        where = f"{path}: line {line}"
        service_code, code = row["service_code"], row["code"]
        if service_code not in taxonomy.service_types:
            raise CivicError(f"{where}: service_code {service_code!r} is not a service type of this profile")
        if not ATTRIBUTE_CODE.match(code):
            raise CivicError(f"{where}: code {code!r} must be letters, digits, '-', '_' or '.'")
        if row["datatype"] not in Datatype.ALL:
            raise CivicError(f"{where}: datatype {row['datatype']!r}; expected one of {', '.join(Datatype.ALL)}")
        if not row["description"]:
            raise CivicError(f"{where}: empty description (the question a resident is asked)")
        flags = {}
        for name, default in (("required", False), ("variable", True)):
            raw = row.get(name, "").lower()
            if raw not in _BOOLEAN:
                raise CivicError(f"{where}: {name} {row[name]!r} must be true or false")
            flags[name] = default if _BOOLEAN[raw] is None else _BOOLEAN[raw]
        service = found.setdefault(service_code, {})
        if code in service:
            raise CivicError(f"{where}: duplicate attribute {code!r} for {service_code!r} (first on line {service[code][0]})")
        raw_order = row.get("order") or str(len(service) + 1)
        if not raw_order.isdigit() or int(raw_order) < 1:
            raise CivicError(f"{where}: order {raw_order!r} must be a positive whole number")
        order = int(raw_order)
        clash = [c for c, (_, a) in service.items() if a.order == order]
        if clash:
            raise CivicError(f"{where}: order {order} is already used by {clash[0]!r} of {service_code!r}")
        values = []
        for item in filter(None, (v.strip() for v in (row.get("values") or "").split(";"))):
            key, sep, name = item.partition("=")
            if not sep or not key.strip() or not name.strip():
                raise CivicError(f"{where}: value {item!r} must be written key=Name")
            if key.strip() in {v.key for v in values}:
                raise CivicError(f"{where}: value key {key.strip()!r} appears twice")
            values.append(AttributeValue(key=key.strip(), name=name.strip()))
        if row["datatype"] in Datatype.LISTS and not values:
            raise CivicError(f"{where}: a {row['datatype']} needs values, written key=Name;key=Name")
        if row["datatype"] not in Datatype.LISTS and values:
            raise CivicError(f"{where}: values are only for singlevaluelist and multivaluelist, not {row['datatype']}")
        service[code] = (line, ServiceAttribute(
            code=code, datatype=row["datatype"], description=row["description"], order=order,
            required=flags["required"], variable=flags["variable"],
            datatype_description=row.get("datatype_description") or None, values=tuple(values),
        ))
    return {
        service_code: tuple(sorted((a for _, a in attributes.values()), key=lambda a: a.order))
        for service_code, attributes in found.items()
    }


def load_profile(folder: Path | str) -> CityProfile:
    """Load and check ``folder/profile.toml`` and the files it names."""
    folder = Path(folder)
    file = folder / PROFILE_FILE
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CivicError(f"{file}: cannot read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CivicError(f"{file}: not valid TOML: {exc}") from None
    _check_keys(data, _TOP, where="", file=file)
    _require(data, ["city", "taxonomy", "calendars"], where="", file=file)
    city = data["city"]
    _check_keys(city, _CITY, where="city.", file=file)
    _require(city, ["slug", "name", "timezone"], where="city.", file=file)
    try:
        ZoneInfo(city["timezone"])
    except (ZoneInfoNotFoundError, ValueError):
        raise CivicError(f"{file}: city.timezone {city['timezone']!r} is not an IANA timezone like America/Chicago") from None
    fy = city.get("fiscal_year_start", "01-01")
    try:
        month, day = (int(p) for p in fy.split("-"))
        date(2001, month, day)
    except ValueError:
        raise CivicError(f"{file}: city.fiscal_year_start {fy!r} is not a month-day like \"05-01\"") from None
    city_plugins = city.get("plugins", [])
    for name in city_plugins:
        if not isinstance(name, str) or not _MODULE.match(name):
            raise CivicError(f"{file}: city.plugins: {name!r} is not a Python module name like \"civiccrm_plugins.kcmo_import\"")

    calendars, default_calendar = _load_calendars(data["calendars"], city["timezone"], file)
    taxonomy = _load_taxonomy(folder, data["taxonomy"], file, calendars)
    service_attributes = {}
    if "service_attributes" in data["taxonomy"]:
        service_attributes = _load_service_attributes(folder / data["taxonomy"]["service_attributes"], taxonomy)
    _check_keys(data.get("open311", {}), _OPEN311, where="open311.", file=file)
    _check_keys(data.get("open_data", {}), _OPEN_DATA, where="open_data.", file=file)
    _check_keys(data.get("privacy", {}), _PRIVACY, where="privacy.", file=file)
    retention = data.get("privacy", {}).get("retention_years")
    if retention is not None and not 0 < retention <= 100:
        raise CivicError(f"{file}: privacy.retention_years {retention!r} is not a number of years from above 0 to 100")
    sla = load_sla(folder, data.get("sla", {}), file, taxonomy, calendars, default_calendar)

    geo = data.get("geo", {})
    _check_keys(geo, _GEO, where="geo.", file=file)
    city_map = CityMap.from_files(
        folder / geo["boundary"] if "boundary" in geo else None,
        folder / geo["districts"] if "districts" in geo else None,
        geo.get("district_property", "district_id"),
    )
    return CityProfile(
        slug=city["slug"], name=city["name"], timezone=city["timezone"], path=folder,
        fiscal_year_start=(month, day), tracking_prefix=city.get("tracking_prefix", city["slug"][:3].upper()),
        languages=tuple(city.get("languages", ["en"])), channels=tuple(city.get("channels", ())),
        taxonomy=taxonomy, calendars=calendars, default_calendar=default_calendar, city_map=city_map,
        surveys=load_surveys(data.get("surveys", []), file, taxonomy.departments), report_packs=tuple(city.get("report_packs", ())),
        settings={k: v for k, v in data.items() if k in ("import", "plugins", "open311", "open_data", "privacy")}
        | {"customers": check_customers(data.get("customers", {}), file, taxonomy.departments)},
        service_attributes=service_attributes, sla=sla, plugins=tuple(city_plugins),
        duplicates=load_duplicates(folder, data.get("duplicates", {}), file, taxonomy),
        integrations=load_integrations(folder, data.get("integrations", {}), file, taxonomy),
        calls=call_domain.parse_settings(data["calls"], where=str(file)) if "calls" in data else None,
    )
