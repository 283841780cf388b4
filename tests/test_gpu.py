"""The GPU path: skipped where there is no CUDA device (run on a GPU machine)."""
from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest
import torch

from models import FAMILIES
from pipeline.trial.train import build_model, resolve_device, train
from tests.conftest import ROOT, trial

pytestmark = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_auto_device_is_cpu_without_a_gpu():
    """'auto' follows what the process sees. A trial Ray gave no GPU sees none (Ray empties
    CUDA_VISIBLE_DEVICES for it): there 'auto' is the CPU and 'cuda' is refused, GPU machine or not."""
    hidden = subprocess.run(
        [sys.executable, "-c", "from pipeline.training.fit import resolve_device\n"
         "print(resolve_device('auto').type)\n"
         "try:\n    resolve_device('cuda')\nexcept RuntimeError as e:\n    print('refused:', e)"],
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""}, cwd=ROOT, capture_output=True, text=True, check=True)
    assert hidden.stdout.splitlines() == ["cpu", "refused: device 'cuda' requested but no CUDA device is visible to this trial"]
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")  # this process


@needs_cuda
@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_trains_on_the_gpu(name, datasets):
    """On the GPU every family trains and is scored as on the CPU: the same metrics defined, the
    same curve points, every logged loss finite."""
    ds = datasets["digits"]
    on_cpu = train(trial(name, ds, steps=30), ds)
    cfg = trial(name, ds, steps=30).model_copy(update={"device": "cuda"})
    model = build_model(cfg, ds, torch.device("cuda"))
    assert all(p.is_cuda for p in model.parameters())
    result = train(cfg, ds)
    assert result.outcome == "completed"
    defined = lambda r: {k for k, v in r.metrics.items() if v is not None and not k.startswith("perf/")}  # noqa: E731
    assert defined(result) == defined(on_cpu)
    assert {k: [s for s, _ in c] for k, c in result.curves.items()} == {k: [s for s, _ in c] for k, c in on_cpu.curves.items()}
    assert all(math.isfinite(v) for c in result.curves.values() for _, v in c)
