"""The trial store: every trained trial kept once, under the key of exactly what determined it,
and every evaluation of it, under the key of the trained trial and what determined the scoring.

    <store>/trained/<key>/checkpoint.pt      the trained trial (pipeline/training/fit.py: final weights, loss curves, snapshots)
    <store>/trained/<key>/record.json        what the key stands for, and where and when it was trained
    <store>/evaluated/<key>/assessment.npz   its evaluation (pipeline/evaluate.Assessment)
    <store>/evaluated/<key>/record.json

A training key is a digest of the resolved training config (family, hyperparameters, dataset,
seed, budget, nets, device and threads: not the study that asks, nor its row labels, nor what
only evaluation reads), the data's version and the training code's (`fit.training_code_version`).
An evaluation key is a digest of the training key, the evaluation settings (samples drawn, the
evaluation classifier's weights) and the evaluation code's version. Two studies that ask for the
same training get the same keys, so the second reads the first one's model and scores; an edit
to a study, a verdict or a figure changes no key; an edit to a metric changes every evaluation
key and no training key; an edit to `pipeline/training/fit.py`, a new hyperparameter or new data changes
every key it touches, so nothing stale is ever read. The code versions are per family: an edit to
one family's module (or a new family) changes that family's keys only, an edit to a module of
models/ that several import (nets, losses, base, priors) the keys of each of them. Entries are written whole or
not at all (an atomic rename), by the sweep's driver, which collects them from Tune's storage.

Where: PM2GAN_TRIAL_STORE, else `.pm2gan/store` in the working tree. On a cluster the driver
(the head) reads and writes it; workers receive stored entries through Ray's object store, so
it needs no shared file system.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from pipeline.evaluation.evaluate import evaluation_code_version
from pipeline.files.atomic import atomic_folder
from pipeline.settings.trials import TrialConfig
from pipeline.training.fit import CHECKPOINT_FILE, training_code_version

STORE_ENV = "PM2GAN_TRIAL_STORE"
DEFAULT_STORE = Path(".pm2gan") / "store"
RECORD_FILE = "record.json"
ASSESSMENT_FILE = "assessment.npz"
# A trial's labels in a study, which change no training: two studies may name one training differently.
NOT_TRAINING = ("study", "variant", "tuned")
# Budget entries that change no trained weight: the samples evaluation draws, and how often a
# resumable checkpoint is taken (a resumed trial continues exactly as if never interrupted).
NOT_TRAINING_BUDGET = ("eval_samples", "checkpoint_every")


def training_config(cfg: TrialConfig) -> dict[str, Any]:
    """The part of a trial's config that determines its training."""
    out = {k: v for k, v in cfg.to_dict().items() if k not in NOT_TRAINING}
    out["train"] = {k: v for k, v in out["train"].items() if k not in NOT_TRAINING_BUDGET}
    return out


def state_digest(state: dict[str, Any] | None) -> str:
    """A digest of a saved net's state (the evaluation classifier's): its config and weights."""
    if state is None:
        return "none"
    digest = hashlib.sha256(json.dumps(state.get("config"), sort_keys=True).encode())
    for name, tensor in sorted(state["state"].items()):
        digest.update(name.encode() + b"\0" + tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def training_key(cfg: TrialConfig, data_version: str, code_version: str) -> str:
    identity = {"training": training_config(cfg), "data": data_version, "code": code_version}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


def evaluation_key(training: str, eval_samples: int, classifier: str, code_version: str) -> str:
    identity = {"training": training, "eval_samples": eval_samples, "classifier": classifier, "code": code_version}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]


class TrialStore:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root or os.environ.get(STORE_ENV) or DEFAULT_STORE).resolve()
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"{STORE_ENV}: {self.root} is a file; the trial store must be a folder")
        self.trained, self.evaluated = self.root / "trained", self.root / "evaluated"
        # per family, read once: the files do not change under a running study
        self._versions: dict[tuple[str, str], str] = {}

    def code_version(self, family: str, kind: str = "training") -> str:
        """Family `family`'s training or evaluation code version (fit.training_code_version)."""
        if (family, kind) not in self._versions:
            version = training_code_version if kind == "training" else evaluation_code_version
            self._versions[family, kind] = version(family)
        return self._versions[family, kind]

    def key(self, cfg: TrialConfig, data_version: str) -> str:
        return training_key(cfg, data_version, self.code_version(cfg.model))

    def evaluation_key(self, training: str, cfg: TrialConfig, classifier: str) -> str:
        return evaluation_key(training, cfg.train.eval_samples, classifier, self.code_version(cfg.model, "evaluation"))

    def checkpoint(self, key: str) -> Path | None:
        """The stored trained trial under `key`, or None when it was never trained (or only half written)."""
        folder = self.trained / key
        return folder / CHECKPOINT_FILE if (folder / RECORD_FILE).exists() else None

    def assessment(self, key: str) -> Path | None:
        """The stored evaluation under `key`, or None."""
        folder = self.evaluated / key
        return folder / ASSESSMENT_FILE if (folder / RECORD_FILE).exists() else None

    def put_assessment(self, key: str, assessment: Path, record: dict[str, Any], family: str) -> Path:
        record = {"key": key, "evaluation_code_version": self.code_version(family, "evaluation"),
                  "stored_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  **{k if k in ("training_key", "eval_samples") else f"evaluated_by_{k}": v for k, v in record.items()}}
        with atomic_folder(self.evaluated / key) as tmp:
            shutil.copyfile(assessment, tmp / ASSESSMENT_FILE)
            (tmp / RECORD_FILE).write_text(json.dumps(record, indent=1, sort_keys=True))
        return self.evaluated / key

    def put(self, key: str, checkpoint: Path, cfg: TrialConfig, data_version: str, trained_by: dict[str, Any]) -> Path:
        """Keep a trained trial (a copy of its final checkpoint) under `key`, whole or not at all."""
        record = {"key": key, "training": training_config(cfg), "data_version": data_version,
                  "training_code_version": self.code_version(cfg.model), "stored_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                  **{f"trained_by_{k}": v for k, v in trained_by.items()}}
        with atomic_folder(self.trained / key) as tmp:
            shutil.copyfile(checkpoint, tmp / CHECKPOINT_FILE)
            (tmp / RECORD_FILE).write_text(json.dumps(record, indent=1, sort_keys=True))
        return self.trained / key

    def record(self, key: str, kind: str = "trained") -> dict[str, Any] | None:
        path = self.root / kind / key / RECORD_FILE
        return json.loads(path.read_text()) if path.exists() else None
