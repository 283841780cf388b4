"""The evaluation classifier: one per labelled image dataset, trained once by
its own DVC stage. Its penultimate features define the Fréchet distance of
generated images, and its predictions the class histogram of samples."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.data.datasets import DataError, Dataset
from pipeline.files.atomic import atomic_file

EVALNET_DIR = Path("evalnets")


class Classifier(nn.Module):
    def __init__(self, in_features: int, hidden: int, classes: int):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_features, hidden), nn.ReLU(),
                                  nn.Linear(hidden, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, classes)
        self.num_features = hidden
        self.config = {"in_features": in_features, "hidden": hidden, "classes": classes}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def accuracy(net: Classifier, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((net(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def train_classifier(ds: Dataset, spec) -> tuple[Classifier, dict]:
    """Train on the train split (spec: config.EvalNet); report held-out accuracy."""
    torch.manual_seed(spec.seed)
    gen = torch.Generator().manual_seed(spec.seed)
    x, y = torch.from_numpy(ds.x["train"]), torch.from_numpy(ds.y["train"])
    net = Classifier(int(np.prod(ds.shape)), spec.hidden, int(y.max()) + 1)
    opt = torch.optim.Adam(net.parameters(), lr=spec.lr)
    for _ in range(spec.steps):
        idx = torch.randint(0, len(x), (spec.batch_size,), generator=gen)
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    summary = {"dataset": ds.name, "data_version": ds.meta.get("version"), "val_accuracy": accuracy(net, ds.x["val"], ds.y["val"]),
               "test_accuracy": accuracy(net, ds.x["test"], ds.y["test"]), "steps": spec.steps}
    return net, summary


def save(net: Classifier, summary: dict, name: str, folder: Path = EVALNET_DIR) -> Path:
    """Through memory, not a temporary file: torch.save names the archive's records after the
    file it writes, and a random temporary name made the bytes (and DVC's hash) differ on every
    run with equal weights."""
    target = Path(folder) / f"{name}.pt"
    buffer = io.BytesIO()
    torch.save({"state": net.state_dict(), "config": net.config, "summary": summary}, buffer)
    with atomic_file(target) as tmp:
        tmp.write_bytes(buffer.getvalue())
    with atomic_file(target.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(summary, indent=2))
    return target


def load_state(name: str, folder: Path = EVALNET_DIR) -> dict | None:
    """The saved classifier of dataset `name` as a plain dict (ships to Ray workers), or None."""
    path = Path(folder) / f"{name}.pt"
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise DataError(f"{path}: cannot be read ({type(err).__name__}); run `dvc repro evalnet` "
                        "(or `pm2gan evalnet`) to write it again") from None


def from_state(state: dict, device: torch.device | str = "cpu") -> Classifier:
    net = Classifier(**state["config"])
    net.load_state_dict(state["state"])
    return net.to(device).eval()
