"""Metrics: pure functions with known answers on simple inputs (tests/test_metrics.py), and
the registry that says, for each, what it measures, on which samples, following which
protocol, when it applies and which direction is better. Evaluation and the report ask
the registry; nothing else lists metric names.

Keys: `<split>/<name>` for metrics of the model and its codes (`eval/recon_mse`), and
`<split>/<sampler>/<name>` for metrics of the samples one sampler drew (`eval/prior/modes`);
split `eval` is the test split, `val` the validation split.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np
import torch
from scipy.special import digamma, logsumexp
from scipy.spatial import cKDTree
from torch import nn

# --------------------------------------------------------------------------- codes

DEAD_FRACTION = 0.1  # a unit is dead below this share of its code's scale (Burda et al. 2016's 0.01 variance on N(0, 1))


def unit_std(codes: np.ndarray) -> np.ndarray:
    return np.asarray(codes, dtype=np.float64).std(0)


def dead_units(codes: np.ndarray, scale: float | None) -> np.ndarray:
    """Boolean mask of the units whose std over the examples is below DEAD_FRACTION of the
    code's scale: the prior's std for codes matched to a prior (1 for N(0, 1): Burda et al.'s
    active-unit criterion), 0.5 for sigmoid units (the largest std a unit in (0, 1) can
    have), and the largest unit's std when the code has no scale (a plain autoencoder)."""
    std = unit_std(codes)
    reference = scale if scale is not None else float(std.max(initial=0.0))
    return std < max(DEAD_FRACTION * reference, 1e-12)


def total_correlation_gaussian(codes: np.ndarray, ridge: float = 1e-6) -> float:
    """Total correlation KL(q(c) || prod_i q(c_i)) of a Gaussian fitted to the codes:
    0.5 * (sum_i log var_i - log det Cov), in nats. 0 for independent units; blind to
    dependence that is not linear correlation. `ridge` keeps a constant unit finite."""
    c = np.asarray(codes, dtype=np.float64)
    if c.shape[1] < 2:
        return 0.0
    cov = np.atleast_2d(np.cov(c, rowvar=False)) + ridge * np.eye(c.shape[1])
    _, logdet = np.linalg.slogdet(cov)
    return float(0.5 * (np.log(np.diag(cov)).sum() - logdet))


def total_correlation_knn(codes: np.ndarray, k: int = 3) -> float:
    """Non-parametric total correlation (multi-information) by k nearest neighbours: the
    Kraskov-Stögbauer-Grassberger estimator (2004) in the form of Gao et al. (2017, "Estimating
    mutual information for discrete-continuous mixtures"), extended to m variables:
        mean_i [ psi(k_i) + (m - 1) log N - sum_j log(n_ij + 1) ],
    where rho_i is the distance (max-norm, joint space) to the k-th neighbour of point i,
    k_i = k (or the number of points tied with i when rho_i = 0) and n_ij counts the points
    within rho_i of point i in unit j alone. Codes that repeat exactly (a deterministic encoder
    on discrete data such as bars) are handled by the ties rule, where plain KSG diverges.
    Sees nonlinear dependence ((u, u^2) scores high); units are standardised first."""
    c = np.asarray(codes, dtype=np.float64)
    n, m = c.shape
    if m < 2:
        return 0.0
    std = c.std(0)
    c = (c - c.mean(0)) / np.where(std > 0, std, 1.0)
    tree = cKDTree(c)
    rho = tree.query(c, k=k + 1, p=np.inf)[0][:, k]  # the k-th neighbour, the point itself excluded
    tied = tree.query_ball_point(c, r=0.0, p=np.inf, return_length=True) - 1
    k_i = np.where(rho > 0, k, tied)
    marginal = np.zeros(n)
    for j in range(m):
        v = np.sort(c[:, j])
        within = np.searchsorted(v, c[:, j] + rho, side="right") - np.searchsorted(v, c[:, j] - rho, side="left") - 1
        marginal += np.log(within + 1)
    return float(np.mean(digamma(k_i) + (m - 1) * math.log(n) - marginal))


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Energy distance 2 E|x - y| - E|x - x'| - E|y - y'| (Székely & Rizzo 2004), i.e. the squared
    MMD under the distance-induced kernel (Sejdinovic et al. 2013): no bandwidth, and a kernel
    no family trains on. 0 for one distribution; unbiased within-sample terms."""
    x, y = x.double(), y.double()
    n, m = len(x), len(y)
    xx, yy, xy = torch.cdist(x, x), torch.cdist(y, y), torch.cdist(x, y)
    return float(2 * xy.mean() - xx.sum() / (n * (n - 1)) - yy.sum() / (m * (m - 1)))


# --------------------------------------------------------------------------- 2-D mode metrics


HIGH_QUALITY_STDS = 3.0  # PacGAN's `dis_thre`: a sample is high quality within 3 std of its nearest mode


def mode_metrics(samples: np.ndarray, centres: np.ndarray, std: float) -> dict[str, float]:
    """The 2-D toys' metrics as PacGAN's code computes them (fjxmlzn/PacGAN,
    synthetic_data_experiments/PacGAN/pacgan/extensions.py):
    - a sample is high quality when its per-axis standardised distance to the nearest mode,
      sqrt(sum_axis (x - mu)^2 / std^2), is below 3 (strictly);
    - a mode is captured when at least one high-quality sample is nearest to it;
    - reverse KL = KL(q || uniform) over the modes, q the histogram of the high-quality
      samples only (= ln K - the entropy PacGAN logs), in nats; NaN when no sample is high
      quality. Low-quality samples do not enter it, so noise can score well on this column
      alone: read it beside `high_quality` and `sample_loglik`.
    VEEGAN (Srivastava et al. 2017) states the same definitions; the two papers differ in data,
    nets, budget and trials, not in these formulas."""
    x = np.asarray(samples, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    d = np.sqrt((((x[:, None, :] - c[None]) / std) ** 2).sum(2))  # (n, modes)
    nearest, closest = d.argmin(1), d.min(1)
    good = closest < HIGH_QUALITY_STDS
    counts = np.bincount(nearest[good], minlength=len(c))
    if counts.sum():
        q = counts[counts > 0] / counts.sum()
        reverse_kl = float(math.log(len(c)) + (q * np.log(q)).sum())
    else:
        reverse_kl = float("nan")
    return {"modes": float((counts >= 1).sum()), "high_quality": float(good.mean()), "reverse_kl": reverse_kl}


def mixture_log_likelihood(samples: np.ndarray, centres: np.ndarray, std: float) -> float:
    """Mean log-density of the samples under the true mixture, (1/K) sum_j N(x; mu_j, std^2 I),
    in nats per sample. Noise between the modes scores far below any generator that holds
    even one mode. (PacGAN's code logs a 'loglikelihood' with the variance passed as the
    scale and no 1/K weight; this is the quantity it meant.)"""
    x = np.asarray(samples, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    d2 = ((x[:, None, :] - c[None]) ** 2).sum(2)
    dim = x.shape[1]
    log_p = logsumexp(-0.5 * d2 / std**2, axis=1) - math.log(len(c)) - dim * math.log(std * math.sqrt(2 * math.pi))
    return float(log_p.mean())


# --------------------------------------------------------------------------- images


class FeatureExtractor(nn.Module):
    """Wraps a classifier's penultimate layer for torchmetrics' Fréchet distance."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(x)


def frechet_distance(real: torch.Tensor, fake: torch.Tensor, classifier: nn.Module) -> float:
    """Fréchet distance between real and generated images in the features of a classifier
    trained on the dataset (FID with the dataset's own net in place of Inception),
    computed by torchmetrics."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=FeatureExtractor(classifier), normalize=True).to(real.device)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return float(fid.compute())


def class_histogram_kl(fake: torch.Tensor, classifier: nn.Module, real_labels: np.ndarray) -> float:
    """KL(real label histogram || predicted-class histogram of the samples): large when the
    generator drops classes (mode collapse in label space). Smoothed by one count per class."""
    with torch.no_grad():
        predicted = classifier(fake).argmax(1).cpu().numpy()
    classes = int(max(real_labels.max(), predicted.max())) + 1
    p = np.bincount(real_labels, minlength=classes) + 1.0
    q = np.bincount(predicted, minlength=classes) + 1.0
    p, q = p / p.sum(), q / q.sum()
    return float((p * np.log(p / q)).sum())


# --------------------------------------------------------------------------- the registry


@dataclasses.dataclass(frozen=True)
class Metric:
    """A group of metrics computed together (the mode metrics come from one pass).

    `applies(probe)` says whether the group belongs to a trial's dataset at all (absent if
    not); `available(probe)` whether the family can feed it (None, "not applicable", if not).
    `compute(probe)` gets a Probe (pipeline/evaluate.py) and, for `on_samples` groups, the
    samples of one sampler; it returns {name: value}."""

    names: tuple[str, ...]
    what: dict[str, str]  # name -> what it measures, on which samples, following which protocol
    better: dict[str, str]  # name -> 'lower' | 'higher' | 'none' (a count, a diagnostic)
    applies: Callable[[Any], bool]
    available: Callable[[Any], bool]
    compute: Callable[..., dict[str, float]]
    on_samples: bool = False
    progress: tuple[str, ...] = ()  # names tracked on validation data during training
    change: dict[str, tuple[float, bool]] = dataclasses.field(default_factory=dict)  # name -> (least change that counts, relative?)


def _always(probe) -> bool:
    return True


def _codes_metrics(probe) -> dict[str, float | None]:
    live = ~probe.dead
    codes = probe.code_samples[:, live]
    # On discrete data a code takes finitely many values and each unit generically tells them
    # all apart: its total correlation is then (m - 1) H(x) whatever the code's structure
    # (42-44 nats on bars for every deterministic encoder). Not a measure of dependence there.
    knn = None if probe.ds.meta.get("discrete") else total_correlation_knn(codes)
    return {"dead_units": float(probe.dead.sum()), "total_correlation": total_correlation_gaussian(codes),
            "total_correlation_knn": knn}


def _toy(probe) -> bool:
    return probe.ds.kind == "toy2d"


def _labelled_images(probe) -> bool:
    return probe.ds.kind == "image" and probe.classifier is not None


METRICS: tuple[Metric, ...] = (
    Metric(("recon_mse",),
           {"recon_mse": "squared error per example, summed over features, of the reconstruction of each test example"},
           {"recon_mse": "lower"}, _always, lambda p: p.can("reconstruct"),
           lambda p: {"recon_mse": p.recon_mse()}, progress=("recon_mse",), change={"recon_mse": (0.05, True)}),
    Metric(("dead_units", "total_correlation", "total_correlation_knn"),
           {"dead_units": "code units whose std over the test codes (at most 2,500 examples, as for every code "
                          "metric) is below 10% of the code's scale (the prior's std; 0.5 for sigmoid units; the largest "
                          "unit's std without a scale)",
            "total_correlation": "KL(q(c) || prod q(c_i)) of a Gaussian fitted to the live units of the test codes "
                                 "(nats); sees only linear correlation",
            "total_correlation_knn": "the same by a k-nearest-neighbour estimator (KSG in Gao et al. 2017's form for "
                                     "codes that repeat, k = 3, nats): sees nonlinear dependence; n/a on discrete data "
                                     "(bars, pm92), where it measures only that each unit tells the inputs apart"},
           {"dead_units": "lower", "total_correlation": "lower", "total_correlation_knn": "lower"},
           _always, lambda p: p.can("encode"), _codes_metrics),
    Metric(("mmd_prior",),
           {"mmd_prior": "energy distance (MMD² under the distance kernel, which no family trains on) between the "
                         "test codes and as many prior draws"},
           {"mmd_prior": "lower"}, _always, lambda p: p.can("encode") and p.prior is not None,
           lambda p: {"mmd_prior": energy_distance(torch.from_numpy(p.code_samples), p.prior)}),
    Metric(("modes", "high_quality", "reverse_kl", "sample_loglik"),
           {"modes": "modes with at least one high-quality sample (PacGAN's code; VEEGAN's definition)",
            "high_quality": "share of samples within 3 std (per-axis) of their nearest mode (PacGAN's code)",
            "reverse_kl": "KL(mode histogram of the high-quality samples || uniform), nats (PacGAN's code; "
                          "low-quality samples do not enter it)",
            "sample_loglik": "mean log-density of the samples under the true mixture, nats (noise cannot score well)"},
           {"modes": "higher", "high_quality": "higher", "reverse_kl": "lower", "sample_loglik": "higher"},
           _toy, _always,
           lambda p, s: {**mode_metrics(s, p.ds.meta["centres"], p.ds.meta["std"]),
                         "sample_loglik": mixture_log_likelihood(s, p.ds.meta["centres"], p.ds.meta["std"])},
           on_samples=True, progress=("modes", "high_quality"),
           change={"modes": (1.0, False), "high_quality": (0.1, True)}),
    Metric(("frechet", "class_kl"),
           {"frechet": "Fréchet distance between test images and samples in the features of the dataset's own "
                       "classifier (evalnet stage; torchmetrics)",
            "class_kl": "KL(test label histogram || the classifier's class histogram of the samples), nats"},
           {"frechet": "lower", "class_kl": "lower"}, _labelled_images, _always,
           lambda p, s: {"frechet": frechet_distance(p.x, torch.from_numpy(s).to(p.x.device), p.classifier),
                         "class_kl": class_histogram_kl(torch.from_numpy(s).to(p.x.device), p.classifier, p.labels)},
           on_samples=True, progress=("frechet",), change={"frechet": (0.05, True)}),
)

# Everything a results table may show, in the order a reader wants it.
DESCRIPTIONS: dict[str, str] = {name: m.what[name] for m in METRICS for name in m.names}
BETTER: dict[str, str] = {name: m.better[name] for m in METRICS for name in m.names}


def still_improving(curve: list[tuple[int, float]], better: str, change: tuple[float, bool]) -> bool:
    """True when the last evaluation beats every evaluation of the first three quarters of
    training by at least `change` (relative to that best value when change[1]): the model
    had not stopped improving, so its number is a lower bound, not a result."""
    if len(curve) < 3 or better not in ("lower", "higher"):
        return False
    last_step = curve[-1][0]
    earlier = [v for s, v in curve if s <= 0.75 * last_step and math.isfinite(v)]
    final = curve[-1][1]
    if not earlier or not math.isfinite(final):
        return False
    best = min(earlier) if better == "lower" else max(earlier)
    least, relative = change
    margin = least * abs(best) if relative else least
    return final < best - margin if better == "lower" else final > best + margin
