"""Trivial baselines, scored under the trials' own protocol: what doing nothing scores.

A rule that a family "generates" or "has useful codes" must beat these by the study's test
(pipeline/studies/stats.py), not a fixed threshold that noise can pass:
- toys: uniform noise over the training data's bounding box and, on ring8, uniform points on
  the ring's circle, as many samples as a trial draws (its `eval_samples`), scored by the same
  mode metrics (PacGAN's code) and mixture log-likelihood; one value per draw (DRAWS draws).
- codes: PCA to the family's code size (fit on the training split) and a random Gaussian
  projection of the pixels to that size (one value per draw), read by the same probes as a
  family's codes: 1-NN and logistic regression on the first TRAIN_CODES training codes, scored
  on the first CODE_POINTS test codes; total correlation on those test codes.

Each baseline is `{name: {metric: value or [one value per draw]}}`, stored beside the trials
as the study's `references` (results/<study>/trials.json) and read back as rows of the table.
The same baselines on the validation split (`held_out_as`) stand beside the trials' validation
numbers in a verdict's trajectory over training (pipeline/studies/trajectory.py).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from pipeline.evaluation import metrics
from pipeline.evaluation.evaluate import CODE_POINTS, TRAIN_CODES

DRAWS = 10  # noise and random projections: enough draws that the test's power is not spent on them


def held_out_as(ds, split: str):
    """`ds` with `split` in the place of its test split: every baseline (and every study's
    `references`) computed on it is computed on `split`, by the very code that scores the test
    split. Validation numbers must meet validation baselines: a Fréchet distance or a total
    correlation estimated on fewer examples is larger (digits: 180 validation, 359 test images)."""
    def swap(arrays):
        return None if arrays is None else {**arrays, "test": arrays[split]}

    return dataclasses.replace(ds, x=swap(ds.x), y=swap(ds.y), factors=swap(ds.factors))


def _mode_scores(samples: np.ndarray, meta: dict) -> dict[str, float]:
    centres, std = np.asarray(meta["centres"]), meta["std"]
    return {**{f"prior/{k}": v for k, v in metrics.mode_metrics(samples, centres, std).items()},
            "prior/sample_loglik": metrics.mixture_log_likelihood(samples, centres, std)}


def _per_draw(draws: list[dict[str, float]]) -> dict[str, list[float]]:
    return {k: [d[k] for d in draws] for k in draws[0]}


def toy_noise(ds, samples: int, draws: int = DRAWS) -> dict[str, dict[str, list[float]]]:
    """Uniform noise over the training data's box (every 2-D toy) and, on a ring, uniform points
    on its circle: the mode metrics a generator that learnt nothing (or only the ring) scores.
    The `prior/` prefix puts them in the columns of the families' prior samples."""
    x = np.asarray(ds.x["train"], dtype=np.float64)
    low, high = x.min(0), x.max(0)
    out = {}
    box = [_mode_scores(np.random.default_rng(seed).uniform(low, high, size=(samples, 2)), ds.meta)
           for seed in range(draws)]
    out["uniform noise over the box"] = _per_draw(box)
    centres = np.asarray(ds.meta["centres"])
    radii = np.linalg.norm(centres, axis=1)
    if np.allclose(radii, radii[0]):  # the modes lie on one circle: ring8
        circle = []
        for seed in range(draws):
            angle = np.random.default_rng(seed).uniform(0, 2 * np.pi, size=samples)
            circle.append(_mode_scores(radii[0] * np.stack([np.cos(angle), np.sin(angle)], 1), ds.meta))
        out["uniform on the ring's circle"] = _per_draw(circle)
    return out


def _flat(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def _code_scores(train_codes: np.ndarray, test_codes: np.ndarray, ds, labelled: bool) -> dict[str, float]:
    out = {"total_correlation": metrics.total_correlation_gaussian(test_codes),
           "total_correlation_knn": metrics.total_correlation_knn(test_codes)}
    if labelled:
        train_labels, test_labels = ds.y["train"][:TRAIN_CODES], ds.y["test"][:len(test_codes)]
        out["knn_accuracy"] = metrics.nearest_neighbour_accuracy(train_codes, train_labels, test_codes, test_labels)
        out["linear_probe"] = metrics.linear_probe_accuracy(train_codes, train_labels, test_codes, test_labels)
    return out


def code_baselines(ds, code_dim: int, draws: int = DRAWS) -> dict[str, dict]:
    """PCA (fit on the training split; deterministic, one value per metric) and random Gaussian
    projections of the data to `code_dim` units (one value per draw), scored like a family's
    codes. PCA's codes are uncorrelated by construction: its Gaussian total correlation is ~0,
    which is what that column alone cannot tell from a factorial code."""
    from sklearn.decomposition import PCA

    train, test = _flat(ds.x["train"]), _flat(ds.x["test"])[:CODE_POINTS]
    reference = train[:TRAIN_CODES]
    labelled = ds.y is not None
    pca = PCA(n_components=code_dim, random_state=0).fit(train)
    out: dict[str, dict] = {f"PCA ({code_dim} components)": _code_scores(pca.transform(reference), pca.transform(test),
                                                                          ds, labelled)}
    projections = []
    for seed in range(draws):
        w = np.random.default_rng(seed).standard_normal((train.shape[1], code_dim)) / np.sqrt(train.shape[1])
        projections.append(_code_scores(reference @ w, test @ w, ds, labelled))
    out[f"random projection ({code_dim} units)"] = _per_draw(projections)
    return out


def image_baselines(ds, classifier_state: dict, samples: int, draws: int = 3) -> dict[str, dict[str, list[float]]]:
    """What the Fréchet distance and the class histogram KL give without a generator, against the
    test split in the dataset's own classifier's features (as the trials are scored):
    - real training images (as many as a trial draws): the floor any generator is compared with;
    - draws of a Gaussian fitted to the training pixels (their mean and covariance), clipped to
      the data's range: the trivial generator a "generates" claim must beat."""
    import torch

    from pipeline.evaluation.evalnet import from_state

    classifier = from_state(classifier_state)
    train = _flat(ds.x["train"])
    shape = ds.x["train"].shape[1:]
    real = torch.as_tensor(np.asarray(ds.x["test"]), dtype=torch.float32)
    labels = ds.y["test"]
    low, high = float(train.min()), float(train.max())
    mean, cov = train.mean(0), np.cov(train, rowvar=False)

    def scores(images: np.ndarray) -> dict[str, float]:
        fake = torch.as_tensor(images.reshape(-1, *shape), dtype=torch.float32)
        return {"prior/frechet": metrics.frechet_distance(real, fake, classifier),
                "prior/class_kl": metrics.class_histogram_kl(fake, classifier, labels)}

    floor, gaussian = [], []
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        floor.append(scores(train[rng.choice(len(train), size=min(samples, len(train)), replace=False)]))
        gaussian.append(scores(np.clip(rng.multivariate_normal(mean, cov, size=samples, method="eigh"), low, high)))
    return {"real training images": _per_draw(floor), "Gaussian fit to the pixels": _per_draw(gaussian)}


def samples_per_dataset(trials: list) -> dict[str, int]:
    """dataset -> how many samples its trials score (the largest `eval_samples`, if they differ):
    as many as a baseline draws."""
    samples: dict[str, int] = {}
    for t in trials:
        samples[t.dataset] = max(samples.get(t.dataset, 0), t.train.eval_samples)
    return samples


def generator_baselines(datasets: dict, trials: list, classifiers: dict) -> dict:
    """The trivial generators of every dataset the trials run on, as many samples as its trials
    score: noise on a 2-D toy; the Gaussian fit to the pixels and the real-image floor on
    labelled images (with their evaluation classifier)."""
    out = {}
    for name, n in samples_per_dataset(trials).items():
        ds = datasets[name]
        if "centres" in ds.meta:
            out[name] = toy_noise(ds, n)
        elif name in classifiers:
            out[name] = image_baselines(ds, classifiers[name], n)
    return out


PARZEN_CENTROIDS = 1000  # k-means centres: a "generator" that memorised 1,000 prototypes


def parzen_baselines(ds, samples: int) -> dict[str, dict[str, float]]:
    """The GAN paper's Parzen estimate (pipeline/metrics.parzen_estimate: sigma chosen on the
    first 1,000 validation images, mean over the test split) of what no generator needs to
    learn: the training images themselves (as many as a trial draws), k-means centroids of the
    training split, and the mean training image. Each is one deterministic number. The estimate
    rewards memorised prototypes: k-means can score above the training set itself."""
    import torch
    from sklearn.cluster import MiniBatchKMeans

    train = _flat(ds.x["train"])
    val = torch.as_tensor(_flat(ds.x["val"]))
    test = torch.as_tensor(_flat(ds.x["test"]))
    centroids = MiniBatchKMeans(n_clusters=min(PARZEN_CENTROIDS, len(train)), random_state=0, n_init=1,
                                batch_size=4096).fit(train).cluster_centers_
    rows = {"training images": train[:samples], f"k-means ({len(centroids)} centroids)": centroids,
            "mean training image": train.mean(0, keepdims=True)}
    out = {}
    for name, points in rows.items():
        score = metrics.parzen_estimate(torch.as_tensor(points), val, test)
        out[name] = {f"prior/{k}": v for k, v in score.items()}
    return out
