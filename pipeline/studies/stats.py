"""The one comparison procedure every verdict rule uses, and how its parts make a verdict.

The test is Welch's t-test (unequal variances) on the per-seed values of two rows, one-sided in
the direction the claim states, at ALPHA = 0.05: when the two rows do not differ, it calls the
claimed difference significant in 5% of studies (tests/test_stats.py measures this by
simulation). Each comparison reports the effect (the claimed improvement, mean difference) with
its two-sided 95% interval and the smallest effect the test finds with 80% power at these seeds
and spreads, so an inconclusive result says what it could have seen.

A row computed without randomness (raw pixels' 1-NN accuracy, FastICA's Amari distance) is a
`fixed` reference: it has no spread, and the test is the one-sample t-test against its value.

A verdict is the conjunction of its parts (each a comparison or a check against a published
number):
- **holds** when every part is significant at ALPHA. An intersection-union test needs no
  correction: the chance of a false "holds" stays at most ALPHA.
- **does not hold** only when some part is reversed beyond chance: the opposite one-sided test
  rejects at ALPHA / k (Bonferroni over the k parts, so a true claim is refuted in at most ALPHA
  of studies). A failed test alone refutes nothing.
- **inconclusive** otherwise, with what each part could have detected.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Literal, Protocol

import numpy as np
from scipy import stats as scipy_stats

ALPHA = 0.05
POWER = 0.8
PartOutcome = Literal["holds", "does not hold", "inconclusive"]


class Sample(Protocol):
    """What a comparison reads of a row (studies.base.Row)."""

    fixed: bool

    def label(self) -> str: ...

    def get(self, metric: str) -> list[float]: ...


@dataclasses.dataclass(frozen=True)
class Part:
    """One part of a claim, tested: p_support is the p-value of the claimed direction, p_reversed
    that of the opposite one; `text` is the sentence a reader sees."""

    text: str
    p_support: float
    p_reversed: float

    def outcome(self, parts: int = 1, alpha: float = ALPHA) -> PartOutcome:
        if self.p_support < alpha:
            return "holds"
        if self.p_reversed < alpha / parts:
            return "does not hold"
        return "inconclusive"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Welch's test of `a` better than `b` on `metric` ('lower' or 'higher' is better)."""

    a: str
    b: str
    metric: str
    better: str
    n_a: int
    n_b: int  # 0 for a fixed reference
    mean_a: float
    mean_b: float
    effect: float  # the claimed improvement: mean_a - mean_b, signed so that positive supports the claim
    low: float  # two-sided 95% interval of the effect
    high: float
    p_support: float  # one-sided p of "a better than b"
    p_reversed: float  # one-sided p of "a worse than b"
    detectable: float  # the smallest effect found with 80% power (nan without a spread estimate)

    def part(self) -> Part:
        return Part(self.sentence(), self.p_support, self.p_reversed)

    def sentence(self) -> str:
        if self.n_a == 0 or (self.n_b == 0 and not math.isfinite(self.mean_b)):
            return f"{self.metric}: {self.a} vs {self.b}: no values"
        interval = f"[{self.low:.3g}, {self.high:.3g}]" if math.isfinite(self.low) else "[no interval: n < 2]"
        detect = f"; detectable ≥ {self.detectable:.3g}" if math.isfinite(self.detectable) else ""
        b_n = "fixed" if self.n_b == 0 else f"n={self.n_b}"
        return (f"{self.a} {self.mean_a:.4g} vs {self.b} {self.mean_b:.4g} ({self.metric}, {self.better} is better; "
                f"n={self.n_a} vs {b_n}): effect {self.effect:+.3g} in the claimed direction, 95% CI {interval}, "
                f"Welch p={self.p_support:.3g}"
                f"{detect}")


def _finite(values: list[float]) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return v[np.isfinite(v)]


def welch(a: np.ndarray, b: np.ndarray | float, better: str) -> tuple[float, float, float, float, float, float, int]:
    """(effect, low, high, p_support, p_reversed, detectable, df) of a better than b; b a float is
    a fixed value (one-sample test). Needs two values in a (and in b unless fixed)."""
    sign = 1.0 if better == "higher" else -1.0
    if isinstance(b, (float, int)):
        mean_b, var_b, n_b = float(b), 0.0, 0
    else:
        mean_b, var_b, n_b = float(b.mean()), float(b.var(ddof=1)), len(b)
    effect = sign * (float(a.mean()) - mean_b)
    var_a, n_a = float(a.var(ddof=1)), len(a)
    se2_a, se2_b = var_a / n_a, (var_b / n_b if n_b else 0.0)
    se = math.sqrt(se2_a + se2_b)
    if se == 0.0:  # no spread at all: equal values prove nothing, different ones are certain
        p = 0.0 if effect > 0 else 1.0
        q = 0.0 if effect < 0 else 1.0
        return effect, effect, effect, p, q, math.nan, n_a + n_b - 2
    denominator = se2_a ** 2 / (n_a - 1) + (se2_b ** 2 / (n_b - 1) if n_b else 0.0)
    df = (se2_a + se2_b) ** 2 / denominator
    t = effect / se
    half = scipy_stats.t.ppf(0.975, df) * se
    detectable = (scipy_stats.t.ppf(1 - ALPHA, df) + scipy_stats.t.ppf(POWER, df)) * se
    return (effect, effect - half, effect + half, float(scipy_stats.t.sf(t, df)), float(scipy_stats.t.cdf(t, df)),
            detectable, df)


def compare(a: Sample | None, b: Sample | None, metric: str, better: str, metric_b: str | None = None) -> Comparison:
    """a better than b on `metric` (b's `metric_b`, when b reports it under another name: a
    baseline's 'prior/modes' against a sampler's): a Comparison (p-values 1 when either row
    lacks two values)."""
    va = _finite(a.get(metric)) if a is not None else np.array([])
    vb = _finite(b.get(metric_b or metric)) if b is not None else np.array([])
    la, lb = (a.label() if a is not None else "—"), (b.label() if b is not None else "—")
    fixed = b is not None and b.fixed
    mean_a = float(va.mean()) if len(va) else math.nan
    mean_b = float(vb.mean()) if len(vb) else math.nan
    n_b = 0 if fixed else len(vb)
    if len(va) < 2 or len(vb) < (1 if fixed else 2):
        sign = 1.0 if better == "higher" else -1.0
        return Comparison(la, lb, metric, better, len(va), n_b, mean_a, mean_b, sign * (mean_a - mean_b),
                          math.nan, math.nan, 1.0, 1.0, math.nan)
    effect, low, high, p, q, detectable, _ = welch(va, float(vb[0]) if fixed else vb, better)
    return Comparison(la, lb, metric, better, len(va), n_b, mean_a, mean_b, effect, low, high, p, q, detectable)


def against(a: Sample | None, value: float, name: str, metric: str, better: str) -> Comparison:
    """a better than a fixed number (chance, a published bar): the one-sample t-test."""
    va = _finite(a.get(metric)) if a is not None else np.array([])
    la = a.label() if a is not None else "—"
    if len(va) < 2:
        sign = 1.0 if better == "higher" else -1.0
        mean = float(va.mean()) if len(va) else math.nan
        return Comparison(la, name, metric, better, len(va), 0, mean, value, sign * (mean - value),
                          math.nan, math.nan, 1.0, 1.0, math.nan)
    effect, low, high, p, q, detectable, _ = welch(va, float(value), better)
    return Comparison(la, name, metric, better, len(va), 0, float(va.mean()), value, effect, low, high, p, q, detectable)


def precondition(comparison: Comparison, why: str) -> Part:
    """A comparison the claim presupposes rather than states (a row beats a trivial baseline, so
    that it is a result at all): it must hold for the verdict to hold, and its failure makes the
    verdict inconclusive, never a refutation of the claim itself."""
    return Part(f"precondition, {why}: " + comparison.sentence(), comparison.p_support, 1.0)


def no_worse(a: Sample | None, b: Sample | None, metric: str, better: str, margin: float) -> Part:
    """Non-inferiority: a is no worse than b by more than `margin` (a share of b's mean). It holds
    when a, shifted by the margin against it, is significantly better than b (Welch, one-sided);
    it is reversed when a is significantly worse than b itself."""
    plain = compare(a, b, metric, better)
    if not math.isfinite(plain.low) or not math.isfinite(plain.mean_b):
        return Part(f"no worse than within {margin:.0%}: " + plain.sentence(), 1.0, 1.0)
    allowance = margin * abs(plain.mean_b)
    va = _finite(a.get(metric))
    shifted = va + (allowance if better == "higher" else -allowance)
    vb = _finite(b.get(metric))
    _, _, _, p_within, _, _, _ = welch(shifted, float(vb[0]) if b.fixed else vb, better)
    return Part(f"no worse than within {margin:.0%} of {plain.b}'s mean (±{allowance:.3g}; p={p_within:.3g}): "
                + plain.sentence(), p_within, plain.p_reversed)


def exact(a: float, b: float, better: str, text: str) -> Part:
    """A deterministic quantity (the same for every seed, e.g. the FLOPs of a step): a better
    than b holds or is reversed with certainty; no value (nan) proves nothing."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return Part(f"{text}: no values", 1.0, 1.0)
    won = a < b if better == "lower" else a > b
    lost = a > b if better == "lower" else a < b
    return Part(f"{text}: {a:.4g} vs {b:.4g} ({better} is better; exact, the same for every seed)",
                0.0 if won else 1.0, 0.0 if lost else 1.0)


def binomial(successes: int, trials: int, rate: float, margin: float, text: str) -> Part:
    """A share of successes against a published rate, by exact one-sided binomial tests: it holds
    when the share is significantly above `rate - margin` (non-inferior to the paper within the
    margin), and is reversed when significantly below `rate` itself."""
    if trials == 0:
        return Part(f"{text}: no runs", 1.0, 1.0)
    floor = max(rate - margin, 0.0)
    above = float(scipy_stats.binomtest(successes, trials, floor, alternative="greater").pvalue)
    below = float(scipy_stats.binomtest(successes, trials, rate, alternative="less").pvalue)
    return Part(f"{text}: {successes} of {trials} runs (published {rate:.2f}; binomial p={above:.3g} for more than "
                f"{floor:.2f}, p={below:.3g} for fewer than {rate:.2f})", above, below)


def conclude(parts: list[Part], alpha: float = ALPHA) -> PartOutcome:
    """The conjunction of the parts: holds when every part holds at alpha; does not hold when one
    is reversed at alpha / len(parts); inconclusive otherwise (module docstring)."""
    if not parts:
        return "inconclusive"
    outcomes = [p.outcome(len(parts), alpha) for p in parts]
    if all(o == "holds" for o in outcomes):
        return "holds"
    if "does not hold" in outcomes:
        return "does not hold"
    return "inconclusive"


def tally(parts: list[Part], total: int) -> str:
    """How a sub-claim's parts fared within a verdict of `total` parts: 'k of n significant, r reversed'."""
    outcomes = [p.outcome(total) for p in parts]
    if not parts:
        return "not tested (no rows)"
    reversed_ = outcomes.count("does not hold")
    return (f"{outcomes.count('holds')} of {len(parts)} tests significant"
            + (f", {reversed_} reversed" if reversed_ else ""))


def describe(parts: list[Part]) -> list[str]:
    """Each part's sentence, with the outcome it has in the conjunction."""
    return [f"[{p.outcome(len(parts))}] {p.text}" for p in parts]
