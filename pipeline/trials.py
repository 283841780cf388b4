"""A study expanded into trials: models x grid points x datasets x seeds.

`TrialConfig` is the whole, resolved description of one training run. It is
plain data (it round-trips through a dict), so it travels to Ray workers,
into MLflow params, into checkpoints and into results files unchanged.
"""
from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

from pydantic import BaseModel, ConfigDict

from models import FAMILIES, DataSpec, NetConfig

from .config import Config, ConfigError, TrainBudget
from .schema import validate


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
        """The resolved config as MLflow params: 'hparams.lr', 'train.steps', ..."""
        out: dict[str, str] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}.{k}" if prefix else k, v)
            else:
                out[prefix] = str(value)

        walk("", {k: v for k, v in self.to_dict().items() if k not in ("variant", "tuned")})
        return out


def _points(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = sorted(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def expand(cfg: Config, study: str) -> list[TrialConfig]:
    """Every trial of `study` under the config's profile, in a stable order: models x the
    study's factors (`vary`) x the profile's tuning grid x datasets x seeds. Each trial's
    settings are checked here: a bad value, or one a family cannot work with on a dataset,
    is a ConfigError naming the key."""
    from .data import SHAPES  # here: data -> results -> trials would otherwise import in a circle

    spec = cfg.studies[study]
    key = f"studies.{study}"
    profile_name, profile = cfg.profile_of(study)
    trials = []
    for model in spec.models:
        family, model_spec = FAMILIES[model], cfg.models[model]
        fixed = {*spec.vary.get(model, {}), *spec.set.get(model, {})}  # the study's own choices win over tuning
        tuning = {k: v for k, v in model_spec.grid.get(profile_name, {}).items() if k not in fixed}
        for factor in _points(spec.vary.get(model, {})):
            for tuned in _points(tuning):
                for dataset in cfg.study_datasets(study, model):
                    over = spec.by_dataset.get(dataset)
                    where = f"{key}.by_dataset.{dataset}" if over else key
                    raw = {**model_spec.defaults.model_dump(), **spec.set.get(model, {}),
                           **(over.set.get(model, {}) if over else {}), **factor, **tuned}
                    hparams = validate(family.Hyper, raw, cfg.file, f"{where}.set.{model}" if not factor else f"{key}.vary.{model}")
                    budget = validate(TrainBudget, {**profile.budget(dataset).model_dump(), **spec.train,
                                                    **(over.train if over else {})}, cfg.file, f"{where}.train")
                    if profile.cap:  # after every override: the cap bounds what the study asks for
                        budget = profile.cap.apply(budget, dataset)
                    nets = validate(NetConfig, {**profile.nets.model_dump(), **spec.nets,
                                                **(over.nets if over else {})}, cfg.file, f"{where}.nets")
                    shape, bounded = SHAPES[dataset]
                    refused = family.refuse(hparams, DataSpec(shape, cfg.datasets[dataset].code_dim, bounded))
                    if refused:
                        field, why = refused
                        origin = ("vary" if field in factor else f"grid.{profile_name}" if field in tuned else None)
                        at = f"{key}.vary.{model}.{field}" if origin == "vary" else (
                            f"models.{model}.{origin}.{field}" if origin else _origin(study, spec, model, dataset, field))
                        raise ConfigError(cfg.file, at, f"{why} ({dataset}, study {study})")
                    for seed in cfg.study_seeds(study):
                        trials.append(TrialConfig(
                            study=study, model=model, dataset=dataset, seed=seed,
                            code_dim=cfg.datasets[dataset].code_dim, hparams=hparams.model_dump(),
                            variant=factor, tuned=tuned, train=budget, nets=nets,
                            device=cfg.resources.device, cpus=cfg.resources.cpus_per_trial))
    return trials


def _origin(study: str, spec, model: str, dataset: str, field: str) -> str:
    """The params.yaml key a refused setting came from: the study's overrides or the defaults."""
    over = spec.by_dataset.get(dataset)
    if over and field in over.set.get(model, {}):
        return f"studies.{study}.by_dataset.{dataset}.set.{model}.{field}"
    if field in spec.set.get(model, {}):
        return f"studies.{study}.set.{model}.{field}"
    return f"models.{model}.defaults.{field}"
