"""`factorial`: do PM's and AAE's codes factorize?

Rule, one part per family (PM, AAE) and dataset, all tested by the studies' one procedure
(Welch, one-sided, 5%: pipeline/studies/stats.py) on the total correlation: the k-NN estimate on
continuous data, the Gaussian one on discrete data (where the k-NN estimate does not measure
dependence, pipeline/evaluation/metrics.py).
- Lower than the plain autoencoder's (the control: the same nets, no game).
- On continuous data, lower than PCA's codes of the same size (the trivial linear decorrelation,
  pipeline/evaluation/baselines.py), on the k-NN estimate: PCA's Gaussian total correlation is ~0 by
  construction, so that column cannot tell it from a factorial code.
The verdict is their conjunction. What it cannot conclude: that a code is factorial in absolute
terms (its total correlation is shown, beside FastICA's on `ica`); MIG, DCI, PM's own
criterion and the Amari distance are shown, not voted.
"""
from __future__ import annotations

import numpy as np

from . import stats
from .base import Study, Table, Verdict, code_dims, compare

FAMILIES = {"pm": "PM", "aae": "AAE"}


class Factorial(Study):
    name = "factorial"
    claim = ("PM's encoder maps a complex distribution to a factorial code; AAE maps it to a factorial Gaussian. "
             "Do the codes really factorize?")
    columns = ("total_correlation", "total_correlation_knn", "predictability_r2", "mig", "dci_disentanglement",
               "dci_completeness", "amari", "dead_units", "recon_mse", "mmd_prior")

    def references(self, cfg, datasets, trials, classifiers):
        """FastICA (scikit-learn) on the mixed sources: the linear method the talk sets PM beside;
        PCA and random projections to the code's size on continuous data (pipeline/evaluation/baselines.py)."""
        from sklearn.decomposition import FastICA

        from pipeline.evaluation.baselines import code_baselines
        from pipeline.evaluation.evaluate import CODE_POINTS
        from pipeline.evaluation.metrics import amari_distance, total_correlation_gaussian, total_correlation_knn

        out = {}
        for name, dim in code_dims(trials).items():
            if not datasets[name].meta.get("discrete"):
                out[name] = code_baselines(datasets[name], dim)
        if "ica" in datasets:
            ds = datasets["ica"]
            ica = FastICA(n_components=ds.x["train"].shape[1], random_state=0, max_iter=1000).fit(ds.x["train"])
            codes = ica.transform(ds.x["test"][:CODE_POINTS])  # as many test codes as a family's are read on
            out.setdefault("ica", {})["fastica"] = {"amari": amari_distance(ica.components_, np.array(ds.meta["mixing"])),
                                                    "total_correlation": total_correlation_gaussian(codes),
                                                    "total_correlation_knn": total_correlation_knn(codes)}
        return out

    @staticmethod
    def metric(dataset: str, table: Table) -> str:
        row = next((r for (d, _, _), r in table.rows.items() if d == dataset), None)
        return "total_correlation_knn" if row is not None and row.get("total_correlation_knn") else "total_correlation"

    def verdict(self, table: Table) -> Verdict:
        by_family: dict[str, list] = {}
        for model in FAMILIES:
            for dataset in table.datasets():
                metric = self.metric(dataset, table)
                row, control = table.row(dataset, model), table.row(dataset, "ae")
                if row is None or control is None:
                    continue
                mine = by_family.setdefault(model, [])
                mine.append(compare(row, control, metric, "lower").part())
                pca = next((b for (d, n), b in table.baselines.items() if d == dataset and n.startswith("PCA")), None)
                if pca is not None and metric == "total_correlation_knn" and pca.get(metric):
                    mine.append(compare(row, pca, metric, "lower").part())
        parts = [p for family in by_family.values() for p in family]
        return Verdict.of(parts, [f"{label}'s code more factorial than the plain autoencoder's and PCA's: "
                                  f"{stats.tally(by_family.get(model, []), len(parts))}" for model, label in FAMILIES.items()])
