"""The one entry point: `train(cfg) -> result`.

The Ray Tune trainable, the CLI, the benchmarks and the tests all call this.
It knows nothing of Tune or MLflow: progress, checkpoints and the final
result leave through `Hooks`, which the sweep fills with Tune and MLflow.
"""
from __future__ import annotations

import math
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from models import DataSpec, Family, family

from . import evaluate as evaluation
from .data import Dataset, as_tensor
from .evalnet import from_state
from .results import TrialResult
from .trials import TrialConfig

CHECKPOINT_FILE = "checkpoint.pt"


class Hooks(Protocol):
    """How a trial's progress leaves `train`. The checkpoint's folder is a temporary one that
    the hook may add files to; it is removed when the hook returns."""

    def log(self, step: int, values: dict[str, float]) -> None:
        """Every `log_every` steps: losses and perf of the last step."""

    def checkpoint(self, step: int, checkpoint: Path) -> None:
        """An intermediate checkpoint (every `checkpoint_every` steps)."""

    def finish(self, result: TrialResult, checkpoint: Path) -> None:
        """The trial is done: its result (samples included) and final checkpoint."""


class NoHooks:
    def log(self, step, values):
        pass

    def checkpoint(self, step, checkpoint):
        pass

    def finish(self, result, checkpoint):
        pass


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(requested: str) -> torch.device:
    """'auto' takes the GPU when this process sees one (Ray hides GPUs a trial did not get)."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but no CUDA device is visible to this trial")
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def build_model(cfg: TrialConfig, ds: Dataset, device: torch.device) -> Family:
    return _build(cfg, ds.shape, ds.bounded, device)


def _build(cfg: TrialConfig, shape: tuple[int, ...], bounded: bool, device: torch.device) -> Family:
    cls = family(cfg.model)
    spec = DataSpec(shape=tuple(shape), code_dim=cfg.code_dim, bounded=bounded)
    return cls(spec, cfg.nets, cls.Hyper(**cfg.hparams)).to(device)


def save_checkpoint(path: Path, model: Family, cfg: TrialConfig, step: int, gen: torch.Generator, curves: dict) -> None:
    """The resolved config travels inside the checkpoint, so it can be understood alone."""
    # Both random streams go in: the batch order (gen) and the global one the players draw
    # their noise from, so a resumed trial continues exactly as if never interrupted.
    torch.save({"config": cfg.to_dict(), "step": step, "state": model.checkpoint_state(),
                "data": {"shape": list(model.spec.shape), "bounded": model.spec.bounded},  # rebuilt without the data
                "batch_rng": gen.get_state(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "curves": dict(curves)}, path)


def load_checkpoint(path: Path, ds: Dataset | None = None, device: torch.device | str = "cpu") -> tuple[Family, dict]:
    """A model rebuilt from a checkpoint alone (its config and its data's shape are inside; `ds`
    for checkpoints written before the shape was), and the raw checkpoint."""
    ckpt = torch.load(path, map_location=device, weights_only=True)  # no pickled code from shared storage
    cfg = TrialConfig.from_dict(ckpt["config"])
    if ds is None and "data" not in ckpt:
        raise ValueError(f"{path}: a checkpoint without its data's shape: pass the dataset it was trained on")
    shape, bounded = (ds.shape, ds.bounded) if ds is not None else (ckpt["data"]["shape"], ckpt["data"]["bounded"])
    model = _build(cfg, shape, bounded, torch.device(device))
    model.load_checkpoint_state(ckpt["state"])
    return model, ckpt


def load_from_mlflow(run_id: str, tracking_uri: str | None = None, device: str = "cpu") -> Family:
    """The trained model of a trial's MLflow run, in one call: `load_from_mlflow("<run id>")`.
    The run's `checkpoint/` artifact is downloaded (MLflow's own download) and rebuilt with
    weights only: a checkpoint is data, never code."""
    import mlflow.artifacts

    folder = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="checkpoint",
                                                 tracking_uri=tracking_uri)  # None: MLFLOW_TRACKING_URI
    return load_checkpoint(Path(folder) / CHECKPOINT_FILE, device=device)[0]


def _finite(values: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in values.values())


PROGRESS = tuple(name for group in evaluation.metrics.METRICS for name in group.progress)


def _progress(model: Family, ds: Dataset, cfg: TrialConfig, classifier) -> dict[str, float]:
    """The progress metrics on the validation split (fixed draws: the same noise each time)."""
    values, _ = evaluation.evaluate(model, ds, cfg.train.eval_samples, cfg.seed, classifier, split="val", only=PROGRESS)
    return {k: v for k, v in values.items() if v is not None and k.rsplit("/", 1)[-1] in PROGRESS}


def improving(curves: dict[str, list[tuple[int, float]]]) -> list[str]:
    """The validation curves that were still improving at the last evaluation."""
    groups = {name: g for g in evaluation.metrics.METRICS for name in g.progress}
    out = []
    for key, curve in curves.items():
        name = key.rsplit("/", 1)[-1]
        if key.startswith("val/") and name in groups and evaluation.metrics.still_improving(
                curve, groups[name].better[name], groups[name].change[name]):
            out.append(key)
    return sorted(out)


def train(cfg: TrialConfig, ds: Dataset, classifier_state: dict | None = None, hooks: Hooks | None = None,
          resume_from: Path | None = None, provenance: dict[str, Any] | None = None) -> TrialResult:
    """Train one trial, evaluate it on the test split, return its result: the config,
    `outcome` ('completed' or 'diverged'), the final `metrics` (None where a metric does
    not apply), `curves`, `provenance` and the samples drawn."""
    hooks = hooks or NoHooks()
    seed_everything(cfg.seed)
    torch.set_num_threads(max(1, int(cfg.cpus)))
    device = resolve_device(cfg.device)
    model = build_model(cfg, ds, device)
    budget = cfg.train

    x_train = as_tensor(ds.x["train"], device)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
    first_step = 1
    if resume_from is not None:  # go on from a checkpoint of this same trial (an interrupted sweep)
        ckpt = torch.load(resume_from, map_location=device, weights_only=True)
        model.load_checkpoint_state(ckpt["state"])
        gen.set_state(ckpt["batch_rng"].cpu())
        torch.set_rng_state(ckpt["torch_rng"].cpu())
        if ckpt["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in ckpt["cuda_rng"]])
        curves.update({k: [tuple(p) for p in v] for k, v in ckpt["curves"].items()})
        first_step = ckpt["step"] + 1

    classifier = from_state(classifier_state, device) if classifier_state else None
    outcome, step, eval_seconds = "completed", first_step - 1, 0.0
    start = time.perf_counter()
    for step in range(first_step, budget.steps + 1):
        idx = torch.randint(0, len(x_train), (budget.batch_size,), generator=gen, device=device)
        losses = model.train_step(x_train[idx])
        if step % budget.log_every == 0 or step == budget.steps:
            values = {k: v.item() for k, v in losses.items()}  # the only host sync of the loop
            if not _finite(values):
                outcome = "diverged"
                hooks.log(step, {**{k: v for k, v in values.items() if math.isfinite(v)}, "diverged": 1.0})
                break
            for k, v in values.items():
                curves[k].append((step, v))
            hooks.log(step, {**values, "perf/steps_per_s":
                             (step - first_step + 1) / (time.perf_counter() - start - eval_seconds)})
        if budget.eval_every and step % budget.eval_every == 0 and step < budget.steps:
            tick = time.perf_counter()
            progress = _progress(model, ds, cfg, classifier)
            for k, v in progress.items():
                curves[k].append((step, v))
            hooks.log(step, progress)
            eval_seconds += time.perf_counter() - tick
        if budget.checkpoint_every and step % budget.checkpoint_every == 0 and step < budget.steps:
            with tempfile.TemporaryDirectory() as folder:
                save_checkpoint(Path(folder) / CHECKPOINT_FILE, model, cfg, step, gen, curves)
                hooks.checkpoint(step, Path(folder) / CHECKPOINT_FILE)
    elapsed = time.perf_counter() - start - eval_seconds
    steps_done = step - first_step + 1

    samples: dict = {}
    if outcome == "completed":
        metrics, samples = evaluation.evaluate(model, ds, budget.eval_samples, cfg.seed, classifier)
        val, _ = evaluation.evaluate(model, ds, budget.eval_samples, cfg.seed, classifier, split="val")
        metrics.update(val)
        for k, v in val.items():  # the curves end where training ended
            if k in curves and v is not None:
                curves[k].append((step, v))
        still = improving(curves)
        metrics["eval/still_improving"] = float(bool(still))
        for name, (curve, _, _) in evaluation.metrics.CURVE_METRICS.items():
            if curve in curves:
                metrics[f"eval/{name}"] = evaluation.metrics.early_mean(curves[curve], budget.steps)
    else:
        still = []
        metrics = dict.fromkeys(evaluation.metric_keys(model, ds, classifier is not None) +
                                evaluation.metric_keys(model, ds, classifier is not None, split="val"))
        metrics["diverged_at_step"] = float(step)
    metrics["perf/steps_per_s"] = steps_done / elapsed if elapsed > 0 else None
    metrics["model/parameters"] = float(model.parameter_count())
    result = TrialResult(trial=cfg, outcome=outcome, steps=step, metrics=metrics, curves=dict(curves),
                         improving=still, provenance=provenance or {}, samples=samples)

    with tempfile.TemporaryDirectory() as folder:
        save_checkpoint(Path(folder) / CHECKPOINT_FILE, model, cfg, step, gen, curves)
        hooks.finish(result, Path(folder) / CHECKPOINT_FILE)
    return result
