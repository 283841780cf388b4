"""params.yaml -> typed, validated config.

The schema is a set of pydantic models (unknown keys forbidden, strict numbers, no NaN or
inf); params.yaml holds every value, the schema only types and ranges. Everything a run
will do is checked here, before Ray starts or a byte of data is read, and every error
names the file and the dotted key: ``params.yaml: models.gan.defaults.lrr: unknown key
(allowed: ...)``.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import annotated_types as at
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from models import FAMILIES, Hyper, NetConfig
from models.base import Count, NonNegative, NonNegativeInt, Positive

from .theory import Density, Gaussian1D

PARAMS_FILE = "params.yaml"


class ConfigError(ValueError):
    """A bad params.yaml. The message names the file and the key."""

    def __init__(self, file: str | Path, key: str, problem: str):
        self.file, self.key, self.problem = str(file), key, problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


# --------------------------------------------------------------------------- schema


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Fraction = Annotated[float, at.Gt(0), at.Lt(1)]
NonEmpty = at.MinLen(1)


class TrainBudget(Section):
    steps: Count  # training steps (one step = one update of every player)
    batch_size: Count
    log_every: Count  # steps between logged metric points
    checkpoint_every: NonNegativeInt  # steps between checkpoints; 0 = only at the end
    eval_samples: Count  # samples drawn for sample-based metrics


class Profile(Section):
    seeds: Annotated[tuple[NonNegativeInt, ...], NonEmpty]  # one trial per seed for every grid point
    datasets: Annotated[tuple[str, ...], NonEmpty]  # datasets this profile may use
    train: TrainBudget
    nets: NetConfig  # shared by every family (fair comparison)

    @model_validator(mode="after")
    def _distinct_seeds(self) -> Profile:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds repeat: {list(self.seeds)}")
        return self


class DatasetSpec(Section):
    code_dim: Count  # code / noise size of every family trained on it
    size: NonNegativeInt = 0  # examples generated (synthetic datasets); 0 = the maker's own size
    local_dir: Optional[str] = None  # folder of IDX files (mnist, fashion_mnist)
    download: bool = False  # allow a torchvision download when local_dir is missing


class DataConfig(Section):
    seed: NonNegativeInt  # generator seed of every synthetic dataset and of every split
    val_fraction: Fraction
    test_fraction: Fraction

    @model_validator(mode="after")
    def _splits_leave_training_data(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("val_fraction and test_fraction must sum to less than 1")
        return self


class StudySpec(Section):
    question: str  # the claim under test, shown in the report
    models: Annotated[tuple[str, ...], NonEmpty]
    datasets: Annotated[tuple[str, ...], NonEmpty]  # the talk's list; trials use those the profile allows


class Resources(Section):
    cpus_per_trial: Positive  # CPU threads per trial
    gpus_per_trial: NonNegative  # fraction of a GPU per trial, used only where the cluster has GPUs
    max_concurrent_trials: NonNegativeInt  # 0 = as many as the resources allow
    device: Literal["auto", "cpu", "cuda"]  # auto: cuda when the trial got a GPU
    storage_path: str  # Tune's storage; shared storage (NFS, S3) on multi-node clusters


class Tracking(Section):
    store: str  # the local server's SQLite file and artifacts live here
    host: str
    experiment_prefix: str  # experiment of study S is "<prefix>/S"


class EvalNet(Section):
    """The per-dataset classifier whose features the Fréchet distance uses."""

    steps: Count
    batch_size: Count
    lr: Positive
    hidden: Count
    seed: NonNegativeInt


class DensityPair(Section):
    data: Density
    g: Density


class GeneratorCheck(Section):
    data: Gaussian1D
    g_mean: float
    g_std: Positive
    samples: Count


class Tolerances(Section):
    d_star_1d: Positive
    d_star_2d: Positive
    value: Positive
    radius_growth: Positive
    gradient: Positive


class Theory(Section):
    """The `theory` study: the tutorial's exercises as exact experiments (pipeline/theory.py)."""

    seed: NonNegativeInt
    disc_steps: Count  # training steps of the discriminators compared with D*
    pairs: Annotated[tuple[DensityPair, ...], NonEmpty]  # (p_data, p_g)
    step_sizes: Annotated[tuple[Positive, ...], NonEmpty]  # eta of gradient descent on V(x, y) = xy
    game_time: Positive  # continuous time simulated (one turn of the circle = 2 pi)
    generator: GeneratorCheck
    tolerances: Tolerances  # identity -> largest error that still holds


class ModelEntry(Section):
    defaults: dict[str, Any]  # checked against the family's Hyper once the family is known
    grid: dict[str, dict[str, Any]] = {}  # profile -> axis -> a list of values


class Params(Section):
    """The whole of params.yaml."""

    profile: str
    profiles: dict[str, Profile]
    data: DataConfig
    datasets: dict[str, DatasetSpec]
    models: dict[str, Any]  # family -> ModelEntry, checked once the family name is known
    studies: dict[str, StudySpec]
    resources: Resources
    tracking: Tracking
    evalnet: EvalNet
    theory: Optional[Theory] = None


# --------------------------------------------------------------------------- the resolved config


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    family: str
    defaults: Hyper  # the family's Hyper with params.yaml's defaults
    grid: dict[str, dict[str, tuple[Any, ...]]]  # profile -> key -> values

    def grid_points(self, profile: str) -> list[dict[str, Any]]:
        """Every combination of the profile's grid over the defaults, as plain dicts."""
        axes = self.grid.get(profile, {})
        keys = sorted(axes)
        base = self.defaults.model_dump()
        return [{**base, **dict(zip(keys, combo))} for combo in itertools.product(*(axes[k] for k in keys))]


@dataclasses.dataclass(frozen=True)
class Config:
    """params.yaml resolved for one profile."""

    file: str
    profile_name: str
    profile: Profile
    data: DataConfig
    datasets: dict[str, DatasetSpec]
    models: dict[str, ModelSpec]
    studies: dict[str, StudySpec]
    resources: Resources
    tracking: Tracking
    evalnet: EvalNet
    theory: Theory | None = None

    def study_datasets(self, study: str) -> tuple[str, ...]:
        return tuple(d for d in self.studies[study].datasets if d in self.profile.datasets)

    def needed_datasets(self) -> tuple[str, ...]:
        """Datasets the current profile's studies train on, in params.yaml's order."""
        used = {d for s in self.studies for d in self.study_datasets(s)}
        return tuple(d for d in self.datasets if d in used)


# --------------------------------------------------------------------------- errors, in the README's words


def _unwrap(tp: Any) -> Any:
    """Annotated[X, ...] -> X; Optional[X] -> X."""
    while True:
        if typing.get_origin(tp) is Annotated:
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is typing.Union and type(None) in typing.get_args(tp):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


def _fields(tp: Any) -> dict[str, Any] | None:
    return getattr(tp, "__pydantic_fields__", None)


def _walk(tp: Any, loc: tuple) -> tuple[Any, Any, str]:
    """Follow an error location through the schema: (type there, its FieldInfo, dotted key).
    Union members chosen by a discriminator appear in pydantic's location as tags: they are
    followed but left out of the key."""
    info, key = None, ""
    for part in loc:
        tp = _unwrap(tp)
        members = {getattr(_unwrap(m), "__name__", ""): _unwrap(m) for m in typing.get_args(tp)}
        if typing.get_origin(tp) is typing.Union and part in members:
            tp = members[part]
            continue
        if isinstance(part, int):
            key += f"[{part}]"
            tp = typing.get_args(tp)[0] if typing.get_args(tp) else Any
            continue
        key += f".{part}" if key else str(part)
        fields = _fields(tp)
        if fields is not None:
            info = fields.get(part)
            tp = info.annotation if info is not None else Any
        elif typing.get_origin(tp) is dict:
            info, tp = None, typing.get_args(tp)[1]
        else:
            info, tp = None, Any
    return tp, info, key


_TYPE_NAMES = {"int": "int", "float": "float", "bool": "bool", "string": "str", "dict": "a mapping",
               "model": "a mapping", "dataclass": "a mapping", "list": "a list", "tuple": "a list"}
_COMPARISONS = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"), "less_than": ("<", "lt"),
                "less_than_equal": ("<=", "le")}


def _problem(error: dict, field: str, info: Any, parent: Any) -> str:
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"unknown key (allowed: {', '.join(sorted(_fields(_unwrap(parent)) or {}))})"
    if kind in _COMPARISONS:
        symbol, bound = _COMPARISONS[kind]
        why = f" ({info.description})" if info is not None and info.description else ""
        return f"{field} must be {symbol} {ctx[bound]:g}{why}, got {value!r}"
    if kind == "literal_error":
        return f"{field} must be one of {ctx['expected'].replace(chr(39), '')}, got {value!r}"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "finite_number":
        return f"{field} must be a finite number, got {value!r}"
    if kind.endswith(("_type", "_parsing")) or kind == "int_from_float":
        expected = _TYPE_NAMES.get(kind.split("_")[0], kind.split("_")[0])
        return f"must be {expected}, got {value!r}"
    return error["msg"].removeprefix("Value error, ")


def _validate(schema: type, raw: Any, file: str, prefix: str = "") -> Any:
    """schema.model_validate(raw), its first error raised as a ConfigError naming the file and
    the dotted key (`prefix` + the location inside `raw`)."""
    try:
        return schema.model_validate(raw)
    except ValidationError as err:
        error = err.errors(include_url=False)[0]
        loc = tuple(error["loc"])
        _, info, key = _walk(schema, loc)
        parent = _walk(schema, loc[:-1])[0]
        field = re.sub(r"\[\d+\]$", "", key.rsplit(".", 1)[-1])
        raise ConfigError(file, ".".join(k for k in (prefix, key) if k), _problem(error, field, info, parent)) from None


# --------------------------------------------------------------------------- cross-section checks


def _build_model(name: str, raw: Any, profiles: dict[str, Profile], file: str) -> ModelSpec:
    key = f"models.{name}"
    if name not in FAMILIES:
        raise ConfigError(file, key, f"unknown model family (known: {', '.join(sorted(FAMILIES))})")
    entry = _validate(ModelEntry, raw, file, key)
    hyper = FAMILIES[name].Hyper
    defaults = _validate(hyper, entry.defaults, file, f"{key}.defaults")
    grid: dict[str, dict[str, tuple]] = {}
    for profile, axes in entry.grid.items():
        if profile not in profiles:
            raise ConfigError(file, f"{key}.grid.{profile}", f"unknown profile (profiles: {', '.join(profiles)})")
        for axis, values in axes.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(file, f"{key}.grid.{profile}.{axis}", f"a grid axis must be a non-empty list, got {values!r}")
            if axis not in hyper.model_fields:
                raise ConfigError(file, f"{key}.grid.{profile}.{axis}",
                                  f"unknown key ({name} has: {', '.join(hyper.model_fields)})")
            for value in values:  # every value must make a valid Hyper on its own
                _validate(hyper, {**entry.defaults, axis: value}, file, f"{key}.grid.{profile}")
        grid[profile] = {axis: tuple(values) for axis, values in axes.items()}
    return ModelSpec(name, defaults, grid)


def parse(raw: Any, file: str | Path = PARAMS_FILE, profile: str | None = None) -> Config:
    """Validate a loaded params mapping. `profile` overrides the file's `profile` key."""
    from pipeline.data import DATASETS  # the catalogue of dataset makers

    file = str(file)
    params: Params = _validate(Params, raw, file)
    profile_name = profile or params.profile
    if profile_name not in params.profiles:
        raise ConfigError(file, "profile", f"unknown profile {profile_name!r} (profiles: {', '.join(params.profiles)})")
    for name in params.datasets:
        if name not in DATASETS:
            raise ConfigError(file, f"datasets.{name}", f"unknown dataset (known: {', '.join(sorted(DATASETS))})")
    for pname, p in params.profiles.items():
        for d in p.datasets:
            if d not in params.datasets:
                raise ConfigError(file, f"profiles.{pname}.datasets",
                                  f"unknown dataset {d!r} (datasets: {', '.join(params.datasets)})")
    models = {n: _build_model(n, m, params.profiles, file) for n, m in params.models.items()}
    for name, study in params.studies.items():
        for m in study.models:
            if m not in models:
                known = FAMILIES if m not in FAMILIES else models
                raise ConfigError(file, f"studies.{name}.models", f"unknown model {m!r} (known: {', '.join(sorted(known))})")
        for d in study.datasets:
            if d not in params.datasets:
                raise ConfigError(file, f"studies.{name}.datasets",
                                  f"unknown dataset {d!r} (datasets: {', '.join(params.datasets)})")
    cfg = Config(file=file, profile_name=profile_name, profile=params.profiles[profile_name], data=params.data,
                 datasets=params.datasets, models=models, studies=params.studies, resources=params.resources,
                 tracking=params.tracking, evalnet=params.evalnet, theory=params.theory)
    for name in params.studies:
        if not cfg.study_datasets(name):
            raise ConfigError(file, f"studies.{name}.datasets",
                              f"none of them is in profile {profile_name!r}'s datasets {list(cfg.profile.datasets)}")
    return cfg


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `1e-3` as a string; YAML 1.2 (and DVC, which writes `-S` values into
    params.yaml) reads it as a float. Read it as a float here too."""


_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
                              list("-+0123456789."))


def load(path: str | Path = PARAMS_FILE, profile: str | None = None) -> Config:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "", "file not found (run from the project root, or pass --params)")
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ConfigError(path, "", f"not valid YAML: {err}") from None
    return parse(raw, str(path), profile)
