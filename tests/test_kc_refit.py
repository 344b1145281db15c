"""Issue 13's timeliness refit on Kansas City's real data (docs/kansas-city-timeframes.md, "The refit"):
the held-out agreement on a neighbourhood the fit did not see, the project's verdict being exactly
the refit's, and the shipped sla_policies.csv being what the fit writes."""

import shutil

import numpy as np
import pytest
from profile_helpers import KC

from civiccrm.profiles import load_profile
from civiccrm.services.sla.clock import core_due_epochs
from scripts.kansas_city import build_sla_policies, refit

HELD_OUT = "0_neighborhood.csv"  # 10,027 verdicts, the largest; leave-one-out over all 12 files: docs and
# scripts/kansas_city/heldout_agreement.py (96.75%); this one is below the mean


@pytest.fixture(scope="module")
def cases(shared_data):
    return refit.read_cases(shared_data / "kc311")


@pytest.fixture(scope="module")
def model(cases):
    return refit.fit(cases)


def test_held_out_neighbourhood_agrees_with_the_city(cases):
    agree, total, _, _ = refit.held_out(cases, files=[HELD_OUT])
    assert total == sum(1 for c in cases if c.file == HELD_OUT) > 3000
    # The per-type calendar-day threshold the issue compares against, fitted the same way on the same 11 files.
    train = [c for c in cases if c.file != HELD_OUT]
    test = [c for c in cases if c.file == HELD_OUT]
    calendar = {}
    for c in train:
        calendar.setdefault(c.request_type, []).append(c)
    thresholds = {name: refit.best_threshold(np.array([(c.closed - c.opened).days for c in g]),
                                             np.array([c.exceeded for c in g]))[0]
                  for name, g in calendar.items() if len(g) >= 5}
    plain = sum(((c.closed - c.opened).days > thresholds.get(c.request_type, 8)) == c.exceeded for c in test)
    assert agree / total >= 0.95
    assert agree > plain


def test_the_project_verdict_is_the_refit(cases, model):
    """Every verdict case: the SLA engine's due time under the shipped profile, against the importer's
    closing instant (00:00 of a later closing day, the opening itself on the same day), says late exactly
    when the refit does."""
    profile = load_profile(KC)
    codes = {st.name: st.code for st in profile.taxonomy.service_types.values()}
    opened = np.array([c.opened_at.timestamp() for c in cases])
    closed = np.array([c.opened_at.timestamp() if c.closed == c.opened else
                       c.opened_at.replace(year=c.closed.year, month=c.closed.month, day=c.closed.day,
                                           hour=0, minute=0).timestamp() for c in cases])
    due = core_due_epochs(profile, [codes[c.request_type] for c in cases], opened)
    assert not np.isnan(due).any()
    engine_late = closed > due
    # a type with fewer than 5 verdicts takes its department's T: the type's own (default) department
    departments = {d.code: d.name for d in profile.taxonomy.departments.values()}
    home = {st.name: departments.get(st.department) for st in profile.taxonomy.service_types.values()}
    refit_late = np.array([model.late(c, home[c.request_type]) for c in cases])
    assert (engine_late == refit_late).all(), [cases[i] for i in np.nonzero(engine_late != refit_late)[0][:5]]
    # In sample (the fit has seen these cases) the agreement with the city is higher than held out.
    assert (refit_late == np.array([c.exceeded for c in cases])).mean() > 0.97


def test_shipped_policies_are_what_the_fit_writes(tmp_path, shared_data, cases):
    for name in ("departments.csv", "service_types.csv"):
        shutil.copy(KC / name, tmp_path / name)
    rows = build_sla_policies.build(shared_data / "kc311", tmp_path, cases=cases)
    assert (tmp_path / "sla_policies.csv").read_bytes() == (KC / "sla_policies.csv").read_bytes()
    assert {r["service_code"] for r in rows} == set(load_profile(KC).taxonomy.service_types)
    assert {r["basis"] for r in rows} == {"business_days"}


def test_a_bad_date_names_the_file_and_line(tmp_path):
    header = "REQUEST TYPE,DEPARTMENT,CREATION DATE,CREATION TIME,EXCEEDED EST TIMEFRAME,CLOSED DATE\n"
    (tmp_path / "bad.csv").write_text(header + "Pothole,Public Works,11/16/2019,02:55 PM,N,11/22/2019\n"
                                      "Pothole,Public Works,2019-11-16,02:55 PM,N,11/22/2019\n", encoding="utf-8")
    with pytest.raises(SystemExit) as raised:
        refit.read_cases(tmp_path)
    assert "bad.csv: line 3" in str(raised.value) and "'2019-11-16 02:55 PM'" in str(raised.value)
    assert "expected dates like 11/22/2019" in str(raised.value)
    with pytest.raises(SystemExit, match="no kc311 CSV files"):
        refit.read_cases(tmp_path / "empty")


def test_threshold_and_pieces():
    days = np.array([1, 2, 3, 4, 5, 6])
    assert refit.best_threshold(days, days > 3) == (3, 0)
    assert refit.best_threshold(np.array([0, 0]), np.array([True, True])) == (1, 2)  # T >= 1
    # A type whose time-frame went from 5 business days to 1 in June 2010 gets two versions.
    months = np.repeat([2009 * 12 + m for m in range(6)] + [2010 * 12 + 5 + m for m in range(6)], 2)
    days = np.array([2, 7] * 6 + [2, 1] * 6)  # 2 days was on time before, late after
    late = np.array([False, True] * 6 + [True, False] * 6)
    pieces = refit.fit_pieces(months, days, late)
    assert [(p.start and p.start.isoformat(), p.target) for p in pieces] == [(None, 2), ("2010-06-01", 1)]


def test_keying_a_type_by_detail_fits_each_detail_its_own_time_frame():
    """Two details of one request type with different time-frames (2 and 10 business days): one T per type
    gets one of them wrong, one T per detail gets both right, held out; other types stay as they are."""
    from datetime import date, datetime

    def case(file, detail, days, late, request_type="Property Violations"):
        opened = date(2019, 3, 4)
        return refit.Case(file, request_type, "NHS", opened, days, late,
                          datetime(2019, 3, 4, 9, tzinfo=refit.CHICAGO), opened, detail)

    cases = [case(f"{n}.csv", detail, days, days > target)
             for n in range(3) for detail, target in (("Trash", 2), ("Vacant Structure", 10))
             for days in (1, 2, 3, 5, 8, 9, 11, 12)]
    cases += [case(f"{n}.csv", "", 3, False, request_type="Pothole") for n in range(3) for _ in range(5)]
    plain = refit.held_out(cases)
    keyed_cases = refit.key_by_detail(cases, ["Property Violations"])
    keyed = refit.held_out(keyed_cases)
    assert keyed[1] == plain[1] == len(cases)
    assert keyed[0] == len(cases) > plain[0]
    assert {c.request_type for c in keyed_cases} == {"Property Violations | Trash",
                                                     "Property Violations | Vacant Structure", "Pothole"}
    with pytest.raises(SystemExit, match="--per-detail: no request type 'Property Violatons'"):
        refit.key_by_detail(cases, ["Property Violatons"])


def test_the_export_detail_is_read(cases):
    details = {c.detail for c in cases if c.request_type == "Property Violations"}
    assert len(details) > 3 and "" not in details
