"""Survey statistics and sampling: known values, reproducible draws, allocations, answer checks."""

import pytest

from civiccrm.domain.sampling import Allocation, Method, SamplingPlan, Unit, allocate, draw, parse_method
from civiccrm.domain.survey_stats import StratumCount, stratified_share, wilson
from civiccrm.domain.surveys import Question, QuestionType, SurveyInstrument, Target
from civiccrm.errors import CivicError


def test_wilson_19_of_20():
    low, high = wilson(19, 20)
    assert round(low, 3) == 0.764
    assert round(high, 3) == 0.991


def test_wilson_edges():
    assert wilson(0, 0) is None
    low, high = wilson(0, 10)
    assert low == 0.0 and round(high, 3) == 0.278
    low, high = wilson(10, 10)
    assert round(low, 3) == 0.722 and high == pytest.approx(1.0)


def test_stratified_share_weights_strata_by_population():
    # stratum A: 900 units, 10 answers, 9 acceptable; B: 100 units, 10 answers, 1 acceptable
    est = stratified_share([StratumCount(900, 10, 9), StratumCount(100, 10, 1)])
    assert est.share == pytest.approx(0.9 * 0.9 + 0.1 * 0.1)
    expected = 0.81 * (1 - 10 / 900) * 0.9 * 0.1 / 9 + 0.01 * (1 - 10 / 100) * 0.1 * 0.9 / 9
    assert est.variance == pytest.approx(expected)
    assert est.low < est.share < est.high
    assert stratified_share([StratumCount(10, 0, 0)]) is None


def test_strata_of_one_answer_are_pooled_not_reported_as_exact():
    """One answer per stratum gave a zero-width interval; now those strata are pooled for the variance."""
    strata = [StratumCount(100, 1, 1), StratumCount(100, 1, 0), StratumCount(100, 1, 1), StratumCount(100, 1, 0)]
    est = stratified_share(strata)
    assert est.share == pytest.approx(0.5)
    assert est.collapsed == 4
    assert est.high - est.low > 0.5  # four answers: wide, never exact
    one = stratified_share([StratumCount(50, 1, 1)])
    assert one.share == 1.0 and one.low is None and one.high is None and one.variance is None
    mixed = stratified_share([StratumCount(900, 10, 9), StratumCount(100, 1, 1)])
    assert mixed.collapsed == 2 and mixed.low < mixed.share < mixed.high


def test_answers_outside_a_plan_are_not_a_fully_sampled_stratum():
    """Imported answers without a plan (N_h only their count) were given no variance at all."""
    outside = StratumCount(40, 40, 30, known_population=False)
    est = stratified_share([StratumCount(900, 10, 9), outside])
    assert est.variance > 0 and est.high - est.low > 0
    alone = stratified_share([outside])
    low, high = alone.low, alone.high
    assert alone.share == 0.75 and low < 0.75 < high
    assert high - low == pytest.approx(2 * 1.959963984540054 * (0.75 * 0.25 / 39) ** 0.5)


def _frame(n=1000):
    return [Unit(id=i, stratum=["parks", "streets", "water"][i % 10 % 3] if i % 10 < 9 else "fire") for i in range(1, n + 1)]


def test_simple_random_draw_is_reproducible_and_seed_dependent():
    plan = SamplingPlan(code="p", instrument="post-case", method=Method.SIMPLE_RANDOM, sample_size=50, seed=7)
    first, again = draw(plan, _frame()), draw(plan, list(reversed(_frame())))
    assert first.selected == again.selected
    assert len(first.selected) == 50 and len({u.id for u in first.selected}) == 50
    other = draw(SamplingPlan(code="p", instrument="post-case", method=Method.SIMPLE_RANDOM, sample_size=50, seed=8), _frame())
    assert other.selected != first.selected
    assert first.weight(first.selected[0]) == 1000 / 50


@pytest.mark.parametrize("allocation", list(Allocation))
@pytest.mark.parametrize("n", [1, 7, 50, 333, 999, 5000])
def test_stratified_allocations_sum_to_n(allocation, n):
    plan = SamplingPlan(code="s", instrument="post-case", method=Method.STRATIFIED, sample_size=n, strata="department",
                        allocation=allocation, seed=3)
    result = draw(plan, _frame())
    assert sum(s["allocated"] for s in result.strata.values()) == min(n, 1000) == len(result.selected)
    for key, s in result.strata.items():
        assert s["allocated"] <= s["population"]
        assert sum(1 for u in result.selected if u.stratum == key) == s["allocated"]


def test_proportional_and_equal_allocation():
    sizes = {"a": 600, "b": 300, "c": 100}
    assert allocate(sizes, 100, Allocation.PROPORTIONAL) == {"a": 60, "b": 30, "c": 10}
    assert allocate(sizes, 100, Allocation.EQUAL) == {"a": 34, "b": 33, "c": 33}
    # equal allocation cannot take more than a stratum has; the rest goes elsewhere
    assert allocate({"a": 600, "b": 5}, 100, Allocation.EQUAL) == {"a": 95, "b": 5}


def test_systematic_draw_takes_every_kth_from_a_random_start():
    plan = SamplingPlan(code="y", instrument="post-case", method=Method.SYSTEMATIC, sample_size=100, seed=11)
    result = draw(plan, _frame())
    ids = [u.id for u in result.selected]
    assert result.step == 10 and 0 <= result.start < 10
    assert ids == list(range(result.start + 1, 1001, 10))
    assert draw(plan, _frame()).selected == result.selected


def test_census_and_convenience_take_the_whole_frame():
    for method in (Method.CENSUS, Method.CONVENIENCE):
        result = draw(SamplingPlan(code="c", instrument="post-case", method=method), _frame(20))
        assert len(result.selected) == 20
    assert not SamplingPlan(code="c", instrument="x", method=Method.CONVENIENCE).representative


def test_bad_plans_are_refused():
    with pytest.raises(CivicError, match="strata"):
        SamplingPlan(code="s", instrument="x", method=Method.STRATIFIED, sample_size=5)
    with pytest.raises(CivicError, match="strata"):
        SamplingPlan(code="s", instrument="x", method=Method.STRATIFIED, sample_size=5, strata="colour")
    with pytest.raises(CivicError, match="rate"):
        SamplingPlan(code="s", instrument="x", method=Method.SIMPLE_RANDOM, rate=1.5)
    with pytest.raises(CivicError, match="sample_size"):
        SamplingPlan(code="s", instrument="x", method=Method.SIMPLE_RANDOM, sample_size=0)
    with pytest.raises(CivicError, match="method"):
        parse_method("snowball")
    with pytest.raises(CivicError, match="sample size"):
        draw(SamplingPlan(code="s", instrument="x", method=Method.SIMPLE_RANDOM), _frame(10))


def test_selection_at_close_is_reproducible():
    plan = SamplingPlan(code="r", instrument="x", method=Method.SIMPLE_RANDOM, rate=0.25, seed=5)
    picked = [t for t in (f"KC-2026-{i:06d}" for i in range(4000)) if plan.selects_at_close(t)]
    assert picked == [t for t in (f"KC-2026-{i:06d}" for i in range(4000)) if plan.selects_at_close(t)]
    assert 0.2 < len(picked) / 4000 < 0.3
    assert SamplingPlan(code="c", instrument="x", method=Method.CENSUS).selects_at_close("anything")


TULSA_LIKE = SurveyInstrument(code="std", name="Standard", questions=(
    Question(code="overall", text="Overall positive", scale_min=1, scale_max=4, acceptable=3, na_codes=(0,),
             na_label="N/A", required=True, labels=("Strongly Disagree", "Disagree", "Agree", "Strongly Agree")),
    Question(code="again", text="Use again?", type=QuestionType.YES_NO),
    Question(code="how", text="How did you contact us?", type=QuestionType.CHOICE, choices=("Phone", "Web")),
    Question(code="comment", text="Anything else?", type=QuestionType.TEXT),
    Question(code="parks_only", text="Parks were clean", scale_min=1, scale_max=4, acceptable=3, department="parks"),
), targets=(Target(item="overall", target=0.8), Target(item="overall", target=0.9, department="parks")))


def test_answer_checks():
    checked = TULSA_LIKE.check_answers({"overall": "4", "again": "0", "how": "2", "comment": " ok "})
    assert checked["overall"] == (4, 4, True, None)
    assert checked["again"] == (0, 0, False, None)
    assert checked["how"] == (2, 2, None, None)
    assert checked["comment"] == (None, None, None, "ok")
    assert "parks_only" not in checked
    assert TULSA_LIKE.check_answers({"overall": "0"})["overall"] == (None, 0, None, None)  # N/A: no answer
    assert "parks_only" in TULSA_LIKE.check_answers({"overall": 3}, department="parks")


@pytest.mark.parametrize("answers, message", [
    ({"overall": "5"}, "overall: 5 is out of range; expected 1 to 4 or 0 for N/A"),
    ({}, "overall: an answer is required"),
    ({"overall": "abc"}, "overall: 'abc' is not a whole number"),
    ({"overall": "3", "how": "3"}, "how: 3 is out of range"),
    ({"overall": "3", "nosuch": "1"}, "nosuch: not an item"),
    ({"overall": "3", "comment": "x" * 2001}, "comment: 2001 characters"),
])
def test_bad_answers_name_the_item(answers, message):
    with pytest.raises(CivicError, match=message.replace("(", r"\(")):
        TULSA_LIKE.check_answers(answers)


def test_targets_department_before_instrument():
    assert TULSA_LIKE.target_for("overall").target == 0.8
    assert TULSA_LIKE.target_for("overall", "parks").target == 0.9
    assert TULSA_LIKE.target_for("overall", "finance").target == 0.8
    assert TULSA_LIKE.target_for("again") is None
