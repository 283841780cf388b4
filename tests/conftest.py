"""Shared fixtures: small real datasets and trial configs built in memory."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from models import NetConfig
from pipeline import data
from pipeline.config import TrainBudget
from pipeline.trials import TrialConfig

from tests.checkout import ROOT  # noqa: F401 - the tests import it from here


def small(name: str, size: int = 2000) -> data.Dataset:
    if name == "digits":
        return data.make_digits(0, 0.1, 0.2)
    return data.make_synthetic(name, size, seed=0, val=0.1, test=0.2)


@pytest.fixture(scope="session")
def datasets() -> dict[str, data.Dataset]:
    return {name: small(name) for name in ("ring8", "grid25", "bars", "ica", "pm92", "digits")}


def trial(model: str, dataset: data.Dataset, steps: int = 20, seed: int = 0, code_dim: int | None = None,
          log_every: int = 10, **hparams) -> TrialConfig:
    from models import FAMILIES

    hp = dataclasses.asdict(FAMILIES[model].Hyper(**hparams))
    return TrialConfig(study="test", model=model, dataset=dataset.name, seed=seed,
                       code_dim=code_dim or {"ring8": 2, "grid25": 2, "bars": 16, "ica": 4, "pm92": 2}.get(dataset.name, 8),
                       hparams=hp, variant={}, train=TrainBudget(steps=steps, batch_size=64, log_every=log_every,
                                                                 eval_samples=200),
                       nets=NetConfig(hidden=32, depth=2), device="cpu", cpus=1)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    np.random.seed(0)
