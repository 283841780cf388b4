"""Held-out evaluation of a trained family: every metric that applies to the
dataset, computed when the family can provide what it needs and reported as
None ("not applicable") when it cannot, never as a zero."""
from __future__ import annotations

import numpy as np
import torch

from models import ENCODE, RECONSTRUCT, SAMPLE, Family

from . import metrics
from .data import Dataset, as_tensor

MODE_MIN_COUNT = 20  # high-quality samples a toy mode needs to count as captured (PacGAN-style)


def metric_names(ds: Dataset, has_classifier: bool) -> list[str]:
    """The metrics a trial on `ds` reports (each a value or None)."""
    names = ["eval/recon_mse", "eval/total_correlation", "eval/mmd_prior"]
    if ds.kind == "toy2d":
        names += ["eval/modes", "eval/high_quality", "eval/reverse_kl"]
    if ds.kind == "image" and has_classifier:
        names += ["eval/frechet", "eval/class_kl"]
    return names


@torch.no_grad()
def evaluate(model: Family, ds: Dataset, n_samples: int, seed: int, classifier=None) -> tuple[dict, np.ndarray | None]:
    """Metrics on the test split, and the samples drawn (None if the family cannot sample)."""
    model.eval()
    device = model.device
    caps = model.capabilities
    gen = torch.Generator(device=device).manual_seed(seed)
    x_test = as_tensor(ds.x["test"], device)
    out: dict[str, float | None] = dict.fromkeys(metric_names(ds, classifier is not None))

    if RECONSTRUCT in caps:
        out["eval/recon_mse"] = (model.reconstruct(x_test) - x_test).pow(2).flatten(1).sum(1).mean().item()
    if ENCODE in caps:
        codes = model.encode(x_test)
        out["eval/total_correlation"] = metrics.total_correlation_gaussian(codes.cpu().numpy())
        prior = model.prior_sample(len(codes), gen)
        if prior is not None:
            out["eval/mmd_prior"] = metrics.mmd(codes, prior)

    samples = None
    if SAMPLE in caps:
        x_train = as_tensor(ds.x["train"], device)
        reference = x_train[torch.randint(0, len(x_train), (n_samples,), generator=gen, device=device)]
        samples_t = model.sample(n_samples, gen, reference=reference)
        samples = samples_t.cpu().numpy()
        if ds.kind == "toy2d":
            out.update({f"eval/{k}": v for k, v in metrics.mode_metrics(
                samples, np.array(ds.meta["centres"]), ds.meta["std"], MODE_MIN_COUNT).items()})
        if ds.kind == "image" and classifier is not None:
            out["eval/frechet"] = metrics.frechet_distance(x_test, samples_t, classifier)
            out["eval/class_kl"] = metrics.class_histogram_kl(samples_t, classifier, ds.y["test"])
    model.train()
    return out, samples
