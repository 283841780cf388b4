"""`ebgan`: the pull-away term keeps EBGAN's samples diverse.

Rule, per dataset, each part a one-sided Welch test at 5% (pipeline/studies/stats.py); the
verdict is their conjunction.
- With the term (lambda_PT = 0.1) the critic's codes of a batch of samples are less alike
  (lower mean pairwise cosine) than without it (0).
- The samples are more diverse: more modes on the 2-D toys, a lower class-histogram KL on images.
- On the toys, a mode count is read only beside samples on the data: the term's samples beat
  the trivial generators' high-quality share (pipeline/evaluation/baselines.py).
"""
from __future__ import annotations

from pipeline.evaluation.baselines import generator_baselines

from . import stats
from .base import Study, Table, Verdict, compare, generates


class EBGANStudy(Study):
    name = "ebgan"
    claim = "The pull-away term keeps EBGAN's samples diverse."
    columns = ("code_cosine", "modes", "high_quality", "sample_loglik", "frechet", "class_kl")

    def references(self, cfg, datasets, trials, classifiers):
        return generator_baselines(datasets, trials, classifiers)

    def verdict(self, table: Table) -> Verdict:
        spread, diverse, on_data = [], [], []
        for dataset in table.datasets():
            on, off = table.row(dataset, "ebgan", "pt_weight=0.1"), table.row(dataset, "ebgan", "pt_weight=0.0")
            if on is None or off is None:
                continue
            spread.append(compare(on, off, "prior/code_cosine", "lower").part())
            metric, better = (("prior/modes", "higher") if on.get("prior/modes") else ("prior/class_kl", "lower"))
            diverse.append(compare(on, off, metric, better).part())
            if metric == "prior/modes":
                on_data += generates(on, "prior", dataset, table)
        total = len(spread) + len(diverse) + len(on_data)
        return Verdict.of(spread + diverse + on_data, [
            f"codes less alike with the term: {stats.tally(spread, total)}",
            f"samples more diverse: {stats.tally(diverse, total)}",
            f"toy samples on the data (beat the trivial generators): {stats.tally(on_data, total)}"])
