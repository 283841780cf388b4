"""`gen_costs`: the generator's cost changes the game: minimax saturates early; `kl` is
mode-seeking, `ml` mode-covering.

Rule, every part tested by the studies' one procedure (one-sided Welch at 5%:
pipeline/studies/stats.py); the verdict is their conjunction.
- minimax saturates: on every dataset its generator gradient over the first 10% of training is
  smaller than the non-saturating cost's (the ratio of the two means is shown: the test reads
  the direction, not how close to zero).
- `kl` seeks modes and `ml` covers them: on each 2-D toy `ml` holds more modes than `kl`.
- A mode count is read only beside samples on the data: on each toy, `kl`'s and `ml`'s
  high-quality share beats the trivial generators (uniform noise; on ring8 the ring's circle,
  which holds all 8 modes: pipeline/evaluation/baselines.py).
Diverged seeds (an `ml` run whose exp(a) overflows) are counted apart and enter no mean.
"""
from __future__ import annotations

from pipeline.evaluation.baselines import generator_baselines

from . import stats
from .base import Study, Table, Verdict, compare, generates

TOYS = ("ring8", "grid25")


def cost(name: str) -> str:
    return f"gen_cost={name}"


class GenCosts(Study):
    name = "gen_costs"
    claim = "Generator cost changes the game: minimax saturates early; `kl` is mode-seeking, `ml` mode-covering."
    columns = ("gen_grad_early", "modes", "high_quality", "reverse_kl", "sample_loglik", "frechet", "class_kl")

    def references(self, cfg, datasets, trials, classifiers):
        return generator_baselines(datasets, trials, classifiers)

    def verdict(self, table: Table) -> Verdict:
        saturates, orders, on_data, shown = [], [], [], []
        for dataset in table.datasets():
            minimax, ns = table.row(dataset, "gan", cost("minimax")), table.row(dataset, "gan", cost("nonsaturating"))
            if minimax and ns:
                saturates.append(compare(minimax, ns, "gen_grad_early", "lower").part())
                ratio = minimax.mean("gen_grad_early") / ns.mean("gen_grad_early")
                shown.append(f"{dataset}: early gradient ratio minimax / nonsaturating {ratio:.2f}")
            kl, ml = table.row(dataset, "gan", cost("kl")), table.row(dataset, "gan", cost("ml"))
            if dataset in TOYS and kl and ml:
                orders.append(compare(ml, kl, "prior/modes", "higher").part())
                on_data += generates(kl, "prior", dataset, table) + generates(ml, "prior", dataset, table)
                shown.append(f"{dataset}: {ml.diverged} of {ml.seeds} ml runs diverged, {kl.diverged} of {kl.seeds} kl runs")
        total = len(saturates) + len(orders) + len(on_data)
        return Verdict.of(saturates + orders + on_data, [
            f"minimax saturates early: {stats.tally(saturates, total)}",
            f"ml holds more modes than kl: {stats.tally(orders, total)}",
            f"kl's and ml's samples lie on the data (beat the trivial generators): {stats.tally(on_data, total)}"],
            shown)
