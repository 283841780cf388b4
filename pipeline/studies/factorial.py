"""`factorial`: do PM's and AAE's codes factorize?

Rule. On each dataset a family's code is more factorial than the plain autoencoder's (the
control: the same nets, no game) when its total correlation is clearly lower: the k-NN
estimate on continuous data, the Gaussian one on discrete data (where the k-NN estimate does
not measure dependence, pipeline/metrics.py). The claim holds for a family on every dataset,
is mixed on some, does not hold on none; the study's verdict combines PM and AAE. MIG, DCI,
PM's own criterion (a fresh predictor's R^2) and, on `ica`, the Amari distance with FastICA
beside it as the reference, are shown, not voted.
"""
from __future__ import annotations

import numpy as np

from .base import Study, Table, Verdict, clearly, compare

FAMILIES = {"pm": "PM", "aae": "AAE"}


class Factorial(Study):
    name = "factorial"
    claim = ("PM's encoder maps a complex distribution to a factorial code; AAE maps it to a factorial Gaussian. "
             "Do the codes really factorize?")
    columns = ("total_correlation", "total_correlation_knn", "predictability_r2", "mig", "dci_disentanglement",
               "dci_completeness", "amari", "dead_units", "recon_mse", "mmd_prior")

    def references(self, cfg, datasets):
        """FastICA (scikit-learn) on the mixed sources: the linear method the talk sets PM beside."""
        from sklearn.decomposition import FastICA

        from ..metrics import amari_distance

        out = {}
        if "ica" in datasets:
            ds = datasets["ica"]
            ica = FastICA(n_components=ds.x["train"].shape[1], random_state=0, max_iter=1000).fit(ds.x["train"])
            out["ica"] = {"fastica": {"amari": amari_distance(ica.components_, np.array(ds.meta["mixing"]))}}
        return out

    @staticmethod
    def metric(dataset: str, table: Table) -> str:
        row = next((r for (d, _, _), r in table.rows.items() if d == dataset), None)
        return "total_correlation_knn" if row is not None and row.get("total_correlation_knn") else "total_correlation"

    def verdict(self, table: Table) -> Verdict:
        held, because = {}, []
        for model, label in FAMILIES.items():
            wins = []
            for dataset in table.datasets():
                metric = self.metric(dataset, table)
                row, control = table.row(dataset, model), table.row(dataset, "ae")
                if row is None or control is None:
                    continue
                wins.append(clearly(row, control, metric, "lower"))
                because.append(f"{dataset}: {compare(row, control, metric, 'lower')} ({metric})")
            held[label] = (sum(wins), len(wins))
        parts = [f"{label} more factorial than the AE on {won} of {n} datasets" for label, (won, n) in held.items()]
        if all(won == n and n for won, n in held.values()):
            outcome = "holds"
        elif any(won for won, _ in held.values()):
            outcome = "mixed"
        else:
            outcome = "does not hold"
        return Verdict(outcome, parts + because)
