"""`generation`: GAN's generator maps a factorial Gaussian to the data ("inverse PM"); PM's
decoder fed with factorial codes is a generator too.

Rule, every part tested by the studies' one procedure (Welch, one-sided, 5%:
pipeline/studies/stats.py); the verdict is their conjunction.
- PM generates *because* its code is factorial: with the same sampler (codes shuffled unit by
  unit), PM's samples beat the plain autoencoder's (the control): a higher high-quality share
  on the 2-D toys, a lower Fréchet distance on images; on every dataset.
- Each of PM (shuffled codes) and the GAN (its prior) generates at all: it beats what no
  generator scores (pipeline/evaluation/baselines.py): on the toys a higher high-quality share than
  uniform noise over the data's box (and, on ring8, than uniform points on the ring's circle,
  which hold all 8 modes); on images a lower Fréchet distance than draws of a Gaussian fitted to
  the training pixels. A mode count alone is no evidence: noise over grid25's box holds about
  22 of its 25 modes.
What it cannot conclude: how good the samples are beyond these baselines (the Fréchet floor of
real training images is shown beside them), nor anything at a longer budget (rows still
improving are marked).
"""
from __future__ import annotations

from pipeline.evaluation.baselines import generator_baselines

from . import stats
from .base import Study, Table, Verdict, compare, generates

TOY_MODES = {"ring8": 8, "grid25": 25}

class Generation(Study):
    name = "generation"
    claim = ("GAN's generator maps a factorial Gaussian to the data (\"inverse PM\"); PM's decoder fed with "
             "factorial codes is a generator too.")
    columns = ("modes", "high_quality", "reverse_kl", "sample_loglik", "frechet", "class_kl", "recon_mse",
               "dead_units")

    def references(self, cfg, datasets, trials, classifiers):
        return generator_baselines(datasets, trials, classifiers)

    def verdict(self, table: Table) -> Verdict:
        pm_parts, gan_parts = [], []
        for dataset in table.datasets():
            metric = "shuffled_codes/high_quality" if dataset in TOY_MODES else "shuffled_codes/frechet"
            better = "higher" if dataset in TOY_MODES else "lower"
            pm, ae = table.row(dataset, "pm"), table.row(dataset, "ae")
            if pm is not None and ae is not None:
                pm_parts.append(compare(pm, ae, metric, better).part())
            pm_parts += generates(pm, "shuffled_codes", dataset, table)
            gan_parts += generates(table.row(dataset, "gan"), "prior", dataset, table)
        total = len(pm_parts) + len(gan_parts)
        return Verdict.of(pm_parts + gan_parts, [
            f"PM generates (beats the AE control and the trivial generators): {stats.tally(pm_parts, total)}",
            f"the GAN generates (beats the trivial generators): {stats.tally(gan_parts, total)}"])

