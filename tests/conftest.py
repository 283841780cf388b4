"""Shared fixtures: small real datasets and trial configs built in memory."""
from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from models import NetConfig
from pipeline.data import datasets as data
from pipeline.settings import config
from pipeline.settings.config import TrainBudget
from pipeline.settings.trials import TrialConfig
from tests.checkout import ROOT  # noqa: F401 - the tests import it from here


def small(name: str, size: int = 2000) -> data.Dataset:
    if name == "digits":
        return data.make_digits(0, 0.1, 0.2)
    return data.make_synthetic(name, size, seed=0, val=0.1, test=0.2)


@pytest.fixture(scope="session")
def datasets() -> dict[str, data.Dataset]:
    return {name: small(name) for name in ("ring8", "grid25", "bars", "ica", "pm92", "digits")}


@functools.cache
def params() -> config.Config:
    """The shipped params.yaml: the one place the families' default hyperparameters live."""
    return config.load(ROOT / "params.yaml")


def hyper(model: str, **overrides) -> dict:
    """The family's defaults from params.yaml with `overrides`, validated by its Hyper."""
    spec = params().models[model]
    return type(spec.defaults).model_validate({**spec.defaults.model_dump(), **overrides}).model_dump()


def trial(model: str, dataset: data.Dataset, steps: int = 20, seed: int = 0, code_dim: int | None = None,
          log_every: int = 10, eval_every: int = 0, **hparams) -> TrialConfig:
    return TrialConfig(study="test", model=model, dataset=dataset.name, seed=seed,
                       code_dim=code_dim or {"ring8": 2, "grid25": 2, "bars": 16, "ica": 4, "pm92": 2}.get(dataset.name, 8),
                       hparams=hyper(model, **hparams), variant={},
                       train=TrainBudget(steps=steps, batch_size=64, log_every=log_every, checkpoint_every=0,
                                         eval_samples=200, eval_every=eval_every),
                       nets=NetConfig(hidden=32, depth=2, conv_channels=8), device="cpu", cpus=1)


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread, and every global random stream seeded: a test's result is its own, not the
    order the suite ran it in (a test that trains from torch's global stream passed alone and
    failed after other tests had drawn from it)."""
    torch.set_num_threads(1)
    np.random.seed(0)
    torch.manual_seed(0)


# The modules that take longest, longest first (`make test` runs modules in parallel, pytest-xdist
# --dist loadfile --no-loadscope-reorder: each module on one worker, handed out in collection order), so
# that the short ones fill the end. Started last, the end-to-end module alone would outlast everything
# else by minutes. Seconds in `.ci/run` at eb0f440: e2e 621, faults 313, cluster 289, interrupt 125,
# models 97, zoo 69, store 59, bad_input 43, tracking 26, run_status 20; the rest 20 or less.
LONGEST_FIRST = ("test_e2e", "test_faults", "test_cluster", "test_interrupt", "test_models", "test_zoo", "test_store",
                 "test_bad_input", "test_tracking", "test_run_status")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        module = item.module.__name__.rsplit(".", 1)[-1]
        return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: within a module, the order it is written in
