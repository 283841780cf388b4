"""params.yaml -> typed, validated config.

Everything a run will do is checked here, before Ray starts or a byte of data
is read: an unknown key, model, dataset or profile, a value of the wrong type
or out of range, an empty grid. Every error names the file and the dotted key,
e.g. ``params.yaml: models.gan.grid.quick.lrr: unknown key (gan has: ...)``.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping

import yaml

from models import FAMILIES, Hyper, NetConfig

PARAMS_FILE = "params.yaml"


class ConfigError(ValueError):
    """A bad params.yaml. The message names the file and the key."""

    def __init__(self, file: str | Path, key: str, problem: str):
        self.file, self.key, self.problem = str(file), key, problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


# --------------------------------------------------------------------------- schema


@dataclasses.dataclass(frozen=True)
class TrainBudget:
    steps: int = 2000  # training steps (one step = one update of every player)
    batch_size: int = 128
    log_every: int = 50  # steps between logged metric points (and Tune reports)
    checkpoint_every: int = 0  # steps between checkpoints; 0 = only at the end
    eval_samples: int = 1000  # samples drawn for sample-based metrics (2500 on toys in PacGAN)

    def check(self) -> None:
        for name in ("steps", "batch_size", "log_every", "eval_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")


@dataclasses.dataclass(frozen=True)
class Profile:
    seeds: tuple[int, ...]  # one trial per seed for every grid point
    datasets: tuple[str, ...]  # datasets this profile may use; a study trains on those it lists too
    train: TrainBudget = TrainBudget()
    nets: NetConfig = NetConfig()  # shared by every family (fair comparison)

    def check(self) -> None:
        if not self.seeds:
            raise ValueError("seeds must not be empty")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds repeat: {list(self.seeds)}")
        if not self.datasets:
            raise ValueError("datasets must not be empty")


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    code_dim: int  # code / noise size of every family trained on it
    size: int = 0  # examples generated (synthetic datasets); 0 = the dataset's own size
    local_dir: str | None = None  # folder of IDX files (mnist, fashion_mnist); None = download
    download: bool = False  # allow a torchvision download when local_dir is missing

    def check(self) -> None:
        if self.code_dim < 1:
            raise ValueError(f"code_dim must be >= 1, got {self.code_dim}")
        if self.size < 0:
            raise ValueError(f"size must be >= 0, got {self.size}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    seed: int = 2026  # generator seed of every synthetic dataset and of every split
    val_fraction: float = 0.1
    test_fraction: float = 0.2

    def check(self) -> None:
        if not (0 < self.val_fraction < 1 and 0 < self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            raise ValueError("val_fraction and test_fraction must be in (0, 1) and sum to less than 1")


@dataclasses.dataclass(frozen=True)
class StudySpec:
    models: tuple[str, ...]
    datasets: tuple[str, ...]  # the talk's list; trials use those the profile allows
    question: str = ""  # the claim under test, shown in the report

    def check(self) -> None:
        if not self.models:
            raise ValueError("models must not be empty")
        if not self.datasets:
            raise ValueError("datasets must not be empty")


@dataclasses.dataclass(frozen=True)
class Resources:
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.25  # used only where the Ray cluster has GPUs
    max_concurrent_trials: int = 0  # 0 = as many as the resources allow
    device: str = "auto"  # auto (cuda when the trial got a GPU) | cpu | cuda
    storage_path: str = ".ray_results"  # Tune's storage; shared storage (NFS, S3) on multi-node clusters

    def check(self) -> None:
        if self.cpus_per_trial <= 0:
            raise ValueError(f"cpus_per_trial must be > 0, got {self.cpus_per_trial}")
        if self.gpus_per_trial < 0:
            raise ValueError(f"gpus_per_trial must be >= 0, got {self.gpus_per_trial}")
        if self.max_concurrent_trials < 0:
            raise ValueError(f"max_concurrent_trials must be >= 0, got {self.max_concurrent_trials}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")


@dataclasses.dataclass(frozen=True)
class Tracking:
    store: str = "mlruns"  # local server's SQLite file and artifacts live here
    host: str = "127.0.0.1"
    experiment_prefix: str = "pm2gan"  # experiment of study S is "<prefix>/S"


@dataclasses.dataclass(frozen=True)
class EvalNet:
    """The per-dataset classifier whose features the Fréchet distance uses."""

    steps: int = 2000
    batch_size: int = 128
    lr: float = 1e-3
    hidden: int = 256
    seed: int = 0

    def check(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.hidden < 1 or self.lr <= 0:
            raise ValueError("steps, batch_size and hidden must be >= 1 and lr > 0")


@dataclasses.dataclass(frozen=True)
class Theory:
    """The `theory` study: the tutorial's exercises as exact experiments (pipeline/theory.py)."""

    seed: int = 0
    disc_steps: int = 2000  # training steps of the discriminators compared with D*
    pairs: tuple[dict, ...] = ()  # (p_data, p_g) pairs: {data: density, g: density}
    step_sizes: tuple[float, ...] = (0.5, 0.1, 0.01)  # eta of gradient descent on V(x, y) = xy
    game_time: float = 6.283185307179586  # continuous time simulated (one turn of the circle = 2 pi)
    generator: dict = dataclasses.field(default_factory=dict)  # {data: density, g_mean, g_std, samples}
    tolerances: dict = dataclasses.field(default_factory=dict)  # identity -> largest error that still holds

    TOLERANCE_KEYS = ("d_star_1d", "d_star_2d", "value", "radius_growth", "gradient")

    def check(self) -> None:
        from pipeline import theory  # the densities validate themselves

        if self.disc_steps < 1:
            raise ValueError(f"disc_steps must be >= 1, got {self.disc_steps}")
        if not self.pairs:
            raise ValueError("pairs must list at least one (data, g) pair of densities")
        for i, pair in enumerate(self.pairs):
            if set(pair) != {"data", "g"}:
                raise ValueError(f"pairs[{i}] needs exactly the keys data and g, got {sorted(pair)}")
            for side in ("data", "g"):
                try:
                    theory.density(pair[side])
                except (TypeError, ValueError) as err:
                    raise ValueError(f"pairs[{i}].{side}: {err}") from None
        if not self.step_sizes or any(not eta > 0 for eta in self.step_sizes):
            raise ValueError(f"step_sizes must be > 0, got {list(self.step_sizes)}")
        if not self.game_time > 0:
            raise ValueError(f"game_time must be > 0, got {self.game_time}")
        need = {"data", "g_mean", "g_std", "samples"}
        if set(self.generator) != need:
            raise ValueError(f"generator needs exactly the keys {sorted(need)}, got {sorted(self.generator)}")
        try:
            theory.Gaussian1D(**self.generator["data"])
            theory.Gaussian1D(self.generator["g_mean"], self.generator["g_std"])
        except (TypeError, ValueError) as err:
            raise ValueError(f"generator: {err}") from None
        if set(self.tolerances) != set(self.TOLERANCE_KEYS) or any(not v > 0 for v in self.tolerances.values()):
            raise ValueError(f"tolerances needs a value > 0 for each of {list(self.TOLERANCE_KEYS)}")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    family: str
    defaults: Hyper  # the family's Hyper with params.yaml's defaults applied
    grid: dict[str, dict[str, tuple[Any, ...]]]  # profile -> key -> values

    def grid_points(self, profile: str) -> list[dict[str, Any]]:
        """Every combination of the profile's grid over the defaults, as plain dicts."""
        axes = self.grid.get(profile, {})
        base = dataclasses.asdict(self.defaults)
        keys = sorted(axes)
        return [{**base, **dict(zip(keys, combo))} for combo in itertools.product(*(axes[k] for k in keys))]


@dataclasses.dataclass(frozen=True)
class Config:
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


# --------------------------------------------------------------------------- strict building

_TOP_KEYS = ("profile", "profiles", "data", "datasets", "models", "studies", "resources", "tracking", "evalnet",
             "theory")


def _type_ok(value: Any, expected: Any) -> tuple[bool, Any]:
    """(ok, value) for the simple types params.yaml holds; ints are accepted as floats."""
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(expected):
            ok, converted = _type_ok(value, option)
            if ok:
                return True, converted
        return False, value
    if expected is type(None):
        return value is None, value
    if origin is tuple:
        if not isinstance(value, list):
            return False, value
        (item,) = typing.get_args(expected)[:1]
        converted = []
        for v in value:
            ok, c = _type_ok(v, item)
            if not ok:
                return False, value
            converted.append(c)
        return True, tuple(converted)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return True, float(value)
    if expected in (int, float) and isinstance(value, bool):
        return False, value
    if expected is Any:
        return True, value
    return isinstance(value, expected), value


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


def build(cls: type, raw: Any, file: str, key: str) -> Any:
    """Build dataclass `cls` from mapping `raw`, refusing unknown keys and wrong types,
    then run its `check()`; every error becomes a ConfigError naming file and key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(file, key, f"must be a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(file, f"{key}.{unknown[0]}", f"unknown key (allowed: {', '.join(sorted(fields))})")
    values = {}
    for name, value in raw.items():
        expected = hints[name]
        if dataclasses.is_dataclass(expected):
            values[name] = build(expected, value, file, f"{key}.{name}")
            continue
        ok, converted = _type_ok(value, expected)
        if not ok:
            raise ConfigError(file, f"{key}.{name}", f"must be {_type_name(expected)}, got {value!r}")
        values[name] = converted
    missing = [n for n, f in fields.items() if n not in values and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(file, f"{key}.{missing[0]}", "is required")
    try:
        obj = cls(**values)
        if hasattr(obj, "check") and not isinstance(obj, Hyper):  # Hyper checks itself on creation
            obj.check()
    except ValueError as err:
        raise ConfigError(file, _field_key(key, str(err)), str(err)) from None
    return obj


def _field_key(key: str, message: str) -> str:
    """Point at the field a check() complained about when its message starts with its name
    ('lr must be ...', or a path such as 'pairs[1].g: ...')."""
    first = message.split(" ", 1)[0].rstrip(":")
    return f"{key}.{first}" if re.fullmatch(r"[A-Za-z_][\w.\[\]]*", first) else key


def _mapping(raw: Any, file: str, key: str) -> Mapping:
    if not isinstance(raw, Mapping):
        raise ConfigError(file, key, f"must be a mapping, got {type(raw).__name__}")
    return raw


def _build_model(name: str, raw: Any, profiles: Mapping, file: str) -> ModelSpec:
    key = f"models.{name}"
    if name not in FAMILIES:
        raise ConfigError(file, key, f"unknown model family (known: {', '.join(sorted(FAMILIES))})")
    raw = _mapping(raw or {}, file, key)
    extra = sorted(set(raw) - {"defaults", "grid"})
    if extra:
        raise ConfigError(file, f"{key}.{extra[0]}", "unknown key (allowed: defaults, grid)")
    hyper_cls = FAMILIES[name].Hyper
    defaults = build(hyper_cls, raw.get("defaults"), file, f"{key}.defaults")
    grid: dict[str, dict[str, tuple]] = {}
    for profile, axes in _mapping(raw.get("grid") or {}, file, f"{key}.grid").items():
        pkey = f"{key}.grid.{profile}"
        if profile not in profiles:
            raise ConfigError(file, pkey, f"unknown profile (profiles: {', '.join(profiles)})")
        grid[profile] = {}
        for axis, values in _mapping(axes or {}, file, pkey).items():
            akey = f"{pkey}.{axis}"
            if not isinstance(values, list) or not values:
                raise ConfigError(file, akey, f"a grid axis must be a non-empty list, got {values!r}")
            allowed = [f.name for f in dataclasses.fields(hyper_cls)]
            if axis not in allowed:
                raise ConfigError(file, akey, f"unknown key ({name} has: {', '.join(allowed)})")
            for value in values:  # every value must make a valid Hyper on its own
                build(hyper_cls, {**dataclasses.asdict(defaults), axis: value}, file, pkey)
            grid[profile][axis] = tuple(values)
    return ModelSpec(name, defaults, grid)


def parse(raw: Any, file: str | Path = PARAMS_FILE, profile: str | None = None) -> Config:
    """Validate a loaded params mapping. `profile` overrides the file's `profile` key."""
    file = str(file)
    raw = _mapping(raw, file, "")
    unknown = sorted(set(raw) - set(_TOP_KEYS))
    if unknown:
        raise ConfigError(file, unknown[0], f"unknown key (allowed: {', '.join(_TOP_KEYS)})")
    for required in ("profile", "profiles", "datasets", "models", "studies"):
        if required not in raw:
            raise ConfigError(file, required, "is required")

    profiles = _mapping(raw["profiles"], file, "profiles")
    profile_name = profile or raw["profile"]
    if profile_name not in profiles:
        raise ConfigError(file, "profile", f"unknown profile {profile_name!r} (profiles: {', '.join(profiles)})")
    built_profiles = {n: build(Profile, p, file, f"profiles.{n}") for n, p in profiles.items()}

    from pipeline.data import DATASETS  # the catalogue of dataset makers

    datasets = {}
    for name, spec in _mapping(raw["datasets"], file, "datasets").items():
        if name not in DATASETS:
            raise ConfigError(file, f"datasets.{name}", f"unknown dataset (known: {', '.join(sorted(DATASETS))})")
        datasets[name] = build(DatasetSpec, spec, file, f"datasets.{name}")
    for pname, p in built_profiles.items():
        for d in p.datasets:
            if d not in datasets:
                raise ConfigError(file, f"profiles.{pname}.datasets", f"unknown dataset {d!r} (datasets: {', '.join(datasets)})")

    models = {n: _build_model(n, m, profiles, file) for n, m in _mapping(raw["models"], file, "models").items()}

    studies = {}
    for name, spec in _mapping(raw["studies"], file, "studies").items():
        study = build(StudySpec, spec, file, f"studies.{name}")
        for m in study.models:
            if m not in models:
                known = FAMILIES if m not in FAMILIES else models
                raise ConfigError(file, f"studies.{name}.models", f"unknown model {m!r} (known: {', '.join(sorted(known))})")
        for d in study.datasets:
            if d not in datasets:
                raise ConfigError(file, f"studies.{name}.datasets", f"unknown dataset {d!r} (datasets: {', '.join(datasets)})")
        studies[name] = study

    cfg = Config(
        file=file,
        profile_name=profile_name,
        profile=built_profiles[profile_name],
        data=build(DataConfig, raw.get("data"), file, "data"),
        datasets=datasets,
        models=models,
        studies=studies,
        resources=build(Resources, raw.get("resources"), file, "resources"),
        tracking=build(Tracking, raw.get("tracking"), file, "tracking"),
        evalnet=build(EvalNet, raw.get("evalnet"), file, "evalnet"),
        theory=build(Theory, raw["theory"], file, "theory") if "theory" in raw else None,
    )
    for name in studies:
        if not cfg.study_datasets(name):
            raise ConfigError(file, f"studies.{name}.datasets",
                              f"none of them is in profile {profile_name!r}'s datasets {list(cfg.profile.datasets)}")
    return cfg


def load(path: str | Path = PARAMS_FILE, profile: str | None = None) -> Config:
    path = Path(path)
    if not path.exists():
        raise ConfigError(path, "", "file not found (run from the project root, or pass --params)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(path, "", f"not valid YAML: {err}") from None
    return parse(raw, str(path), profile)
