"""Queueing maths for a call centre: Erlang B, Erlang C (M/M/n) and Erlang A (M/M/n+M).

Every function works on numpy arrays (one value per interval, or a grid of agent
counts) and in log space where terms overflow, so loads of thousands of Erlangs are as
exact as loads of two.

Erlang A is the model of Garnett, Mandelbaum and Reiman (2002), "Designing a call
center with impatient customers": Poisson arrivals at rate lambda, exponential service
at rate mu on n agents, and exponential patience at rate theta (mean patience 1/theta).
A caller who is not answered before their patience runs out abandons. With
x = n mu / theta, y = lambda / theta and the lower incomplete gamma function gamma,

    A(x, y) = x e^y y^-x gamma(x, y) = sum_j y^j / ((x+1)(x+2)...(x+j)),
    P(wait > 0) = A E / (1 + (A - 1) E)              E = Erlang B(n, lambda/mu),
    P(abandon | wait > 0) = 1/(rho A) + 1 - 1/rho    rho = lambda / (n mu),
    E[wait] = P(abandon) / theta                     (abandonment is theta x queue length),
    P(served within t | wait > 0) = (gamma(x+1, y) - gamma(x+1, y e^-theta t)) / (y gamma(x, y)).

The last line is this module's own derivation from the offered-wait density of an
arriving caller, proportional to exp(lambda H(v) - n mu v) with H(v) = (1 - e^-theta v)/theta;
tests/test_erlang.py checks it against an exact computation on the birth-death chain.
"""

import math

import attrs
import numpy as np
from scipy import special

from civiccrm.errors import CivicError

_TINY = 1e-280
"""Below this a regularised incomplete gamma is computed by its series instead (log of an underflow)."""


def erlang_b(agents, load):
    """Probability that all ``agents`` are busy in an M/M/n/n system with offered ``load`` (Erlangs).

    Computed as Poisson(load) pmf(n) / cdf(n) in log space: stable for any load.
    """
    n, a_raw = np.broadcast_arrays(np.asarray(agents, dtype=float), np.asarray(load, dtype=float))
    a = np.where(a_raw > 0, a_raw, 1.0)
    log_pmf = n * np.log(a) - a - special.gammaln(n + 1)
    # cdf(n) = Q(n+1, a), the regularised upper incomplete gamma. Where it underflows (n far
    # below a), B = 1 / sum_i n!/(n-i)! a^-i, a series whose terms fall at least by n/a.
    cdf = special.gammaincc(n + 1, a)
    small = cdf <= _TINY
    ratio = np.atleast_1d(np.exp(log_pmf - np.log(np.where(small, 1.0, cdf))))
    small = np.atleast_1d(small)
    if np.any(small):
        ratio[small] = 1.0 / _falling_series(np.atleast_1d(n)[small], np.atleast_1d(a)[small])
    return np.where(a_raw <= 0, 0.0, np.clip(ratio.reshape(n.shape), 0.0, 1.0))


def _falling_series(n, a):
    """sum_i n (n-1) ... (n-i+1) / a^i, for n well below a."""
    total = np.ones(n.shape)
    term = np.ones(n.shape)
    for i in range(0, 5000):
        term = term * np.maximum(n - i, 0.0) / a
        total = total + term
        if np.all(term < 1e-17 * total):
            break
    return total


def erlang_c(agents, load):
    """Probability of waiting in an M/M/n queue (Erlang C); 1.0 where agents <= load (unstable)."""
    n = np.asarray(agents, dtype=float)
    a = np.asarray(load, dtype=float)
    b = erlang_b(n, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = n * b / (n - a * (1.0 - b))
    return np.where(n > a, np.clip(c, 0.0, 1.0), 1.0)


def _log_lower_gamma(x, y):
    """log gamma(x, y), the lower incomplete gamma function, for x > 0 and y >= 0."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    p = special.gammainc(x, y)
    small = p <= _TINY
    log_gamma = np.atleast_1d(np.log(np.where(small, 1.0, p)) + special.gammaln(x))
    if np.any(small):
        x, y, small = np.atleast_1d(x), np.atleast_1d(y), np.atleast_1d(small)
        # gamma(x, y) = y^x e^-y / x * sum_j y^j / ((x+1)...(x+j)); p underflows only where
        # y << x, where the series converges geometrically (ratio y / x).
        xs, ys = x[small], np.maximum(y[small], _TINY)
        log_gamma[small] = xs * np.log(ys) - ys - np.log(xs) + np.log(_series(xs, ys))
    return log_gamma.reshape(p.shape)


def _series(x, y):
    """sum_j y^j / ((x+1)...(x+j)) for y well below x (terms fall at least by y/(x+1))."""
    total = np.ones(x.shape)
    term = np.ones(x.shape)
    for j in range(1, 2000):
        term = term * y / (x + j)
        total = total + term
        if np.all(term < 1e-17 * total):
            break
    return total


def _log_a(x, y):
    """log A(x, y) = log(x e^y y^-x gamma(x, y))."""
    with np.errstate(divide="ignore"):
        return np.log(x) + y - x * np.log(y) + _log_lower_gamma(x, y)


@attrs.frozen
class QueueFigures:
    """What a queueing model predicts for one interval (arrays when computed for many)."""

    probability_wait: float
    """P(a caller waits at all)."""
    probability_abandon: float
    """P(a caller abandons before being answered); 0 for Erlang C (infinite patience)."""
    average_wait: float
    """Mean wait of every caller, answered or not (seconds); inf when unstable (Erlang C)."""
    service_level: float
    """P(answered within the threshold) among all offered callers."""
    occupancy: float
    """Share of agent time spent on calls: answered load / agents."""


def erlang_c_figures(*, arrivals_per_hour, aht_seconds, agents, answer_within_seconds) -> QueueFigures:
    """Erlang C: infinite patience. Where agents <= load the queue grows without bound."""
    lam = np.asarray(arrivals_per_hour, dtype=float) / 3600.0
    aht = np.asarray(aht_seconds, dtype=float)
    n = np.asarray(agents, dtype=float)
    a = lam * aht
    c = erlang_c(n, a)
    stable = n > a
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = (n - a) / aht  # n mu - lambda, per second
        wait = np.where(stable, c / gap, np.inf)
        level = np.where(stable, 1.0 - c * np.exp(-gap * answer_within_seconds), 0.0)
        occupancy = np.where(stable, a / n, 1.0)
    return QueueFigures(probability_wait=c, probability_abandon=np.zeros_like(c), average_wait=wait,
                        service_level=np.clip(level, 0.0, 1.0), occupancy=occupancy)


def erlang_a_figures(*, arrivals_per_hour, aht_seconds, agents, patience_seconds,
                     answer_within_seconds) -> QueueFigures:
    """Erlang A (M/M/n+M, Garnett-Mandelbaum-Reiman 2002): defined for any number of agents."""
    lam = np.asarray(arrivals_per_hour, dtype=float) / 3600.0
    mu = 1.0 / np.asarray(aht_seconds, dtype=float)
    theta = 1.0 / np.asarray(patience_seconds, dtype=float)
    n = np.asarray(agents, dtype=float)
    lam, mu, theta, n = np.broadcast_arrays(lam, mu, theta, n)
    a = lam / mu
    x = n * mu / theta
    y = lam / theta
    no_agents = n <= 0
    x_safe = np.where(no_agents, 1.0, x)
    log_a = _log_a(x_safe, y)
    b = erlang_b(np.where(no_agents, 1, n), a)
    # P(W>0) = A B / (1 + (A-1) B) = 1 / (1 + (1-B) / (A B)), written so a huge A does not overflow.
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        inv_ab = np.exp(-log_a) / b
        p_wait = 1.0 / (1.0 + (1.0 - b) * inv_ab)
        rho = lam / (n * mu)
        abandon_given_wait = np.exp(-log_a) / rho + 1.0 - 1.0 / rho
        # P(served within t | wait) from the incomplete gammas of x+1 (see the module docstring).
        log_g0 = _log_lower_gamma(x_safe, y)
        g1_full = np.exp(_log_lower_gamma(x_safe + 1.0, y) - log_g0 - np.log(y))
        y_t = y * np.exp(-theta * answer_within_seconds)
        g1_t = np.exp(_log_lower_gamma(x_safe + 1.0, y_t) - log_g0 - np.log(y))
        served_within_given_wait = np.clip(np.nan_to_num(g1_full - g1_t), 0.0, 1.0)
    abandon_given_wait = np.clip(abandon_given_wait, 0.0, 1.0)
    p_abandon = p_wait * abandon_given_wait
    level = (1.0 - p_wait) + p_wait * served_within_given_wait
    with np.errstate(divide="ignore", invalid="ignore"):
        occupancy = np.where(no_agents, 1.0, np.minimum(a * (1.0 - p_abandon) / n, 1.0))
    p_wait = np.where(no_agents, 1.0, p_wait)
    p_abandon = np.where(no_agents, 1.0, p_abandon)
    level = np.where(no_agents, 0.0, np.clip(level, 0.0, 1.0))
    return QueueFigures(probability_wait=p_wait, probability_abandon=p_abandon,
                        average_wait=p_abandon / theta, service_level=level, occupancy=occupancy)


def queue_figures(*, arrivals_per_hour, aht_seconds, agents, answer_within_seconds,
                  patience_seconds=None) -> QueueFigures:
    """Erlang A when a patience is given, else Erlang C."""
    if patience_seconds is None:
        return erlang_c_figures(arrivals_per_hour=arrivals_per_hour, aht_seconds=aht_seconds, agents=agents,
                                answer_within_seconds=answer_within_seconds)
    return erlang_a_figures(arrivals_per_hour=arrivals_per_hour, aht_seconds=aht_seconds, agents=agents,
                            patience_seconds=patience_seconds, answer_within_seconds=answer_within_seconds)


def check_inputs(*, arrivals_per_hour: float, aht_seconds: float, agents: int | None = None,
                 patience_seconds: float | None = None, answer_within_seconds: float = 0.0) -> None:
    """Refuse values the models are not defined for, naming the option."""
    for name, value in (("--arrivals-per-hour", arrivals_per_hour), ("--aht", aht_seconds)):
        if not math.isfinite(value) or value <= 0:
            raise CivicError(f"{name}: must be a number greater than 0, got {value}")
    if agents is not None and agents < 0:
        raise CivicError(f"--agents: must be 0 or more, got {agents}")
    if patience_seconds is not None and (not math.isfinite(patience_seconds) or patience_seconds <= 0):
        raise CivicError(f"--patience: must be a number of seconds greater than 0, got {patience_seconds}")
    if not math.isfinite(answer_within_seconds) or answer_within_seconds < 0:
        raise CivicError(f"--answer-within: must be 0 seconds or more, got {answer_within_seconds}")


def agents_needed(*, arrivals_per_hour, aht_seconds, service_level: float, answer_within_seconds: float,
                  patience_seconds=None, max_occupancy: float = 1.0):
    """The fewest agents (per interval, elementwise) whose predicted service level meets the goal.

    Service level rises and occupancy falls with every agent added, so the answer is found
    by bisection for every interval at once: a week of half-hours costs about a dozen
    evaluations of the model on arrays of 336.
    """
    lam = np.atleast_1d(np.asarray(arrivals_per_hour, dtype=float))
    aht = np.broadcast_to(np.asarray(aht_seconds, dtype=float), lam.shape)
    patience = None if patience_seconds is None else np.broadcast_to(np.asarray(patience_seconds, dtype=float), lam.shape)

    def meets(agents):
        figures = queue_figures(arrivals_per_hour=lam, aht_seconds=aht, agents=agents,
                                answer_within_seconds=answer_within_seconds, patience_seconds=patience)
        return (figures.service_level >= service_level) & (figures.occupancy <= max_occupancy)

    load = lam * aht / 3600.0
    low = np.zeros(lam.shape) if patience is not None else np.floor(load)  # Erlang C: n <= load never serves
    high = np.ceil(load + 10.0 * np.sqrt(load) + 20.0)
    while not np.all(ok := meets(high) | (lam <= 0)):
        high = np.where(ok, high, high * 2.0)
        if np.max(high) > 1e9:
            raise CivicError("staffing: the service-level goal cannot be met by any number of agents")
    # Invariant: meets(high); low fails or is the answer (checked at the end).
    while np.any(high - low > 1):
        middle = np.floor((low + high) / 2.0)
        ok = meets(middle)
        high = np.where(ok, middle, high)
        low = np.where(ok, low, middle)
    answer = np.where(meets(low), low, high)
    return np.where(lam > 0, answer, 0).astype(int)
