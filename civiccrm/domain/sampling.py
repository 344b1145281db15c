"""Sampling plans and reproducible draws: census, simple random, stratified, systematic, convenience."""

import enum
import hashlib
import math
import random
from collections import defaultdict

import attrs

from civiccrm.domain.names import parse_name
from civiccrm.errors import CivicError


class Method(enum.StrEnum):
    CENSUS = "census"
    SIMPLE_RANDOM = "simple_random"
    STRATIFIED = "stratified"
    SYSTEMATIC = "systematic"
    CONVENIENCE = "convenience"


class Allocation(enum.StrEnum):
    PROPORTIONAL = "proportional"
    EQUAL = "equal"


STRATA = ("department", "service_type", "district", "channel")
"""What a stratified plan may stratify by (case attributes)."""


METHOD_ALIASES = {"srs": Method.SIMPLE_RANDOM, "random": Method.SIMPLE_RANDOM, "stratified_random": Method.STRATIFIED}


def parse_method(text: str) -> Method:
    """The sampling Method named by ``text`` (``srs`` and ``random`` for simple random)."""
    return parse_name(Method, text, field="method", what="sampling method", aliases=METHOD_ALIASES)


@attrs.frozen
class SamplingPlan:
    """How an instrument's respondents are chosen."""

    code: str
    instrument: str
    method: Method
    sample_size: int | None = None
    """n for a draw (simple random, stratified, systematic)."""
    rate: float | None = None
    """Share of closed cases invited at close (simple random, stratified); census is 1."""
    strata: str | None = None
    allocation: Allocation = Allocation.PROPORTIONAL
    seed: int = 0
    id: int | None = None

    def __attrs_post_init__(self):
        if self.method is Method.STRATIFIED and self.strata not in STRATA:
            raise CivicError(f"strata: a stratified plan needs --strata, one of {', '.join(STRATA)}", field="strata")
        if self.method is not Method.STRATIFIED and self.strata:
            raise CivicError(f"strata: only a stratified plan has strata (this one is {self.method.value})", field="strata")
        if self.sample_size is not None and self.sample_size < 1:
            raise CivicError(f"sample_size: {self.sample_size}; must be at least 1", field="sample_size")
        if self.rate is not None and not 0 < self.rate <= 1:
            raise CivicError(f"rate: {self.rate}; must be a share greater than 0 and at most 1", field="rate")

    @property
    def representative(self) -> bool:
        return self.method is not Method.CONVENIENCE

    def selects_at_close(self, unit: str) -> bool:
        """Whether a case closing now is in the sample, decided reproducibly from seed and unit.

        Census takes every case; random and stratified plans take a case when a hash
        of (seed, unit) falls below ``rate`` (Bernoulli sampling that anyone can
        re-check); systematic and convenience plans invite only through draws.
        """
        if self.method is Method.CENSUS:
            return True
        if self.method in (Method.SIMPLE_RANDOM, Method.STRATIFIED) and self.rate is not None:
            return unit_hash(self.seed, unit) < self.rate
        return False


def unit_hash(seed: int, unit: str) -> float:
    """A number in [0, 1) fixed by seed and unit."""
    digest = hashlib.sha256(f"{seed}:{unit}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@attrs.frozen
class Unit:
    """A member of the frame: a case (by id) and the stratum it falls in."""

    id: int
    stratum: str | None = None


@attrs.frozen
class Draw:
    """A drawn sample: who was chosen, from how many, with each stratum's size and weight."""

    method: Method
    seed: int
    frame_size: int
    selected: tuple[Unit, ...]
    strata: dict = attrs.field(factory=dict)
    """stratum -> {"population": N_h, "allocated": n_h}."""
    start: int | None = None
    """Systematic: the random start (0-based)."""
    step: int | None = None

    def weight(self, unit: Unit) -> float:
        """Design weight N_h / n_h (N / n without strata)."""
        if self.strata and unit.stratum in self.strata:
            s = self.strata[unit.stratum]
            return s["population"] / s["allocated"]
        return self.frame_size / max(len(self.selected), 1)


def allocate(sizes: dict[str, int], n: int, allocation: Allocation) -> dict[str, int]:
    """Split n between strata (largest remainder), never above a stratum's size; sums to min(n, N)."""
    total = sum(sizes.values())
    n = min(n, total)
    if allocation is Allocation.PROPORTIONAL:
        exact = {k: n * v / total for k, v in sizes.items()}
    else:
        exact = {k: n / len(sizes) for k in sizes}
    alloc = {k: min(math.floor(x), sizes[k]) for k, x in exact.items()}
    # hand out what is left: largest remainder first, to strata with room left
    while sum(alloc.values()) < n:
        room = [k for k in sizes if alloc[k] < sizes[k]]
        best = max(room, key=lambda k: (exact[k] - alloc[k], sizes[k] - alloc[k], k))
        alloc[best] += 1
    return alloc


def draw(plan: SamplingPlan, frame: list[Unit]) -> Draw:
    """Draw the plan's sample from the frame; the same frame and seed give the same sample."""
    frame = sorted(frame, key=lambda u: u.id)
    rng = random.Random(plan.seed)
    method = plan.method
    if method in (Method.CENSUS, Method.CONVENIENCE):
        return Draw(method=method, seed=plan.seed, frame_size=len(frame), selected=tuple(frame))
    if plan.sample_size is None:
        raise CivicError(f"sample_size: a {method.value} draw needs a sample size (plan {plan.code!r})", field="sample_size")
    n = min(plan.sample_size, len(frame))
    if method is Method.SIMPLE_RANDOM:
        chosen = sorted(rng.sample(frame, n), key=lambda u: u.id)
        return Draw(method=method, seed=plan.seed, frame_size=len(frame), selected=tuple(chosen))
    if method is Method.SYSTEMATIC:
        if n == 0:
            return Draw(method=method, seed=plan.seed, frame_size=0, selected=())
        step = max(len(frame) // n, 1)
        start = rng.randrange(step)
        chosen = frame[start::step][:n]
        return Draw(method=method, seed=plan.seed, frame_size=len(frame), selected=tuple(chosen), start=start, step=step)
    groups: dict[str, list[Unit]] = defaultdict(list)
    for unit in frame:
        groups[unit.stratum or "(none)"].append(unit)
    sizes = {k: len(v) for k, v in sorted(groups.items())}
    alloc = allocate(sizes, n, plan.allocation) if sizes else {}
    chosen = []
    strata = {}
    for key in sorted(groups):
        picked = rng.sample(groups[key], alloc[key])
        chosen.extend(attrs.evolve(u, stratum=key) for u in picked)
        strata[key] = {"population": sizes[key], "allocated": alloc[key]}
    chosen.sort(key=lambda u: u.id)
    return Draw(method=method, seed=plan.seed, frame_size=len(frame), selected=tuple(chosen), strata=strata)
