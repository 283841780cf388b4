"""What a run leaves behind, typed: a trial's result, a study's results folder and the theory
study's checks (written atomically, pipeline/files/atomic.py: a half-written result never carries its
final name).

    results/<study>/trials.json           StudyResults: every TrialResult, with its config and provenance
    results/<study>/samples/<trial>-<sampler>.npy   the samples each sampler of a trial drew (images: the first MAX_SAVED_IMAGES)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field

from pipeline.files.atomic import atomic_folder
from pipeline.settings.trials import TrialConfig

RESULTS_DIR = Path("results")
MAX_SAVED_IMAGES = 64  # image samples kept per trial for the report's figures (all are used for metrics)

# Metrics may be NaN (a divergence with no high-quality sample, say): JSON keeps NaN as NaN,
# never as null, because null means "not applicable" here.
_JSON = ConfigDict(ser_json_inf_nan="constants", arbitrary_types_allowed=True)


class TrialResult(BaseModel):
    """One trial's outcome. `metrics` maps every metric of the trial's dataset to a number,
    or to None where the family cannot provide what the metric needs ("not applicable")."""

    model_config = _JSON

    trial: TrialConfig
    outcome: Literal["completed", "diverged"]
    steps: int  # the last step trained
    metrics: dict[str, Optional[float]]
    curves: dict[str, list[tuple[int, float]]]  # 'loss/gen', 'val/prior/modes' -> [(step, value), ...]
    improving: list[str] = []  # validation curves still improving at the last evaluation (train.improving)
    provenance: dict[str, Any] = {}  # code_version, data_version, profile
    # sampler -> the samples it drew; travels beside the JSON, one .npy per sampler
    samples: dict[str, np.ndarray] = Field(default_factory=dict, exclude=True)

    # Derived from the config, written into the JSON for people and tools that read it alone.
    @computed_field
    @property
    def trial_id(self) -> str:
        return self.trial.trial_id

    @computed_field
    @property
    def run_name(self) -> str:
        return self.trial.run_name

    @computed_field
    @property
    def variant(self) -> str:
        return self.trial.variant_label

    def save(self, folder: Path) -> None:
        """result.json and samples-<sampler>.npy in `folder`, e.g. a checkpoint folder."""
        (folder / "result.json").write_text(self.model_dump_json(indent=1))
        for sampler, drawn in self.samples.items():
            np.save(folder / f"samples-{sampler}.npy", drawn)

    @classmethod
    def load(cls, folder: Path) -> TrialResult | None:
        """The result saved in `folder`, or None when there is none (an intermediate checkpoint)."""
        if not (folder / "result.json").exists():
            return None
        result = cls.model_validate_json((folder / "result.json").read_text())
        result.samples = {p.stem.removeprefix("samples-"): np.load(p) for p in sorted(folder.glob("samples-*.npy"))}
        return result


class StudyResults(BaseModel):
    """results/<study>/: every trial of a finished sweep."""

    model_config = _JSON

    study: str
    claim: str
    profile: str
    provenance: dict[str, Any]
    trials: list[TrialResult]
    # dataset -> row -> metric -> a value, or one value per draw: baselines computed without training
    references: dict[str, dict[str, dict[str, float | list[float] | None]]] = {}
    # the same on the validation split, beside the trials' validation numbers over training
    val_references: dict[str, dict[str, dict[str, float | list[float] | None]]] = {}


def write_study(study: StudyResults, results_dir: Path = RESULTS_DIR) -> Path:
    """results_dir/<study>/trials.json and samples/<trial_id>.npy, renamed into place when whole."""
    with atomic_folder(Path(results_dir) / study.study) as tmp:
        (tmp / "samples").mkdir()
        for r in study.trials:
            for sampler, drawn in r.samples.items():
                # A traversal is one figure, kept whole (cut to 64 images, its 10 x 8 grid lost its rows).
                kept = drawn[:MAX_SAVED_IMAGES] if drawn.ndim == 4 and sampler != "traversal" else drawn
                np.save(tmp / "samples" / f"{r.trial_id}-{sampler}.npy", kept.astype(np.float32))
        (tmp / "trials.json").write_text(study.model_dump_json(indent=1))
    return Path(results_dir) / study.study


def read_study(folder: Path) -> StudyResults:
    """A study's results with each trial's saved samples attached."""
    study = StudyResults.model_validate_json((Path(folder) / "trials.json").read_text())
    for r in study.trials:
        r.samples = {p.stem.removeprefix(f"{r.trial_id}-"): np.load(p)
                     for p in sorted((Path(folder) / "samples").glob(f"{r.trial_id}-*.npy"))}
    return study


class Check(BaseModel):
    """One identity of the `theory` study against its tolerance."""

    identity: str
    measured_error: float
    tolerance: float
    expected: str
    holds: bool
    detail: str = ""


class TheoryResults(BaseModel):
    """results/theory/summary.json."""

    study: Literal["theory"] = "theory"
    seconds: float
    checks: list[Check]
    metrics: dict[str, float]
