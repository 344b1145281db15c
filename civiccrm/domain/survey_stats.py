"""Survey estimators: Wilson intervals, and design-weighted shares for stratified samples."""

import math

import attrs

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion; None when nothing was counted."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


@attrs.frozen
class StratumCount:
    """What one stratum contributed: its population N_h, answers n_h and acceptable answers."""

    population: int
    answered: int
    acceptable: int
    known_population: bool = True
    """False for answers outside a sampling plan: N_h is only their count, so no finite
    population correction is applied (they are treated as a simple random sample)."""


@attrs.frozen
class StratifiedEstimate:
    share: float
    variance: float | None
    """None, like ``low`` and ``high``, when even pooled the strata have fewer than two answers."""
    low: float | None
    high: float | None
    collapsed: int = 0
    """Strata with fewer than two answers, pooled with others to estimate the variance."""


def _pool(strata: list[StratumCount]) -> StratumCount:
    return StratumCount(population=sum(s.population for s in strata), answered=sum(s.answered for s in strata),
                        acceptable=sum(s.acceptable for s in strata),
                        known_population=all(s.known_population for s in strata))


def collapse_strata(strata: list[StratumCount]) -> tuple[list[StratumCount], int]:
    """Strata for the variance: those with fewer than two answers pooled into one, and that pool
    with the smallest other stratum while it still has fewer than two; how many were pooled."""
    small = [s for s in strata if s.answered < 2]
    if not small:
        return list(strata), 0
    large = sorted((s for s in strata if s.answered >= 2), key=lambda s: s.answered)
    pooled = _pool(small)
    count = len(small)
    if pooled.answered < 2 and large:
        pooled = _pool([pooled, large.pop(0)])
        count += 1
    return [*large, pooled], count


def stratified_share(strata: list[StratumCount], z: float = Z95) -> StratifiedEstimate | None:
    """Design-weighted share sum W_h p_h, W_h = N_h / N over strata that answered.

    Variance sum W_h^2 (1 - n_h/N_h) p_h (1 - p_h) / (n_h - 1) (finite population
    correction where N_h is known) over the strata of :func:`collapse_strata`: a stratum
    with one answer is pooled, never counted as exact. The interval is the normal one,
    clipped to [0, 1]; none when even pooled there are fewer than two answers.
    """
    used = [s for s in strata if s.answered > 0]
    total = sum(s.population for s in used)
    if not used or total <= 0:
        return None
    share = sum(s.population / total * s.acceptable / s.answered for s in used)
    groups, collapsed = collapse_strata(used)
    if any(g.answered < 2 for g in groups):
        return StratifiedEstimate(share=share, variance=None, low=None, high=None, collapsed=collapsed)
    variance = 0.0
    for g in groups:
        w = g.population / total
        p = g.acceptable / g.answered
        fpc = max(0.0, 1 - g.answered / g.population) if g.known_population and g.population else 1.0
        variance += w * w * fpc * p * (1 - p) / (g.answered - 1)
    half = z * math.sqrt(variance)
    return StratifiedEstimate(share=share, variance=variance, low=max(0.0, share - half),
                              high=min(1.0, share + half), collapsed=collapsed)


def response_rate(invited: int, answered: int) -> float | None:
    return answered / invited if invited else None
