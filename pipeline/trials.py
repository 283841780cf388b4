"""A study expanded into trials: models x grid points x datasets x seeds.

`TrialConfig` is the whole, resolved description of one training run. It is
plain data (it round-trips through a dict), so it travels to Ray workers,
into MLflow params, into checkpoints and into results files unchanged.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from models import NetConfig

from .config import Config, TrainBudget


class TrialConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    study: str
    model: str
    dataset: str
    seed: int
    code_dim: int
    hparams: dict[str, Any]  # the family's Hyper fields, resolved (defaults + grid point)
    variant: dict[str, Any]  # the grid axes this trial sets (empty when the grid has none)
    train: TrainBudget
    nets: NetConfig
    device: str  # resources.device: auto | cpu | cuda
    cpus: float  # threads the trial may use (torch.set_num_threads)

    @property
    def variant_label(self) -> str:
        """'gen_cost=kl,lr=0.0002', or 'default': names the grid point in tables."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.variant.items())) or "default"

    @property
    def run_name(self) -> str:
        label = "" if not self.variant else "-" + self.variant_label.replace(",", "-")
        return f"{self.model}{label}-{self.dataset}-s{self.seed}"

    @property
    def trial_id(self) -> str:
        """Stable short id of the resolved config: same config, same id."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialConfig:
        return cls.model_validate(d)

    def flat_params(self) -> dict[str, str]:
        """The resolved config as MLflow params: 'hparams.lr', 'train.steps', ..."""
        out: dict[str, str] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                out[prefix] = str(value)

        walk("", {k: v for k, v in self.to_dict().items() if k != "variant"})
        return out


def expand(cfg: Config, study: str) -> list[TrialConfig]:
    """Every trial of `study` under the config's profile, in a stable order."""
    spec = cfg.studies[study]
    trials = []
    for model in spec.models:
        model_spec = cfg.models[model]
        axes = model_spec.grid.get(cfg.profile_name, {})
        for point in model_spec.grid_points(cfg.profile_name):
            for dataset in cfg.study_datasets(study):
                for seed in cfg.profile.seeds:
                    trials.append(TrialConfig(
                        study=study, model=model, dataset=dataset, seed=seed,
                        code_dim=cfg.datasets[dataset].code_dim,
                        hparams=point, variant={k: point[k] for k in axes},
                        train=cfg.profile.budget(dataset), nets=cfg.profile.nets,
                        device=cfg.resources.device, cpus=cfg.resources.cpus_per_trial,
                    ))
    return trials
