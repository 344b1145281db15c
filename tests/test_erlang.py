"""Erlang C and Erlang A against published values and an exact birth-death computation."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

from civiccrm.domain import erlang


def _f(value) -> float:
    return float(np.asarray(value))


# pyworkforce's own ErlangC test cases (rodrigo-arenas/pyworkforce, queuing/tests/test_erlang.py):
# 100 transactions in 30 minutes, AHT 3 minutes, answer within 0.33 minutes, shrinkage 0.3.
# 14 raw positions (20 with shrinkage): service level 0.888, occupancy 0.714, P(wait) 0.174;
# with max occupancy 0.7, 15 raw positions (22): 0.941, 0.667, 0.102.
@pytest.mark.parametrize("agents, level, occupancy, wait", [(14, 0.888, 0.714, 0.174), (15, 0.941, 0.667, 0.102)])
def test_erlang_c_matches_pyworkforce(agents, level, occupancy, wait):
    figures = erlang.erlang_c_figures(arrivals_per_hour=200, aht_seconds=180, agents=agents,
                                      answer_within_seconds=0.33 * 60)
    assert round(_f(figures.service_level), 3) == level
    assert round(_f(figures.occupancy), 3) == occupancy
    assert round(_f(figures.probability_wait), 3) == wait


def test_pyworkforce_required_positions():
    raw = erlang.agents_needed(arrivals_per_hour=200, aht_seconds=180, service_level=0.8,
                               answer_within_seconds=0.33 * 60)
    assert raw.tolist() == [14]
    assert math.ceil(14 / (1 - 0.3)) == 20
    capped = erlang.agents_needed(arrivals_per_hour=200, aht_seconds=180, service_level=0.8,
                                  answer_within_seconds=0.33 * 60, max_occupancy=0.7)
    assert capped.tolist() == [15]


# Published Erlang C probabilities of waiting for large loads (perehinik/call-center-tools,
# python/tests/unit/test_staffing.py): traffic 123 on 132 agents -> 0.3211; 12,345 on 12,421 -> 0.3812.
@pytest.mark.parametrize("load, agents, expected", [(1, 1, 1.0), (123, 132, 0.3211), (12345, 12421, 0.3812), (1000, 900, 1.0)])
def test_erlang_c_large_loads(load, agents, expected):
    assert round(_f(erlang.erlang_c(agents, load)), 4) == expected


def test_erlang_c_service_level_textbook():
    # The same source: load 123 on 130 agents, AHT 300 s, T = 20 s: service level 0.7339 given P(wait) 0.4244.
    figures = erlang.erlang_c_figures(arrivals_per_hour=123 * 12, aht_seconds=300, agents=130, answer_within_seconds=20)
    assert round(_f(figures.probability_wait), 4) == 0.4244
    assert round(_f(figures.service_level), 4) == 0.7339


def test_erlang_b_textbook():
    # Erlang B tables: 5 Erlangs on 10 trunks block 1.84%.
    assert round(_f(erlang.erlang_b(10, 5)), 4) == 0.0184
    assert _f(erlang.erlang_b(0, 3)) == 1.0
    # far more load than agents: B -> 1 - n/a
    assert _f(erlang.erlang_b(10, 1e6)) == pytest.approx(1 - 10 / 1e6, rel=1e-9)


def _birth_death(lam, mu, theta, n, answer_within):
    """Exact M/M/n+M: the stationary chain (truncated where its mass is gone) and, for the
    service level, a tagged caller's own absorbing chain solved with a matrix exponential."""
    top = int(n + 60 + 12 * math.sqrt(lam / theta + 1))
    log_p = np.zeros(top + 1)
    for k in range(1, top + 1):
        death = k * mu if k <= n else n * mu + (k - n) * theta
        log_p[k] = log_p[k - 1] + math.log(lam / death)
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    waiting = p[n:].sum()
    queue = sum((k - n) * p[k] for k in range(n, top + 1))
    abandon = theta * queue / lam  # rate of abandonment / rate of arrival
    # A caller who finds n + j in the system has j ahead: each step ahead at n mu + i theta,
    # abandonment at theta. States 0..J are "i ahead", J+1 served, J+2 abandoned.
    ahead = top - n
    size = ahead + 3
    q = np.zeros((size, size))
    for i in range(ahead + 1):
        step = n * mu + i * theta
        q[i, i - 1 if i else ahead + 1] = step
        q[i, ahead + 2] = theta
        q[i, i] = -(step + theta)
    served_by = expm(q * answer_within)[: ahead + 1, ahead + 1]
    level = p[:n].sum() + sum(p[n + j] * served_by[j] for j in range(ahead + 1))
    return waiting, abandon, queue / lam, level


@pytest.mark.parametrize("per_hour, aht, patience, agents", [
    (200, 180, 120, 6), (200, 180, 120, 10), (200, 180, 600, 14), (200, 180, 30, 3),
    (50, 300, 90, 1), (1500, 240, 200, 95), (1500, 240, 200, 120),
])
def test_erlang_a_matches_exact_birth_death(per_hour, aht, patience, agents):
    figures = erlang.erlang_a_figures(arrivals_per_hour=per_hour, aht_seconds=aht, agents=agents,
                                      patience_seconds=patience, answer_within_seconds=20)
    waiting, abandon, wait, level = _birth_death(per_hour / 3600, 1 / aht, 1 / patience, agents, 20)
    assert _f(figures.probability_wait) == pytest.approx(waiting, rel=1e-9)
    assert _f(figures.probability_abandon) == pytest.approx(abandon, rel=1e-9)
    assert _f(figures.average_wait) == pytest.approx(wait, rel=1e-9)
    assert _f(figures.service_level) == pytest.approx(level, rel=1e-6)


def test_erlang_a_thousands_of_erlangs():
    # 5,000 Erlangs: finite, in range and close to Erlang C when patience is long.
    a = erlang.erlang_a_figures(arrivals_per_hour=60_000, aht_seconds=300, agents=5_100,
                                patience_seconds=1e6, answer_within_seconds=20)
    c = erlang.erlang_c_figures(arrivals_per_hour=60_000, aht_seconds=300, agents=5_100, answer_within_seconds=20)
    assert _f(a.probability_wait) == pytest.approx(_f(c.probability_wait), rel=1e-3)
    assert _f(a.service_level) == pytest.approx(_f(c.service_level), rel=1e-3)
    # fewer agents than the load: Erlang C has no answer, Erlang A does
    short = erlang.erlang_a_figures(arrivals_per_hour=60_000, aht_seconds=300, agents=4_000,
                                    patience_seconds=120, answer_within_seconds=20)
    assert 0.15 < _f(short.probability_abandon) < 0.25  # about 1 - 4000/5000 at most
    assert _f(erlang.erlang_c_figures(arrivals_per_hour=60_000, aht_seconds=300, agents=4_000,
                                      answer_within_seconds=20).service_level) == 0.0


@settings(max_examples=60, deadline=None)
@given(
    per_hour=st.floats(min_value=1, max_value=20_000),
    aht=st.floats(min_value=30, max_value=900),
    patience=st.one_of(st.none(), st.floats(min_value=5, max_value=2000)),
    agents=st.integers(min_value=0, max_value=3000),
    within=st.floats(min_value=0, max_value=120),
)
def test_more_agents_never_raise_waiting_or_abandonment(per_hour, aht, patience, agents, within):
    grid = np.array([agents, agents + 1])
    f = erlang.queue_figures(arrivals_per_hour=per_hour, aht_seconds=aht, agents=grid,
                             answer_within_seconds=within, patience_seconds=patience)
    assert f.probability_wait[1] <= f.probability_wait[0] + 1e-12
    assert f.probability_abandon[1] <= f.probability_abandon[0] + 1e-12
    assert f.average_wait[1] <= f.average_wait[0] * (1 + 1e-12) + 1e-12
    assert f.service_level[1] >= f.service_level[0] - 1e-12


def test_agents_needed_meets_goal_and_one_fewer_does_not():
    per_hour = np.array([12.0, 200.0, 3_000.0, 40_000.0])
    for patience in (None, 180.0):
        need = erlang.agents_needed(arrivals_per_hour=per_hour, aht_seconds=240, service_level=0.8,
                                    answer_within_seconds=20, patience_seconds=patience)
        at = erlang.queue_figures(arrivals_per_hour=per_hour, aht_seconds=240, agents=need,
                                  answer_within_seconds=20, patience_seconds=patience)
        below = erlang.queue_figures(arrivals_per_hour=per_hour, aht_seconds=240, agents=need - 1,
                                     answer_within_seconds=20, patience_seconds=patience)
        assert np.all(at.service_level >= 0.8)
        assert np.all(below.service_level < 0.8)
