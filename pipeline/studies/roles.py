"""`roles`: in PM the game is only a regulariser on an autoencoder; in GAN it is the whole
objective. PM can only make its code factorial; a GAN's noise can follow any distribution.

Rule, two parts.
- PM: with lambda = 0 PM is a plain autoencoder; the game regularises it when some lambda > 0
  makes the code clearly more factorial (lower Gaussian total correlation) than lambda = 0
  while its reconstruction stays within twice lambda = 0's, on every dataset.
- GAN: its noise can follow any distribution when the samples from a non-factorial prior
  (correlated, a mixture) and from a uniform one are not clearly worse (Fréchet distance on
  images) than from the factorial Gaussian.
Holds when both parts do, mixed when one does.
"""
from __future__ import annotations

from .base import Study, Table, Verdict, clearly, compare


class Roles(Study):
    name = "roles"
    claim = ("In PM the game is only a regulariser on an autoencoder; in GAN it is the whole objective. PM can only "
             "make its code factorial; a GAN's noise can follow any distribution.")
    columns = ("total_correlation", "total_correlation_knn", "recon_mse", "dead_units", "frechet", "class_kl",
               "modes", "high_quality")

    def verdict(self, table: Table) -> Verdict:
        because, pm_ok = [], []
        for dataset in table.datasets():
            plain = table.row(dataset, "pm", "lam=0.0")
            regularised = [table.row(dataset, "pm", v) for v in table.variants("pm", dataset) if v != "lam=0.0"]
            if plain is None or not regularised:
                continue
            good = [r for r in regularised if clearly(r, plain, "total_correlation", "lower")
                    and r.mean("recon_mse") <= 2 * plain.mean("recon_mse")]
            pm_ok.append(bool(good))
            because += [f"{dataset}: {compare(r, plain, 'total_correlation', 'lower')}, recon {r.fmt('recon_mse')} vs "
                        f"{plain.fmt('recon_mse')}" for r in regularised]
        gan_ok = []
        for dataset in table.datasets():
            base = table.row(dataset, "gan", "prior=gaussian")
            if base is None:
                continue
            metric = "prior/frechet" if base.get("prior/frechet") else "prior/high_quality"
            better = "lower" if metric.endswith("frechet") else "higher"
            for v in table.variants("gan", dataset):
                if v != "prior=gaussian":
                    other = table.row(dataset, "gan", v)
                    worse = "higher" if better == "lower" else "lower"
                    gan_ok.append(not clearly(other, base, metric, worse))
                    because.append(f"{dataset}: {compare(other, base, metric, better)}")
        pm_holds, gan_holds = bool(pm_ok) and all(pm_ok), bool(gan_ok) and all(gan_ok)
        parts = [f"PM's game regularises its autoencoder on {sum(pm_ok)} of {len(pm_ok)} datasets",
                 f"the GAN's samples are no worse from {sum(gan_ok)} of {len(gan_ok)} other priors"]
        outcome = "holds" if pm_holds and gan_holds else "mixed" if pm_holds or gan_holds else "does not hold"
        return Verdict(outcome, parts + because)
