"""Read a profile's ``[[surveys]]`` tables (and item CSVs) into SurveyInstruments, checking each key."""

import re
from datetime import date
from pathlib import Path

from civiccrm.domain.surveys import ActionPlan, ActionStatus, Question, QuestionType, SurveyInstrument, Target
from civiccrm.errors import CivicError
from civiccrm.profiles.csv_files import read_profile_csv

_SURVEY = {
    "code": str, "name": str, "audience": str, "questions": list, "items": str, "scale": list,
    "labels": list, "acceptable": int, "na_codes": list, "na_label": str, "required": bool,
    "targets": list, "departments": list, "respondent_column": str, "wave_column": str,
    "method_column": str, "district_column": str, "demographics": dict, "item_pattern": str, "note": str,
    "action_plans": str,
}
_QUESTION = {
    "code": str, "text": str, "type": str, "scale": list, "labels": list, "acceptable": int,
    "target": (int, float), "na_codes": list, "na_label": str, "choices": list, "required": bool,
    "department": str,
}
_TARGET = {"item": str, "target": (int, float), "department": str, "baseline": (int, float), "baseline_period": str}
_CUSTOMERS = {"internal": list, "external": list}
_PLAN_COLUMNS = ("code", "item", "owner", "actions", "due")
_PLAN_OPTIONAL = ("department", "status")
_PLAN_CODE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_ITEM_COLUMNS = ("code", "text")
_ITEM_OPTIONAL = ("type", "scale_min", "scale_max", "acceptable", "na_codes", "na_label", "choices", "required", "department")
AUDIENCES = ("resident", "employee", "any")


def _check(table: dict, allowed: dict, where: str, file: Path) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise CivicError(f"{file}: unknown key {where}{key!r}; expected one of {', '.join(sorted(allowed))}")
        types = allowed[key] if isinstance(allowed[key], tuple) else (allowed[key],)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise CivicError(f"{file}: key {where}{key} must be a {' or '.join(t.__name__ for t in types)}, got {value!r}")


def _question(q: dict, defaults: dict, where: str, file, departments) -> Question:
    for key in ("code", "text"):
        if not q.get(key):
            raise CivicError(f"{file}: missing key {where}{key}")
    try:
        qtype = QuestionType(q.get("type", "scale"))
    except ValueError:
        raise CivicError(f"{file}: {where}type: {q['type']!r}; expected one of {', '.join(t.value for t in QuestionType)}") from None
    scale = q.get("scale", defaults.get("scale", [1, 5]))
    if len(scale) != 2 or not all(isinstance(v, int) for v in scale) or scale[0] >= scale[1]:
        raise CivicError(f"{file}: {where}scale: {scale!r} must be [lowest, highest] whole numbers")
    lo, hi = scale
    labels = q.get("labels")
    if labels is None:  # the survey's labels, when they fit this question's scale
        labels = defaults.get("labels", [])
        labels = labels if len(labels) == hi - lo + 1 else []
    if qtype is QuestionType.SCALE and labels and len(labels) != hi - lo + 1:
        raise CivicError(f"{file}: {where}labels: {len(labels)} labels for the {hi - lo + 1} points of scale {lo}-{hi}")
    acceptable = q.get("acceptable", defaults.get("acceptable", lo + (hi - lo) // 2))
    if qtype is QuestionType.SCALE and not lo <= acceptable <= hi:
        raise CivicError(f"{file}: {where}acceptable: {acceptable} is outside the scale {lo}-{hi}")
    target = q.get("target")
    if target is not None and not 0 < target <= 1:
        raise CivicError(f"{file}: {where}target: {target} must be a share between 0 and 1")
    na_codes = tuple(q.get("na_codes", defaults.get("na_codes", [])))
    if not all(isinstance(c, int) for c in na_codes):
        raise CivicError(f"{file}: {where}na_codes: {list(na_codes)!r} must be whole numbers")
    if qtype is QuestionType.SCALE and any(lo <= c <= hi for c in na_codes):
        raise CivicError(f"{file}: {where}na_codes: {list(na_codes)!r} overlap the scale {lo}-{hi}")
    choices = tuple(q.get("choices", []))
    if qtype is QuestionType.CHOICE and not choices:
        raise CivicError(f"{file}: {where}choices: a choice question needs its choices")
    department = q.get("department")
    if department is not None and department not in departments:
        raise CivicError(f"{file}: {where}department: {department!r} is not a department of this profile")
    return Question(
        code=q["code"], text=q["text"], scale_min=lo, scale_max=hi, acceptable=acceptable, target=target,
        na_codes=na_codes, type=qtype, labels=tuple(labels) if qtype is QuestionType.SCALE else (),
        na_label=q.get("na_label", defaults.get("na_label")), choices=choices,
        required=q.get("required", defaults.get("required", False)), department=department,
    )


def _items_csv(path: Path) -> list[tuple[str, dict]]:
    """Items from a CSV (code,text,type,scale_min,scale_max,...): one row per question."""
    rows = []
    for line, row in read_profile_csv(path, _ITEM_COLUMNS, _ITEM_OPTIONAL):
        where = f"{path}: line {line}: "
        q: dict = {k: v.strip() for k, v in row.items() if v and v.strip()}
        try:
            if "scale_min" in q or "scale_max" in q:
                q["scale"] = [int(q.pop("scale_min", 1)), int(q.pop("scale_max", 5))]
            if "acceptable" in q:
                q["acceptable"] = int(q["acceptable"])
            if "na_codes" in q:
                q["na_codes"] = [int(c) for c in q["na_codes"].split(";")]
        except ValueError as exc:
            raise CivicError(f"{where}not a whole number ({exc})") from None
        if "choices" in q:
            q["choices"] = [c.strip() for c in q["choices"].split(";")]
        if "required" in q:
            q["required"] = q["required"].lower() in ("true", "yes", "1")
        rows.append((where, q))
    return rows


def _action_plans(path: Path, survey: str, questions: list[Question], targets: list[Target], departments,
                  taken: dict) -> tuple[ActionPlan, ...]:
    """Action plans from a CSV (code,item,department,owner,actions,due,status), each checked
    against the survey: a known item, a department of the profile, a target to answer."""
    plans = []
    by_code = {q.code: q for q in questions}
    for line, row in read_profile_csv(path, _PLAN_COLUMNS, _PLAN_OPTIONAL):
        where = f"{path}: line {line}: "
        for column in _PLAN_COLUMNS:
            if not row.get(column):
                raise CivicError(f"{where}empty {column}")
        code = row["code"]
        if not _PLAN_CODE.match(code):
            raise CivicError(f"{where}code {code!r} must be lowercase letters, digits, '-', '_' or '.'")
        if code in taken:
            raise CivicError(f"{where}duplicate action plan code {code!r} (first at {taken[code]})")
        taken[code] = where.rstrip(": ")
        item = row["item"]
        if item not in by_code:
            raise CivicError(f"{where}item {item!r} is not a question of survey {survey!r}")
        department = row.get("department") or None
        if department is not None and department not in departments:
            raise CivicError(f"{where}department {department!r} is not a department of this profile")
        own = by_code[item].department
        if own is not None and department != own:
            raise CivicError(f"{where}item {item!r} is asked only about {own}'s cases; department must be {own}")
        if not any(t.item == item and t.department in (None, department) for t in targets) \
                and by_code[item].target is None:
            raise CivicError(f"{where}item {item!r} has no target{' for ' + department if department else ''}; "
                             "action plans answer an item under its target")
        try:
            due = date.fromisoformat(row["due"])
        except ValueError:
            raise CivicError(f"{where}due {row['due']!r} is not a date like 2027-03-31") from None
        key = (row.get("status") or "open").lower().replace(" ", "_").replace("-", "_")
        try:
            status = ActionStatus(key)
        except ValueError:
            raise CivicError(f"{where}status {row['status']!r}; expected one of "
                             f"{', '.join(s.value for s in ActionStatus)}") from None
        plans.append(ActionPlan(instrument=survey, item=item, owner=row["owner"], actions=row["actions"], due=due,
                                department=department, status=status, code=code))
    return tuple(plans)


def load_surveys(items: list, file: Path, departments) -> dict[str, SurveyInstrument]:
    """The instruments of ``[[surveys]]``; ``departments`` are the profile's department codes."""
    surveys = {}
    plan_codes: dict = {}
    for n, spec in enumerate(items, start=1):
        where = f"surveys[{n}]."
        _check(spec, _SURVEY, where, file)
        for key in ("code", "name"):
            if key not in spec:
                raise CivicError(f"{file}: missing key {where}{key}")
        if spec["code"] in surveys:
            raise CivicError(f"{file}: {where}code: duplicate survey code {spec['code']!r}")
        audience = spec.get("audience", "resident")
        if audience not in AUDIENCES:
            raise CivicError(f"{file}: {where}audience: {audience!r}; expected one of {', '.join(AUDIENCES)}")
        defaults = {k: spec[k] for k in ("scale", "labels", "acceptable", "na_codes", "na_label", "required") if k in spec}
        raw = [(f"{where}questions[{m}].", q) for m, q in enumerate(spec.get("questions", []), start=1)]
        if "items" in spec:
            raw += _items_csv(file.parent / spec["items"])
        if not raw:
            raise CivicError(f"{file}: {where}: a survey needs questions (or items = \"file.csv\")")
        questions, seen = [], set()
        for qwhere, q in raw:
            _check(q, _QUESTION, qwhere, file)
            if q.get("code") in seen:
                raise CivicError(f"{file}: {qwhere}code: duplicate question code {q['code']!r}")
            seen.add(q.get("code"))
            questions.append(_question(q, defaults, qwhere, file, departments))
        targets = []
        for m, t in enumerate(spec.get("targets", []), start=1):
            twhere = f"{where}targets[{m}]."
            _check(t, _TARGET, twhere, file)
            if "item" not in t or "target" not in t:
                raise CivicError(f"{file}: {twhere}: a target needs item and target")
            if t["item"] not in seen:
                raise CivicError(f"{file}: {twhere}item: {t['item']!r} is not a question of survey {spec['code']!r}")
            if t.get("department") is not None and t["department"] not in departments:
                raise CivicError(f"{file}: {twhere}department: {t['department']!r} is not a department of this profile")
            for key in ("target", "baseline"):
                if key in t and not 0 <= t[key] <= 1:
                    raise CivicError(f"{file}: {twhere}{key}: {t[key]} must be a share between 0 and 1")
            targets.append(Target(item=t["item"], target=float(t["target"]), department=t.get("department"),
                                  baseline=t.get("baseline"), baseline_period=t.get("baseline_period")))
        for dep in spec.get("departments", []):
            if dep not in departments:
                raise CivicError(f"{file}: {where}departments: {dep!r} is not a department of this profile")
        pattern = spec.get("item_pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise CivicError(f"{file}: {where}item_pattern: {pattern!r} is not a regular expression ({exc})") from None
        plans = ()
        if "action_plans" in spec:
            plans = _action_plans(file.parent / spec["action_plans"], spec["code"], questions, targets, departments,
                                  plan_codes)
        surveys[spec["code"]] = SurveyInstrument(
            code=spec["code"], name=spec["name"], questions=tuple(questions), audience=audience,
            targets=tuple(targets), departments=tuple(spec.get("departments", ())),
            respondent_column=spec.get("respondent_column"), wave_column=spec.get("wave_column"),
            method_column=spec.get("method_column"), district_column=spec.get("district_column"),
            demographics={str(k): str(v) for k, v in spec.get("demographics", {}).items()},
            item_pattern=pattern, note=spec.get("note"), action_plans=plans,
        )
    return surveys


def check_customers(table: dict, file: Path, departments) -> dict[str, dict[str, tuple[str, ...]]]:
    """``[customers.<department>]`` internal = [...], external = [...]: who each department serves."""
    found = {}
    for dep, spec in table.items():
        if dep not in departments:
            raise CivicError(f"{file}: customers.{dep}: not a department of this profile")
        if not isinstance(spec, dict):
            raise CivicError(f"{file}: customers.{dep} must be a table with internal and external lists")
        _check(spec, _CUSTOMERS, f"customers.{dep}.", file)
        found[dep] = {k: tuple(str(v) for v in spec.get(k, ())) for k in _CUSTOMERS}
    return found
