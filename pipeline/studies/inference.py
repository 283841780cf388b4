"""`inference`: which encoders give useful features: PM, AAE, BiGAN? (BiGAN/ALI and the
autoencoding families learn an inverse.)

Rule: a family learns an inverse when its reconstruction through the inverse is below half
the error of always predicting the mean training image, and its codes are useful when their
1-NN accuracy reaches at least 80% of the raw pixels' (the reference row; codes have 8 units,
pixels 64). Holds when every family passes both, mixed when some do.
"""
from __future__ import annotations

import numpy as np

from .base import Study, Table, Verdict

FAMILIES = ("ae", "pm", "aae", "mmd_ae", "vae", "bigan")


class Inference(Study):
    name = "inference"
    claim = "Which encoders give useful features: PM, AAE, BiGAN? (BiGAN/ALI and the autoencoding families learn an inverse.)"
    columns = ("linear_probe", "knn_accuracy", "recon_mse", "dead_units")

    def references(self, cfg, datasets):
        """Raw pixels as features, and the error of predicting the mean training image."""
        from ..metrics import linear_probe_accuracy, nearest_neighbour_accuracy

        out = {}
        for name, ds in datasets.items():
            if ds.y is None:
                continue
            train = ds.x["train"].reshape(len(ds.x["train"]), -1)
            test = ds.x["test"].reshape(len(ds.x["test"]), -1)
            mean_error = float(((test - train.mean(0)) ** 2).sum(1).mean())
            out[name] = {"pixels": {"linear_probe": linear_probe_accuracy(train, ds.y["train"], test, ds.y["test"]),
                                    "knn_accuracy": nearest_neighbour_accuracy(train, ds.y["train"], test, ds.y["test"]),
                                    "recon_mse": 0.0},
                         "mean image": {"recon_mse": mean_error}}
        return out

    def verdict(self, table: Table) -> Verdict:
        because, passed = [], {}
        for dataset in table.datasets():
            refs = table.references.get(dataset, {})
            if "pixels" not in refs:
                continue
            pixels, mean_error = refs["pixels"]["knn_accuracy"], refs["mean image"]["recon_mse"]
            for model in FAMILIES:
                row = table.row(dataset, model)
                if row is None:
                    continue
                inverse = row.mean("recon_mse") < 0.5 * mean_error
                useful = row.mean("knn_accuracy") >= 0.8 * pixels
                passed[model] = passed.get(model, True) and inverse and useful
                because.append(f"{dataset} {model}: recon {row.fmt('recon_mse')} (mean image {mean_error:.2f}), 1-NN "
                               f"{row.fmt('knn_accuracy')} (pixels {pixels:.3f})")
        good = [m for m, ok in passed.items() if ok]
        outcome = "holds" if passed and len(good) == len(passed) else "mixed" if good else "does not hold"
        return Verdict(outcome, [f"an inverse and useful codes: {', '.join(good) or 'none'}; not: "
                                 f"{', '.join(m for m in passed if m not in good) or 'none'}"] + because)
