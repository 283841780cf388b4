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
from pipeline.settings.config import Config, TrainBudget, trial_settings


class TrialConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    study: str
    model: str
    dataset: str
    seed: int
    code_dim: int
    hparams: dict[str, Any]  # the family's Hyper fields, resolved (defaults + grid point)
    variant: dict[str, Any]  # the study's factors this trial sets (`studies.<name>.vary`): its row
    tuned: dict[str, Any] = {}  # the profile's tuning grid point (`models.<f>.grid.<profile>`): chosen on validation data
    train: TrainBudget
    nets: NetConfig
    device: str  # resources.device: auto | cpu | cuda
    cpus: float  # threads the trial may use (torch.set_num_threads)

    @property
    def variant_label(self) -> str:
        """'gen_cost=kl', or 'default': names the study's row in tables."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.variant.items())) or "default"

    @property
    def tuned_label(self) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted(self.tuned.items()))

    @property
    def run_name(self) -> str:
        label = "".join(f"-{k}={v}" for k, v in sorted({**self.variant, **self.tuned}.items()))
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
        """The resolved config as MLflow params: 'hparams.lr', 'train.steps', ... The study's labels
        (which study, which of its rows) are left out: one run serves every study that reads it."""
        out: dict[str, str] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                out[prefix] = str(value)

        walk("", {k: v for k, v in self.to_dict().items() if k not in ("study", "variant", "tuned")})
        return out


def expand(cfg: Config, study: str) -> list[TrialConfig]:
    """Every trial of `study` under the config's profile, in a stable order: models x the
    study's factors (`vary`) x the profile's tuning grid x datasets x seeds. The settings are
    resolved and checked by the config (config.trial_settings: a bad or unworkable value is a
    ConfigError naming the key); here each becomes one TrialConfig per seed."""
    return [TrialConfig(study=study, model=s.model, dataset=s.dataset, seed=seed,
                        code_dim=cfg.datasets[s.dataset].code_dim, hparams=s.hparams.model_dump(),
                        variant=s.variant, tuned=s.tuned, train=s.train, nets=s.nets,
                        device=cfg.resources.device, cpus=cfg.resources.cpus_per_trial)
            for s in trial_settings(cfg, study) for seed in cfg.study_seeds(study)]
