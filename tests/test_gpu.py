"""The GPU path: skipped where there is no CUDA device (run on a GPU machine)."""
from __future__ import annotations

import pytest
import torch

from models import FAMILIES
from pipeline.train import build_model, resolve_device, train
from tests.conftest import trial

pytestmark = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_auto_device_is_cpu_without_a_gpu():
    if torch.cuda.is_available():
        assert resolve_device("auto").type == "cuda"
    else:
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")


@needs_cuda
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_trains_on_the_gpu(name, datasets):
    ds = datasets["digits"]
    cfg = trial(name, ds, steps=30).model_copy(update={"device": "cuda"})
    model = build_model(cfg, ds, torch.device("cuda"))
    assert all(p.is_cuda for p in model.parameters())
    result = train(cfg, ds)
    assert result.outcome == "completed" and result.metrics["perf/steps_per_s"] > 0
