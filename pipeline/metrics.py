"""Metrics, each a function of arrays with a known answer on simple inputs
(tests/test_metrics.py checks every one of them against such an answer)."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from models import losses


def total_correlation_gaussian(codes: np.ndarray, ridge: float = 1e-6) -> float:
    """Total correlation KL(q(c) || prod_i q(c_i)) of a Gaussian fitted to the codes:
    0.5 * (sum_i log var_i - log det Cov), in nats. 0 for independent units.
    `ridge` keeps a dead (constant) unit from making it infinite."""
    c = np.asarray(codes, dtype=np.float64)
    cov = np.atleast_2d(np.cov(c, rowvar=False)) + ridge * np.eye(c.shape[1])
    _, logdet = np.linalg.slogdet(cov)
    return float(0.5 * (np.log(np.diag(cov)).sum() - logdet))


def mmd(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased squared MMD between two samples (models.losses.mmd, in double precision)."""
    return float(losses.mmd(x.double(), y.double()))


def mode_metrics(samples: np.ndarray, centres: np.ndarray, std: float, min_count: int) -> dict[str, float]:
    """The 2-D toys' protocol (VEEGAN / PacGAN): a sample is high-quality when it lies within
    3 std of its nearest mode; a mode is captured when at least `min_count` high-quality
    samples fall on it; reverse KL is KL(q || p) between the histogram of high-quality samples
    over modes (q) and the true, uniform one (p)."""
    centres = np.asarray(centres)
    dist = np.linalg.norm(samples[:, None, :] - centres[None], axis=2)  # (n, modes)
    nearest, closest = dist.argmin(1), dist.min(1)
    good = closest <= 3 * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    q = counts / max(counts.sum(), 1)
    p = 1.0 / len(centres)
    reverse_kl = float(sum(qi * math.log(qi / p) for qi in q if qi > 0)) if counts.sum() else float("nan")
    return {
        "modes": float((counts >= min_count).sum()),
        "high_quality": float(good.mean()),
        "reverse_kl": reverse_kl,
    }


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
