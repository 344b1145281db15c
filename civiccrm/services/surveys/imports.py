"""Survey imports: resident-survey exports and answer CSVs, checked row by row, stored in batches."""

import csv
import re
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select

from civiccrm.errors import CivicError
from civiccrm.profiles.csv_files import open_csv
from civiccrm.services.surveys.answers import answer_rows, month_of
from civiccrm.services.surveys.instruments import instrument
from civiccrm.store.tables import survey_answers_table, survey_attrs_table, survey_responses_table


_MISSING = {"", "NA", "N/A", "#NULL!"}
_CSV_ATTRS = ("respondent_id", "wave", "method", "answered_at", "department", "work_group", "service_code",
              "district", "channel", "audience")


def _code_of(raw: str) -> str | None:
    raw = raw.strip()
    if raw.upper() in _MISSING:
        return None
    if raw.upper() == "Y":  # a ticked box
        return "1"
    if raw.endswith(".0"):
        raw = raw[:-2]
    return raw


IMPORT_BATCH = 1000
"""Responses written per executemany (their answers and attributes follow in one more each)."""


def _insert_responses(deployment, instrument_code: str, prepared: list[tuple[dict, list[dict], dict]]) -> int:
    """Insert (response, answers, attributes) triples in batches, in one transaction, skipping
    respondents already stored for the wave."""
    r = survey_responses_table.c
    with deployment.engine.begin() as conn:
        waves = {p[0]["wave"] for p in prepared}
        existing = set()
        for wave in waves:
            existing |= {(wave, e) for e in conn.execute(select(r.external_id).where(
                r.instrument == instrument_code, r.wave == wave if wave is not None else r.wave.is_(None)
            )).scalars()}
        fresh = [p for p in prepared if p[0]["external_id"] is None or (p[0]["wave"], p[0]["external_id"]) not in existing]
        add_responses = insert(survey_responses_table).returning(r.id, sort_by_parameter_order=True)
        for start in range(0, len(fresh), IMPORT_BATCH):
            batch = fresh[start:start + IMPORT_BATCH]
            # one executemany per table and batch; the new ids come back in the order of the rows
            ids = conn.execute(add_responses, [response for response, _, _ in batch]).scalars().all()
            answers = [{**a, "response_id": rid} for rid, (_, rows, _) in zip(ids, batch) for a in rows]
            if answers:
                conn.execute(insert(survey_answers_table), answers)
            attributes = [{"response_id": rid, "name": k, "value": v}
                          for rid, (_, _, attrs_) in zip(ids, batch) for k, v in attrs_.items()]
            if attributes:
                conn.execute(insert(survey_attrs_table), attributes)
    return len(fresh)


def import_resident_survey(deployment, instrument_code: str, files: list[Path]) -> dict:
    """Import resident-survey CSV files laid out as the instrument's profile describes.

    Idempotent by (instrument, wave, respondent id): a respondent already stored for
    that wave is skipped. A file without the respondent column is refused.
    """
    inst = instrument(deployment, instrument_code)
    if not inst.respondent_column or not inst.wave_column:
        raise CivicError(f"instrument {instrument_code!r} has no respondent_column/wave_column in the profile; "
                         "it cannot be imported as a resident survey")
    pattern = re.compile(inst.item_pattern or r"^q\d+_\d+$")
    questions = {q.code: q for q in inst.questions}
    summary = {"files": [], "read": 0, "imported": 0, "skipped": 0}
    now = deployment.clock()
    for path in files:
        path = Path(path)
        prepared = []
        with open_csv(path) as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            for column in (inst.respondent_column, inst.wave_column):
                if column not in header:
                    raise CivicError(f"{path}: line 1: no column {column!r} (respondent id and wave identify a response)")
            items = [c for c in header if pattern.match(c)]
            unknown = [c for c in items if c not in questions]
            if unknown:
                raise CivicError(f"{path}: line 1: column(s) {', '.join(unknown[:5])} have no label in the profile; "
                                 f"add them to the items of survey {instrument_code!r}")
            seen = {}
            for row in reader:
                line = reader.line_num
                rid = (row.get(inst.respondent_column) or "").strip()
                wave = (row.get(inst.wave_column) or "").strip()
                if not rid or not wave:
                    raise CivicError(f"{path}: line {line}: empty {inst.respondent_column if not rid else inst.wave_column}")
                if (wave, rid) in seen:
                    raise CivicError(f"{path}: line {line}: respondent {rid!r} appears twice in wave {wave!r} (first on line {seen[(wave, rid)]})")
                seen[(wave, rid)] = line
                answers = []
                for item in items:
                    code = _code_of(row.get(item) or "")
                    if code is None:
                        continue
                    try:
                        value, raw, ok, text = questions[item].check(code)
                    except CivicError as exc:
                        raise CivicError(f"{path}: line {line}: column {item}: {exc}") from None
                    answers.append({"item": item, "value": value, "raw": raw,
                                    "acceptable": None if ok is None else int(ok), "text": text})
                attributes = {k: _code_of(row.get(k) or "") for k in inst.demographics if k in header}
                district = _code_of(row.get(inst.district_column) or "") if inst.district_column else None
                method = (row.get(inst.method_column) or "").strip() or None if inst.method_column else None
                prepared.append(({
                    "instrument": instrument_code, "source": "import", "external_id": rid, "wave": wave,
                    "method": method, "period": wave[:10], "answered_at": now, "district": district,
                    "audience": inst.audience,
                }, answers, {k: v for k, v in attributes.items() if v is not None}))
        imported = _insert_responses(deployment, instrument_code, prepared)
        summary["files"].append({"file": str(path), "read": len(prepared), "imported": imported})
        summary["read"] += len(prepared)
        summary["imported"] += imported
        summary["skipped"] += len(prepared) - imported
    return summary


def import_csv(deployment, instrument_code: str, path: Path) -> dict:
    """Import answers from a CSV with one column per item code, plus optional columns
    respondent_id, wave, method, answered_at, department, work_group, service_code,
    district, channel, audience. Every row is checked before anything is stored."""
    inst = instrument(deployment, instrument_code)
    codes = {q.code for q in inst.questions}
    path = Path(path)
    prepared = []
    with open_csv(path) as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        unknown = [c for c in header if c not in codes and c not in _CSV_ATTRS]
        if unknown:
            raise CivicError(f"{path}: line 1: unknown column(s) {', '.join(unknown)}; expected item codes of "
                             f"{instrument_code!r} or {', '.join(_CSV_ATTRS)}")
        for row in reader:
            line = reader.line_num
            meta = {k: (row.get(k) or "").strip() or None for k in _CSV_ATTRS}
            try:
                at = datetime.fromisoformat(meta["answered_at"]) if meta["answered_at"] else deployment.clock()
            except ValueError:
                raise CivicError(f"{path}: line {line}: answered_at {meta['answered_at']!r} is not a date like 2026-03-01") from None
            if at.tzinfo is None:
                at = at.replace(tzinfo=deployment.profile.tz)
            try:
                checked = inst.check_answers({c: row.get(c) for c in codes if c in header}, department=meta["department"])
            except CivicError as exc:
                raise CivicError(f"{path}: line {line}: {exc}") from None
            prepared.append(({
                "instrument": instrument_code, "source": "csv", "external_id": meta["respondent_id"],
                "wave": meta["wave"], "method": meta["method"], "period": month_of(deployment, at), "answered_at": at,
                "department": meta["department"], "work_group": meta["work_group"],
                "service_code": meta["service_code"], "district": meta["district"], "channel": meta["channel"],
                "audience": meta["audience"] or inst.audience,
            }, answer_rows(checked), {}))
    imported = _insert_responses(deployment, instrument_code, prepared)
    return {"file": str(path), "read": len(prepared), "imported": imported, "skipped": len(prepared) - imported}
