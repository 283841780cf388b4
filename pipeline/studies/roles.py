"""`roles`: in PM the game is only a regulariser on an autoencoder; in GAN it is the whole
objective. PM can only make its code factorial; a GAN's noise can follow any distribution.

Rule, every part tested by the studies' one procedure (pipeline/studies/stats.py); the verdict
is their conjunction.
- PM: with lambda = 0 PM is a plain autoencoder; the game regularises it when each lambda > 0
  makes the code more factorial (lower Gaussian total correlation, one-sided Welch at 5%) than
  lambda = 0, on every dataset. Its reconstruction error is shown beside, not voted.
- GAN: its noise can follow any distribution when the samples from a non-factorial prior
  (correlated, a mixture) and from a uniform one are no worse than from the factorial Gaussian
  within MARGIN of its Fréchet distance (non-inferiority, one-sided Welch at 5%); reversed when
  significantly worse.
What it cannot conclude: that PM "can only" make its code factorial (no study trains PM to a
non-factorial target).
"""
from __future__ import annotations

from . import stats
from .base import Study, Table, Verdict, compare

MARGIN = 0.25  # "no worse": within a quarter of the Gaussian prior's mean, a margin set before any run was read


class Roles(Study):
    name = "roles"
    claim = ("In PM the game is only a regulariser on an autoencoder; in GAN it is the whole objective. PM can only "
             "make its code factorial; a GAN's noise can follow any distribution.")
    columns = ("total_correlation", "total_correlation_knn", "recon_mse", "dead_units", "frechet", "class_kl",
               "modes", "high_quality")

    def verdict(self, table: Table) -> Verdict:
        pm_parts, gan_parts, shown = [], [], []
        for dataset in table.datasets():
            plain = table.row(dataset, "pm", "lam=0.0")
            regularised = [table.row(dataset, "pm", v) for v in table.variants("pm", dataset) if v != "lam=0.0"]
            if plain is None or not regularised:
                continue
            pm_parts += [compare(r, plain, "total_correlation", "lower").part() for r in regularised]
            shown += [f"{dataset}: recon {r.label()} {r.fmt('recon_mse')} vs {plain.label()} {plain.fmt('recon_mse')}"
                      for r in regularised]
        for dataset in table.datasets():
            base = table.row(dataset, "gan", "prior=gaussian")
            if base is None:
                continue
            metric = "prior/frechet" if base.get("prior/frechet") else "prior/high_quality"
            better = "lower" if metric.endswith("frechet") else "higher"
            gan_parts += [stats.no_worse(table.row(dataset, "gan", v), base, metric, better, MARGIN)
                          for v in table.variants("gan", dataset) if v != "prior=gaussian"]
        total = len(pm_parts) + len(gan_parts)
        return Verdict.of(pm_parts + gan_parts, [
            f"PM's game regularises its autoencoder (lower total correlation than lambda = 0): {stats.tally(pm_parts, total)}",
            f"the GAN's samples from other priors are no worse (within {MARGIN:.0%}): {stats.tally(gan_parts, total)}"],
            shown)
