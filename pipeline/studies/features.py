"""`features`: the unsupervised features the InfoGAN and BiGAN papers measure on 28x28
images: InfoGAN's categorical code as a classifier (about 5% error on MNIST) and the 1-NN
accuracy of BiGAN's encoder (92.1% on E(x), 97.35% on its penultimate layer: jeffdonahue/bigan README), on
Fashion-MNIST here.

Rule: each published number (pipeline/studies/published.py) against ours: holds when reproduced,
"inconclusive" while our run is smaller or on another dataset (Fashion-MNIST's
classes are harder than MNIST's digits: the comparison then says so, never "reproduced").
"""
from __future__ import annotations

from pipeline.studies.published import study_outcome

from .base import Study, Table, Verdict

CHANCE = 0.1  # 10 classes


class FeaturesStudy(Study):
    name = "features"
    claim = ("InfoGAN's categorical code classifies the images (paper: about 5% error on MNIST) and BiGAN's encoder "
             "gives features a 1-NN classifier can use (92.1% on E(x), MNIST).")
    columns = ("cluster_accuracy", "knn_accuracy", "penultimate_knn", "linear_probe", "frechet")

    def verdict(self, table: Table) -> Verdict:
        extra = []
        for dataset in table.datasets():
            for model, metric in (("infogan", "cluster_accuracy"), ("bigan", "knn_accuracy"), ("bigan", "penultimate_knn")):
                row = table.row(dataset, model)
                if row is not None and row.get(metric):
                    extra.append(f"{dataset}: {model} {metric} {row.fmt(metric)} (chance {CHANCE})")
        return Verdict(*study_outcome(self.name, table, extra))
