"""`ebgan`: the pull-away term keeps EBGAN's samples diverse.

Rule: with the term (lambda_PT = 0.1) the critic's codes of a batch of samples are clearly
less alike (lower mean pairwise cosine) than without it (0), and the samples are more diverse:
more modes on the 2-D toys, a lower class-histogram KL on images (not clearly worse counts as
no gain). Holds when the codes spread and the samples gain on every dataset, mixed when the
codes spread without the samples gaining.
"""
from __future__ import annotations

from .base import Study, Table, Verdict, clearly, compare


class EBGANStudy(Study):
    name = "ebgan"
    claim = "The pull-away term keeps EBGAN's samples diverse."
    columns = ("code_cosine", "modes", "high_quality", "sample_loglik", "frechet", "class_kl")

    def verdict(self, table: Table) -> Verdict:
        because, spread, diverse = [], [], []
        for dataset in table.datasets():
            on, off = table.row(dataset, "ebgan", "pt_weight=0.1"), table.row(dataset, "ebgan", "pt_weight=0.0")
            if on is None or off is None:
                continue
            spread.append(clearly(on, off, "prior/code_cosine", "lower"))
            metric, better = (("prior/modes", "higher") if on.get("prior/modes") else ("prior/class_kl", "lower"))
            diverse.append(clearly(on, off, metric, better))
            because += [f"{dataset}: {compare(on, off, 'prior/code_cosine', 'lower')}", f"{dataset}: {compare(on, off, metric, better)}"]
        if spread and all(spread) and all(diverse):
            outcome = "holds"
        elif any(spread) or any(diverse):
            outcome = "mixed"
        else:
            outcome = "does not hold"
        return Verdict(outcome, [f"codes less alike with the term on {sum(spread)} of {len(spread)} datasets, samples "
                                 f"more diverse on {sum(diverse)}"] + because)
