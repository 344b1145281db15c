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


@attrs.frozen
class StratifiedEstimate:
    share: float
    variance: float
    low: float
    high: float


def stratified_share(strata: list[StratumCount], z: float = Z95) -> StratifiedEstimate | None:
    """Design-weighted share sum W_h p_h, W_h = N_h / N over strata that answered.

    Variance sum W_h^2 (1 - n_h/N_h) p_h (1 - p_h) / (n_h - 1) (finite population
    correction; a stratum with one answer adds no variance term). The interval is the
    normal one, clipped to [0, 1].
    """
    used = [s for s in strata if s.answered > 0]
    total = sum(s.population for s in used)
    if not used or total <= 0:
        return None
    share = 0.0
    variance = 0.0
    for s in used:
        w = s.population / total
        p = s.acceptable / s.answered
        share += w * p
        if s.answered > 1:
            fpc = max(0.0, 1 - s.answered / s.population) if s.population else 1.0
            variance += w * w * fpc * p * (1 - p) / (s.answered - 1)
    half = z * math.sqrt(variance)
    return StratifiedEstimate(share=share, variance=variance, low=max(0.0, share - half), high=min(1.0, share + half))


def response_rate(invited: int, answered: int) -> float | None:
    return answered / invited if invited else None
