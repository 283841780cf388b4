"""`inference`: which encoders give useful features: PM, AAE, BiGAN? (BiGAN/ALI and the
autoencoding families learn an inverse.)

Rule, two parts per family and dataset, each a one-sided Welch test at 5%
(pipeline/studies/stats.py); the verdict is their conjunction over the families.
- An inverse: its reconstruction error is below half the error of always predicting the mean
  training image.
- Useful codes: their 1-NN accuracy is higher than that of a random projection of the pixels
  to the same number of units (10 draws: pipeline/evaluation/baselines.py), the trivial code that no
  training made. PCA to the same size and the raw pixels are shown beside: PCA's 8 components
  beat every family on digits, so "useful" here means "better than no learning", not "better
  than linear".
"""
from __future__ import annotations

from . import stats
from .base import Study, Table, Verdict, code_dims, compare

FAMILIES = ("ae", "pm", "aae", "mmd_ae", "vae", "bigan")


class Inference(Study):
    name = "inference"
    claim = "Which encoders give useful features: PM, AAE, BiGAN? (BiGAN/ALI and the autoencoding families learn an inverse.)"
    columns = ("linear_probe", "knn_accuracy", "recon_mse", "dead_units")

    def references(self, cfg, datasets, trials, classifiers):
        """Raw pixels as features, the error of predicting the mean training image, and PCA and
        random projections to the code's size (pipeline/evaluation/baselines.py)."""
        from pipeline.evaluation.baselines import code_baselines
        from pipeline.evaluation.metrics import linear_probe_accuracy, nearest_neighbour_accuracy

        out = {}
        dims = code_dims(trials)
        for name, ds in datasets.items():
            if ds.y is None:
                continue
            train = ds.x["train"].reshape(len(ds.x["train"]), -1)
            test = ds.x["test"].reshape(len(ds.x["test"]), -1)
            mean_error = float(((test - train.mean(0)) ** 2).sum(1).mean())
            out[name] = {"pixels": {"linear_probe": linear_probe_accuracy(train, ds.y["train"], test, ds.y["test"]),
                                    "knn_accuracy": nearest_neighbour_accuracy(train, ds.y["train"], test, ds.y["test"]),
                                    "recon_mse": 0.0},
                         "mean image": {"recon_mse": mean_error},
                         **({k: {m: v for m, v in b.items() if m in ("knn_accuracy", "linear_probe")}
                             for k, b in code_baselines(ds, dims[name]).items()} if name in dims else {})}
        return out

    def verdict(self, table: Table) -> Verdict:
        parts, families = [], {}
        for dataset in table.datasets():
            refs = table.references.get(dataset, {})
            projection = next((b for (d, n), b in table.baselines.items() if d == dataset and n.startswith("random")), None)
            if "mean image" not in refs or projection is None:
                continue
            half = 0.5 * refs["mean image"]["recon_mse"]
            for model in FAMILIES:
                row = table.row(dataset, model)
                if row is None:
                    continue
                mine = [stats.against(row, half, "half the mean image's error", "recon_mse", "lower").part(),
                        compare(row, projection, "knn_accuracy", "higher").part()]
                families.setdefault(model, []).extend(mine)
                parts += mine
        return Verdict.of(parts, ["an inverse and codes more useful than a random projection: " + ", ".join(
            f"{m} {stats.tally(p, len(parts))}" for m, p in families.items())])
