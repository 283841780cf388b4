"""Training, and nothing else: `fit(cfg, ds) -> Trained`.

A trained trial is a function of its resolved training config, its data and the code in this
file and in `models/`, and of nothing else: this module imports nothing from the rest of
`pipeline` (tests/test_store.py holds it to that), so `training_code_version()` can name
the training code by hashing exactly those files. Editing a metric, a sampler, a figure or a
verdict leaves every trained trial valid (pipeline/trial/store.py keeps them); evaluation reads the
saved weights (pipeline/evaluation/evaluate.py).

Where a trial is evaluated during training, the weights at that step are kept as a snapshot
instead: evaluating them later gives the very numbers an evaluation inside the loop would,
without tying training to the evaluation code. The one question training asks at those steps is
whether to stop (a `Judge`, handed in by the caller: the patience rule on validation data,
pipeline/evaluation/evaluate.py); its answers are recorded with the trial, and a trial reused
from the store is asked again (pipeline/trial/train.py), so a stop the current code would not
make is never read.
"""
from __future__ import annotations

import ast
import hashlib
import math
import random
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from models import DataSpec, Family, NetConfig, family

CHECKPOINT_FILE = "checkpoint.pt"
PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
# The training code shared by every family: this loop and the zoo's package file. Each family adds
# its own module and the models/ modules that module imports (`family_sources`).
TRAINING_SOURCES = ("pipeline/training/fit.py", "models/__init__.py")
# models/registry.py maps names to classes and so imports every family; what it means for a trial
# is which class its name maps to, and that class's module is read itself. Reading the registry
# would make adding a family retrain every other one.
REGISTRY = "models/registry.py"


def source_digest(sources: tuple[str, ...], root: Path = PACKAGE_ROOT) -> str:
    """A digest of the Python source of `sources` (files, or folders read whole) under `root`:
    of what the files say, not of where they lie. Each file's text is hashed and the sorted
    hashes make the version, so moving a module into another package changes no key (a move
    that matters changes the text of the modules that import it). Read from the files
    themselves, not from git, so it holds in a Ray job's uploaded working tree too."""
    files = [file for source in sources
             for file in (sorted((root / source).rglob("*.py")) if (root / source).is_dir() else [root / source])]
    texts = sorted(hashlib.sha256(file.read_bytes()).hexdigest() for file in files)
    return hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]


def _models_imports(file: Path) -> set[str]:
    """The models/ modules that `file` (a module of models/) imports, at any level of the file."""
    found = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:  # from .base import X
                found.add(node.module.split(".")[0])
            else:  # from . import losses, nets
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("models."):
            found.add(node.module.split(".")[1])
    return found


def family_sources(name: str, root: Path = PACKAGE_ROOT) -> tuple[str, ...]:
    """The files of models/ that family `name` trains with: the module of its class and every
    models/ module that module imports, however indirectly (read from the import statements)."""
    module = family(name).__module__.split(".")[-1]
    found, todo = {module}, [module]
    while todo:
        for imported in _models_imports(root / "models" / f"{todo.pop()}.py"):
            if imported not in found and (root / "models" / f"{imported}.py").exists():
                found.add(imported)
                todo.append(imported)
    return tuple(sorted(f"models/{m}.py" for m in found))


def training_code_version(name: str, root: Path = PACKAGE_ROOT) -> str:
    """Family `name`'s training code version: equal versions train equal models from equal
    configs and data. An edit to one family's module retrains that family only; an edit to the
    loop or to a shared module (nets, losses, base, priors) retrains every family that uses it."""
    return source_digest(TRAINING_SOURCES + family_sources(name, root), root)


class TrialConfig(Protocol):
    """What training reads of a trial's config (pipeline/trials.TrialConfig): named here, not
    imported, so the settings layer stays out of the training code and its version."""

    model: str
    dataset: str
    seed: int
    code_dim: int
    hparams: dict[str, Any]
    train: Any  # pipeline/config.TrainBudget: steps, batch_size, log_every, checkpoint_every, eval_every
    nets: NetConfig
    device: str
    cpus: float

    def to_dict(self) -> dict[str, Any]: ...


class Hooks(Protocol):
    """How a trial's progress leaves training. The checkpoint's folder is a temporary one that
    the hook may add files to; it is removed when the hook returns."""

    def log(self, step: int, values: dict[str, float]) -> None:
        """Every `log_every` steps: losses and perf of the last step."""

    def checkpoint(self, step: int, checkpoint: Path) -> None:
        """An intermediate checkpoint (every `checkpoint_every` steps)."""

    def finish(self, result, checkpoint: Path) -> None:
        """The trial is done: its result (samples included) and final checkpoint."""


class Judge(Protocol):
    """Asked at each evaluation point whether training has settled. It must leave the model's
    weights and every random stream as it found them: a trial it never stops trains exactly as
    one without it. `curves` is what it has read so far; it travels in checkpoints, so a resumed
    trial's judge goes on from it."""

    curves: dict[str, list[tuple[int, float]]]

    def __call__(self, step: int, model: Family) -> bool: ...


class NoHooks:
    def log(self, step, values):
        pass

    def checkpoint(self, step, checkpoint):
        pass

    def finish(self, result, checkpoint):
        pass


@dataclass
class Trained:
    """A trained trial: the final model, its loss curves, and the weights at each evaluation
    point (`snapshots`, step -> state dict), which evaluation reads to draw the validation
    curves. `steps_per_s` is the training's own pace (a model reused from the store keeps it)."""

    model: Family
    config: dict[str, Any]
    outcome: str  # 'completed' or 'diverged'
    steps: int  # the last step trained
    curves: dict[str, list[tuple[int, float]]]
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)
    steps_per_s: float | None = None
    plateaued: bool = False  # its judge stopped it before its budget's last step


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


def as_tensor(array: np.ndarray, device) -> torch.Tensor:
    """A torch tensor on `device`. Arrays from Ray's object store are read-only: those are
    copied rather than shared with torch, which may write to its tensors."""
    return torch.from_numpy(array if array.flags.writeable else array.copy()).to(device)


def build(cfg: TrialConfig, shape: tuple[int, ...], bounded: bool, device: torch.device) -> Family:
    return _build(cfg.model, cfg.code_dim, cfg.hparams, cfg.nets, shape, bounded, device)


def _build(model: str, code_dim: int, hparams: dict[str, Any], nets: NetConfig, shape: tuple[int, ...], bounded: bool,
           device: torch.device) -> Family:
    cls = family(model)
    return cls(DataSpec(shape=tuple(shape), code_dim=code_dim, bounded=bounded), nets, cls.Hyper(**hparams)).to(device)


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def save_checkpoint(path: Path, model: Family, config: dict[str, Any], step: int, curves: dict,
                    snapshots: dict[int, dict] | None = None, gen: torch.Generator | None = None,
                    outcome: str | None = None, steps_per_s: float | None = None, plateaued: bool = False,
                    judged: dict | None = None) -> None:
    """The resolved config travels inside the checkpoint, so it can be understood alone. An
    intermediate checkpoint holds both random streams, the batch order (`gen`) and the global
    one the players draw their noise from, so a resumed trial continues exactly as if never
    interrupted; a final one (`outcome` set) is the whole trained trial: what the store keeps."""
    torch.save({"config": config, "step": step, "state": model.checkpoint_state(),
                "data": {"shape": list(model.spec.shape), "bounded": model.spec.bounded},  # rebuilt without the data
                "batch_rng": gen.get_state() if gen is not None else None,
                "torch_rng": torch.get_rng_state() if gen is not None else None,
                "cuda_rng": torch.cuda.get_rng_state_all() if gen is not None and torch.cuda.is_available() else None,
                "curves": dict(curves), "snapshots": dict(snapshots or {}),
                "outcome": outcome, "steps_per_s": steps_per_s, "plateaued": plateaued, "judged": dict(judged or {})},
               path)


def save_trained(path: Path, trained: Trained) -> None:
    save_checkpoint(path, trained.model, trained.config, trained.steps, trained.curves, trained.snapshots,
                    outcome=trained.outcome, steps_per_s=trained.steps_per_s, plateaued=trained.plateaued)


def is_trained(checkpoint: dict[str, Any]) -> bool:
    """A final checkpoint (a trained trial), not one taken mid-training."""
    return checkpoint.get("outcome") is not None


def load_trained(path: Path, device: torch.device | str = "cpu") -> Trained:
    """A trained trial from its final checkpoint (weights only: a checkpoint is data, never code)."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    if not is_trained(ckpt):
        raise ValueError(f"{path}: a checkpoint taken mid-training, not a trained trial")
    cfg = ckpt["config"]
    model = _build(cfg["model"], cfg["code_dim"], cfg["hparams"], NetConfig(**cfg["nets"]), ckpt["data"]["shape"],
                   ckpt["data"]["bounded"], torch.device(device))
    model.load_checkpoint_state(ckpt["state"])
    return Trained(model=model, config=cfg, outcome=ckpt["outcome"], steps=ckpt["step"],
                   curves={k: [tuple(p) for p in v] for k, v in ckpt["curves"].items()},
                   snapshots={int(s): w for s, w in ckpt["snapshots"].items()}, steps_per_s=ckpt["steps_per_s"],
                   plateaued=bool(ckpt.get("plateaued", False)))


def _finite(values: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in values.values())


def fit(cfg: TrialConfig, ds, hooks: Hooks | None = None, resume_from: Path | None = None,
        judge: Judge | None = None) -> Trained:
    """Train one trial on `ds.x['train']` (a pipeline.data.datasets.Dataset, or anything with its
    `x`, `shape` and `bounded`). A loss that turns NaN or inf ends it as 'diverged'; with a
    `judge`, training ends early ('completed', `plateaued`) at the first evaluation point where it
    says so, and the model at that step is the trained one."""
    hooks = hooks or NoHooks()
    seed_everything(cfg.seed)
    torch.set_num_threads(max(1, int(cfg.cpus)))
    device = resolve_device(cfg.device)
    model = build(cfg, ds.shape, ds.bounded, device)
    budget = cfg.train
    model.plan(budget.steps)

    x_train = as_tensor(ds.x["train"], device)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
    snapshots: dict[int, dict[str, torch.Tensor]] = {}
    first_step = 1
    if resume_from is not None:  # go on from a checkpoint of this same trial (an interrupted sweep)
        ckpt = torch.load(resume_from, map_location=device, weights_only=True)
        model.load_checkpoint_state(ckpt["state"])
        gen.set_state(ckpt["batch_rng"].cpu())
        torch.set_rng_state(ckpt["torch_rng"].cpu())
        if ckpt["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in ckpt["cuda_rng"]])
        curves.update({k: [tuple(p) for p in v] for k, v in ckpt["curves"].items()})
        snapshots.update({int(s): w for s, w in ckpt.get("snapshots", {}).items()})
        if judge is not None:
            judge.curves = {k: [tuple(p) for p in v] for k, v in ckpt.get("judged", {}).items()}
        first_step = ckpt["step"] + 1

    outcome, step, plateaued = "completed", first_step - 1, False
    start, judging = time.perf_counter(), 0.0  # the judge's seconds are not training's (steps_per_s)
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
            hooks.log(step, {**values, "perf/steps_per_s": (step - first_step + 1) / (time.perf_counter() - start - judging)})
        if budget.eval_every and step % budget.eval_every == 0 and step < budget.steps:
            if judge is not None:
                asked = time.perf_counter()
                plateaued = judge(step, model)
                judging += time.perf_counter() - asked
                if plateaued:  # these weights are the trained model: the final evaluation scores them
                    break
            snapshots[step] = _cpu(model.state_dict())  # evaluated on validation data later
        if budget.checkpoint_every and step % budget.checkpoint_every == 0 and step < budget.steps:
            with tempfile.TemporaryDirectory() as folder:
                save_checkpoint(Path(folder) / CHECKPOINT_FILE, model, cfg.to_dict(), step, curves, snapshots, gen,
                                judged=judge.curves if judge is not None else None)
                hooks.checkpoint(step, Path(folder) / CHECKPOINT_FILE)
    elapsed = time.perf_counter() - start - judging
    steps_done = step - first_step + 1
    return Trained(model=model, config=cfg.to_dict(), outcome=outcome, steps=step, curves=dict(curves),
                   snapshots=snapshots, steps_per_s=steps_done / elapsed if elapsed > 0 and steps_done > 0 else None,
                   plateaued=plateaued)
