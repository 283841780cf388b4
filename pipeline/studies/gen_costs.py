"""`gen_costs`: the generator's cost changes the game: minimax saturates early; `kl` is
mode-seeking, `ml` mode-covering.

Rule, three parts, over the datasets.
- minimax saturates: its generator gradient over the first 10% of training is clearly smaller
  than the non-saturating cost's on most datasets.
- `kl` seeks modes: on the 2-D toys it holds no more modes than `ml` and a high-quality share
  not clearly lower.
- `ml` covers modes: on the toys it holds at least as many modes as `kl` (a diverged `ml`
  run, its exp(a) overflowing, counts against it).
Holds when all three do, mixed when some do.
"""
from __future__ import annotations

from .base import Study, Table, Verdict, clearly, compare

TOYS = ("ring8", "grid25")


def cost(name: str) -> str:
    return f"gen_cost={name}"


class GenCosts(Study):
    name = "gen_costs"
    claim = "Generator cost changes the game: minimax saturates early; `kl` is mode-seeking, `ml` mode-covering."
    columns = ("gen_grad_early", "modes", "high_quality", "reverse_kl", "sample_loglik", "frechet", "class_kl")

    def verdict(self, table: Table) -> Verdict:
        because, saturates, seeks, covers = [], [], [], []
        for dataset in table.datasets():
            minimax, ns = table.row(dataset, "gan", cost("minimax")), table.row(dataset, "gan", cost("nonsaturating"))
            if minimax and ns:
                saturates.append(clearly(minimax, ns, "gen_grad_early", "lower"))
                because.append(f"{dataset}: {compare(minimax, ns, 'gen_grad_early', 'lower')}")
            kl, ml = table.row(dataset, "gan", cost("kl")), table.row(dataset, "gan", cost("ml"))
            if dataset in TOYS and kl and ml:
                ml_modes = ml.mean("prior/modes") if ml.get("prior/modes") else 0.0
                seeks.append(kl.mean("prior/modes") <= ml_modes and not clearly(kl, ml, "prior/high_quality", "lower"))
                covers.append(ml_modes >= kl.mean("prior/modes") and ml.diverged == 0)
                because.append(f"{dataset}: modes kl {kl.fmt('prior/modes', 1)} vs ml {ml.fmt('prior/modes', 1)} "
                               f"({ml.diverged} of {ml.seeds} ml runs diverged); {compare(kl, ml, 'prior/high_quality', 'higher')}")
        parts = {"minimax saturates early": bool(saturates) and sum(saturates) > len(saturates) / 2,
                 "kl seeks modes": bool(seeks) and all(seeks), "ml covers modes": bool(covers) and all(covers)}
        held = [k for k, v in parts.items() if v]
        outcome = "holds" if len(held) == 3 else "mixed" if held else "does not hold"
        return Verdict(outcome, [f"{k}: {'yes' if v else 'no'}" for k, v in parts.items()] + because)
