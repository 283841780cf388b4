"""Held-out evaluation of a trained family: every metric of the registry that applies to the
dataset, computed when the family can provide what it needs and reported as None ("not
applicable") when it cannot, never as a zero. Sample metrics are computed once per sampler
the family declares, and keyed by it."""
from __future__ import annotations

import contextlib
import functools
import io
import json
import random
import zlib
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from models import Family
from pipeline.data.datasets import Dataset, as_tensor
from pipeline.evaluation import metrics
from pipeline.evaluation.plateau import Rule, all_plateaued
from pipeline.evaluation.samplers import SAMPLERS
from pipeline.training.fit import PACKAGE_ROOT, Trained, family_sources, seed_everything, source_digest

SPLIT_PREFIX = {"test": "eval", "val": "val"}
# Every file whose code an evaluation depends on: this module and what it imports (the trained
# weights' format, the metrics, the samplers, the data), the evaluation classifier's net
# (pipeline/evaluation/evalnet.py) and the family's own code (fit.family_sources, as for training).
# tests/test_store.py checks the list against the imports.
EVALUATION_SOURCES = ("pipeline/training/fit.py", "models/__init__.py", "pipeline/evaluation/evaluate.py",
                      "pipeline/evaluation/metrics.py", "pipeline/evaluation/plateau.py",
                      "pipeline/evaluation/samplers.py", "pipeline/data/datasets.py", "pipeline/files/atomic.py", "pipeline/evaluation/evalnet.py")


def evaluation_code_version(name: str, root: Path = PACKAGE_ROOT) -> str:
    """Family `name`'s evaluation code version: equal versions score equal trained models alike."""
    return source_digest(EVALUATION_SOURCES + family_sources(name, root), root)


TRAIN_CODES = 10_000  # training examples encoded as the probes' reference
CODE_POINTS = 2500  # examples whose codes the code metrics read: the k-NN and energy-distance
# estimates cost N^2 memory, and the toys' test split holds 20,000 (splits are shuffled, so
# the first CODE_POINTS are a uniform subsample)


class Probe:
    """What the metrics read on one split, each piece computed at most once, on first use."""

    def __init__(self, model: Family, ds: Dataset, split: str, classifier, seed: int):
        self.model, self.ds, self.split, self.classifier, self.seed = model, ds, split, classifier, seed
        self.labels = ds.y[split] if ds.y is not None else None

    def rng(self, purpose: str) -> torch.Generator:
        """A random stream of its own for each use (the prior draws, each sampler, ...): adding a
        metric never changes the draws another one sees."""
        return torch.Generator(device=self.model.device).manual_seed(self.seed * 1_000_003 + zlib.crc32(purpose.encode()))

    @property
    def gen(self) -> torch.Generator:
        """A fresh stream for a metric that draws (InfoGAN's continuous-code check)."""
        return self.rng("metric")

    def can(self, capability: str) -> bool:
        return capability in self.model.capabilities

    @functools.cached_property
    def x(self) -> torch.Tensor:
        return as_tensor(self.ds.x[self.split], self.model.device)

    @functools.cached_property
    def val_x(self) -> torch.Tensor:
        """The validation images: the Parzen window chooses its width on them, never on the test split."""
        return as_tensor(self.ds.x["val"], self.model.device)

    @functools.cached_property
    def codes(self) -> np.ndarray:
        """Deterministic encodings (posterior means) of CODE_POINTS examples, for the dead-unit count."""
        return self.model.encode(self.x[:CODE_POINTS]).cpu().double().numpy()

    @functools.cached_property
    def code_samples(self) -> np.ndarray:
        """Draws of the aggregate posterior (= the encodings for deterministic encoders)."""
        return self.model.code_sample(self.x[:CODE_POINTS], self.rng("code_samples")).cpu().double().numpy()

    @functools.cached_property
    def dead(self) -> np.ndarray:
        return metrics.dead_units(self.codes, self.model.code_scale)

    @functools.cached_property
    def prior(self) -> torch.Tensor | None:
        draws = self.model.prior_sample(len(self.code_samples), self.rng("prior"))
        return None if draws is None else draws.cpu().double()

    @functools.cached_property
    def factors(self) -> np.ndarray:
        """The known generating factors of the examples whose codes the metrics read."""
        return self.ds.factors[self.split][:CODE_POINTS]

    @functools.cached_property
    def train_codes(self) -> np.ndarray:
        """Codes of (up to TRAIN_CODES) training examples: the reference of the probes."""
        return self.model.encode(as_tensor(self.ds.x["train"][:TRAIN_CODES], self.model.device)).cpu().double().numpy()

    @functools.cached_property
    def features(self) -> np.ndarray:
        """The encoder's penultimate-layer activations of the examples whose codes the metrics read."""
        return self.model.encoder_features(self.x[:CODE_POINTS]).cpu().double().numpy()

    @functools.cached_property
    def train_features(self) -> np.ndarray:
        """The same for the training examples of the probes' reference."""
        x = as_tensor(self.ds.x["train"][:TRAIN_CODES], self.model.device)
        return self.model.encoder_features(x).cpu().double().numpy()

    @property
    def train_labels(self) -> np.ndarray:
        return self.ds.y["train"][:TRAIN_CODES]

    def pattern_criteria(self) -> dict[str, float]:
        """The 1992 criteria on the ensemble's distinct patterns, each with its probability."""
        patterns = torch.tensor(self.ds.meta["patterns"], dtype=torch.float32, device=self.model.device)
        return metrics.factorial_code_criteria(self.model.encode(patterns).cpu().double().numpy(),
                                               np.array(self.ds.meta["probs"]))

    def recon_mse(self) -> float:
        return (self.model.reconstruct(self.x) - self.x).pow(2).flatten(1).sum(1).mean().item()


def metric_keys(model: Family, ds: Dataset, has_classifier: bool, split: str = "test") -> list[str]:
    """Every key a trial of `model` on `ds` reports (each with a value or None)."""
    probe = Probe(model, ds, split, object() if has_classifier else None, 0)
    prefix = SPLIT_PREFIX[split]
    keys = []
    for group in metrics.METRICS:
        if group.applies(probe) and split in group.splits:
            for name in group.names:
                keys += ([f"{prefix}/{s}/{name}" for s in model.samplers] if group.on_samples else [f"{prefix}/{name}"])
    return keys


@torch.no_grad()
def evaluate(model: Family, ds: Dataset, n_samples: int, seed: int, classifier=None,
             split: str = "test") -> tuple[dict[str, float | None], dict[str, np.ndarray]]:
    """The metrics on `split` and the samples each sampler drew (plus InfoGAN's latent traversal
    on the test split)."""
    was_training = model.training
    model.eval()
    probe = Probe(model, ds, split, classifier, seed)
    prefix = SPLIT_PREFIX[split]
    groups = [g for g in metrics.METRICS if g.applies(probe) and split in g.splits]
    out: dict[str, float | None] = {}
    samples: dict[str, np.ndarray] = {}
    if any(g.on_samples for g in groups):
        x_train = as_tensor(ds.x["train"], model.device)
        for sampler in model.samplers:
            samples[sampler] = SAMPLERS[sampler](model, n_samples, probe.rng(f"sampler/{sampler}"), x_train).cpu().numpy()
    extras = {}
    if split == "test" and probe.can("infer_code") and ds.kind == "image":
        extras["traversal"] = model.traversal(gen=probe.rng("traversal")).cpu().numpy()  # a figure, not a sampler
    for group in groups:
        if not group.on_samples:
            values = group.compute(probe) if group.available(probe) else dict.fromkeys(group.names)
            out.update({f"{prefix}/{k}": v for k, v in values.items()})
            continue
        for sampler, drawn in samples.items():
            values = group.compute(probe, drawn) if group.available(probe) else dict.fromkeys(group.names)
            out.update({f"{prefix}/{sampler}/{k}": v for k, v in values.items()})
    model.train(was_training)
    return out, {**samples, **extras}


# --------------------------------------------------------------------------- a trained trial, evaluated

PROGRESS = tuple(name for group in metrics.METRICS for name in group.progress)


def progress_curves(curves: dict[str, list[tuple[int, float]]]) -> dict[str, list[tuple[int, float]]]:
    """What a trial's own curves figure draws: the players' losses and the progress metrics on
    validation data. The other validation curves are drawn per study, where its verdict reads them
    (pipeline/studies/trajectory.py)."""
    return {k: v for k, v in curves.items() if k.startswith("loss/") or (k.startswith("val/") and k.rsplit("/", 1)[-1] in PROGRESS)}


def improving(curves: dict[str, list[tuple[int, float]]]) -> list[str]:
    """The validation curves that were still improving at the last evaluation."""
    groups = {name: g for g in metrics.METRICS for name in g.progress}
    out = []
    for key, curve in curves.items():
        name = key.rsplit("/", 1)[-1]
        if key.startswith("val/") and name in groups and metrics.still_improving(
                curve, groups[name].better[name], groups[name].change[name]):
            out.append(key)
    return sorted(out)


@dataclass
class Assessment:
    """What evaluation makes of a trained trial: the final `metrics` (test and validation
    splits, None where a metric does not apply), the validation `curves` of every metric over
    training (at each snapshot, then at the end), the progress curves still `improving`, and the
    `samples` drawn."""

    metrics: dict[str, float | None]
    curves: dict[str, list[tuple[int, float]]]
    improving: list[str]
    samples: dict[str, np.ndarray]

    def to_bytes(self) -> bytes:
        """One .npz: the samples as arrays, the rest as JSON (NaN kept as NaN: None means 'not applicable')."""
        buffer = io.BytesIO()
        meta = json.dumps({k: v for k, v in asdict(self).items() if k != "samples"})
        np.savez(buffer, __meta__=np.array(meta), **{f"samples/{k}": v for k, v in self.samples.items()})
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> Assessment:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            meta = json.loads(str(npz["__meta__"]))
            samples = {k.removeprefix("samples/"): npz[k] for k in npz.files if k.startswith("samples/")}
        curves = {k: [tuple(p) for p in v] for k, v in meta["curves"].items()}
        return cls(metrics=meta["metrics"], curves=curves, improving=meta["improving"], samples=samples)


def validation(model: Family, ds: Dataset, n_samples: int, seed: int, classifier=None) -> dict[str, float | None]:
    """Every metric on the validation split, from freshly seeded global streams: the same weights
    score the same numbers wherever this is called, inside training (`Judge`) or after it (`assess`)."""
    seed_everything(seed)
    return evaluate(model, ds, n_samples, seed, classifier, split="val")[0]


@contextlib.contextmanager
def streams_kept(device: torch.device):
    """Every global random stream as it was, whatever the block draws: a judge inside the training
    loop must not shift the batches or the noise that training draws next."""
    state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
        yield
    random.setstate(state[0])
    np.random.set_state(state[1])


class Judge:
    """fit.Judge: the patience rule (pipeline/evaluation/plateau.py) on every validation metric,
    scored at each evaluation point exactly as `assess` scores the snapshot kept there."""

    def __init__(self, ds: Dataset, n_samples: int, seed: int, classifier, rule: Rule):
        self.ds, self.n_samples, self.seed, self.classifier, self.rule = ds, n_samples, seed, classifier, rule
        self.curves: dict[str, list[tuple[int, float]]] = {}

    def __call__(self, step: int, model: Family) -> bool:
        with streams_kept(model.device):
            values = validation(model, self.ds, self.n_samples, self.seed, self.classifier)
        for k, v in values.items():
            if v is not None:
                self.curves.setdefault(k, []).append((step, v))
        return step >= self.rule.earliest and all_plateaued(self.curves, self.rule)


def _scored_at(curves: dict[str, list[tuple[int, float]]], step: int) -> dict[str, float]:
    """Every value the curves hold at `step` (empty where that step was not scored)."""
    return {k: v for k, points in curves.items() for s, v in points if s == step}


def assess(trained: Trained, ds: Dataset, n_samples: int, seed: int, classifier=None,
           scored: dict[str, list[tuple[int, float]]] | None = None) -> Assessment:
    """Evaluate a trained trial: its snapshots on the validation split (every metric), then the
    final model on both splits. A function of the trained weights, the data and this
    code alone: the global random streams are reset before each evaluation, so a trial reused
    from the store scores exactly what it scored straight after training, and a snapshot what
    the judge scored at its step. `scored`: the validation curves this very code already scored
    on these weights during training (the `Judge`'s, in the same process); a snapshot step found
    there is read from it instead of evaluated a second time."""
    seed_everything(seed)
    model = trained.model
    if trained.outcome != "completed":
        keys = metric_keys(model, ds, classifier is not None) + metric_keys(model, ds, classifier is not None, split="val")
        return Assessment(metrics={**dict.fromkeys(keys), "diverged_at_step": float(trained.steps)}, curves={},
                          improving=[], samples={})
    curves: dict[str, list[tuple[int, float]]] = defaultdict(list)
    if trained.snapshots:  # every validation metric at every snapshot: the verdicts' trajectories read them
        final_state = {k: v.clone() for k, v in model.state_dict().items()}
        for step, weights in sorted(trained.snapshots.items()):
            values = _scored_at(scored or {}, step)
            if not values:
                model.load_state_dict(weights)
                values = validation(model, ds, n_samples, seed, classifier)
            for k, v in values.items():
                if v is not None:
                    curves[k].append((step, v))
        model.load_state_dict(final_state)
    seed_everything(seed)
    values, samples = evaluate(model, ds, n_samples, seed, classifier)
    val = validation(model, ds, n_samples, seed, classifier)
    values.update(val)
    for k, v in val.items():  # the curves end where training ended (a trial without snapshots has none)
        if k in curves and v is not None:
            curves[k].append((trained.steps, v))
    still = improving(curves)
    values["eval/still_improving"] = float(bool(still))
    for name, (curve, _, _) in metrics.CURVE_METRICS.items():
        if curve in trained.curves:
            values[f"eval/{name}"] = metrics.early_mean(trained.curves[curve], trained.config["train"]["steps"])
    return Assessment(metrics=values, curves=dict(curves), improving=still, samples=samples)
