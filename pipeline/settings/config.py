"""params.yaml -> typed, validated config: the schema (types and ranges; every value lives
in params.yaml) and the checks across sections, all run before Ray starts or a byte of data
is read. Errors name the file and the dotted key (pipeline/files/schema.py)."""
from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal, Optional

import annotated_types as at
from pydantic import model_validator

from models import FAMILIES, DataSpec, Hyper, NetConfig
from models.base import Count, NonNegative, NonNegativeInt, Positive
from pipeline.data.datasets import (  # the datasets known, their shapes and splits
    DATASETS,
    MIN_SPLIT,
    SHAPES,
    SYNTHETIC,
    split_sizes,
)
from pipeline.evaluation.theory import Settings as TheorySettings
from pipeline.files.schema import ConfigError, NonEmpty, Section, read_yaml, validate

PARAMS_FILE = "params.yaml"


# --------------------------------------------------------------------------- schema


Fraction = Annotated[float, at.Gt(0), at.Lt(1)]
# The share of a budget's steps before which training never stops; 0: none. Not models.base.Share,
# which excludes 0 (a part of a whole, neither none nor all).
Grace = Annotated[float, at.Ge(0), at.Lt(1)]

# Upper bounds far above any run this project makes (the papers' largest budget is 400,000 steps,
# their largest nets 1,200 units), so that a typo (an extra three zeros) is an error here rather
# than a sweep that never starts or a trial that asks for terabytes.
MAX_SEEDS = 1_000
MAX_STEPS = 100_000_000
MAX_BATCH = 65_536
MAX_EVAL_SAMPLES = 1_000_000
MAX_HIDDEN = 65_536
MAX_DEPTH = 64
Seeds = Annotated[tuple[NonNegativeInt, ...], NonEmpty, at.MaxLen(MAX_SEEDS)]


class TrainBudget(Section):
    steps: Annotated[Count, at.Le(MAX_STEPS)]  # training steps (one step = one update of every player)
    batch_size: Annotated[Count, at.Ge(2), at.Le(MAX_BATCH)]  # a batch of 1 has no spread: batch statistics need 2
    log_every: Count  # steps between logged metric points
    checkpoint_every: NonNegativeInt  # steps between checkpoints; 0 = only at the end
    eval_samples: Annotated[Count, at.Le(MAX_EVAL_SAMPLES)]  # samples drawn for sample-based metrics (per sampler)
    eval_every: NonNegativeInt  # steps between validation evaluations of the progress metrics; 0 = only at the end
    # Set from params.yaml's `convergence` for every trial (`trial_settings`), not per profile:
    # training stops at the first validation evaluation where every metric had plateaued by this
    # rule; 0 = train to `steps`.
    stop_patience: NonNegativeInt = 0
    stop_min_change: Fraction = 0.05
    stop_grace: Grace = 0.0  # the share of `steps` before which it never stops


class BudgetCap(Section):
    """A smaller budget laid over a profile whose values are the papers' (the `reference`
    profile on a machine without GPUs): every trial trains at most `steps` steps (or its
    dataset's entry) and runs the first `seeds` seeds. Rows run under a cap are never
    called reproduced: the published-numbers table says "not comparable yet"."""

    seeds: Annotated[Count, at.Le(MAX_SEEDS)]
    steps: Annotated[Count, at.Le(MAX_STEPS)]
    steps_by_dataset: dict[str, Annotated[Count, at.Le(MAX_STEPS)]] = {}

    def apply(self, budget: TrainBudget, dataset: str) -> TrainBudget:
        """The budget cut to the cap's steps; logging and evaluation scaled with it, so a capped
        run keeps as many curve points and validation evaluations (checkpoints keep their
        interval: a capped run is short enough to lose)."""
        steps = min(budget.steps, self.steps_by_dataset.get(dataset, self.steps))
        if steps == budget.steps:
            return budget
        scaled = {k: max(1, round(getattr(budget, k) * steps / budget.steps)) if getattr(budget, k) else 0
                  for k in ("log_every", "eval_every")}
        return budget.model_copy(update={"steps": steps, **scaled})


def check_nets(nets: NetConfig) -> None:
    """The nets' sizes below the bounds above (NetConfig, the zoo's, sets only the lower ones)."""
    if nets.hidden > MAX_HIDDEN:
        raise ValueError(f"hidden must be <= {MAX_HIDDEN:,}, got {nets.hidden:,}")
    if nets.depth > MAX_DEPTH:
        raise ValueError(f"depth must be <= {MAX_DEPTH}, got {nets.depth}")


class Profile(Section):
    seeds: Seeds  # one trial per seed for every grid point
    datasets: Annotated[tuple[str, ...], NonEmpty]  # datasets this profile may use
    train: TrainBudget
    train_by_dataset: dict[str, dict[str, Any]] = {}  # dataset -> overrides of `train`: {ring8: {steps: 20000}}
    nets: NetConfig  # shared by every family (fair comparison)
    cap: Optional[BudgetCap] = None  # the one override that makes a papers'-budget profile fit a CPU; null: no cap

    @model_validator(mode="after")
    def _nets_within_bounds(self) -> Profile:
        check_nets(self.nets)
        return self

    def budget(self, dataset: str) -> TrainBudget:
        """The training budget on `dataset`: `train` with that dataset's overrides (before any cap)."""
        return TrainBudget.model_validate({**self.train.model_dump(), **self.train_by_dataset.get(dataset, {})})

    @model_validator(mode="after")
    def _distinct_seeds(self) -> Profile:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds repeat: {list(self.seeds)}")
        return self


class DatasetSpec(Section):
    code_dim: Count  # code / noise size of every family trained on it
    # synthetic datasets: the examples generated; read from files (mnist, fashion_mnist): at most this many
    # training images, val and test cut in proportion (pipeline/data/subset.py); 0 = the maker's own size
    size: NonNegativeInt = 0
    local_dir: Optional[str] = None  # folder of IDX files (mnist, fashion_mnist)
    download: bool = False  # allow a torchvision download when local_dir is missing
    # Debian's package of the IDX files (fashion_mnist: dataset-fashion-mnist), which makes a missing
    # local_dir: linked where installed, else downloaded from Debian's archive (pipeline/data/debian.py)
    debian_package: Optional[str] = None


class DataConfig(Section):
    seed: NonNegativeInt  # generator seed of every synthetic dataset and of every split
    val_fraction: Fraction
    test_fraction: Fraction

    @model_validator(mode="after")
    def _splits_leave_training_data(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("val_fraction and test_fraction must sum to less than 1")
        return self


class DatasetOverrides(Section):
    """What a study changes on one of its datasets only (the 1992 paper's nets differ per ensemble)."""

    set: dict[str, dict[str, Any]] = {}  # model -> hyperparameter -> value
    train: dict[str, Any] = {}  # overrides of the training budget
    nets: dict[str, Any] = {}  # overrides of the net sizes


class StudySpec(Section):
    """Which trials a study runs; its claim and what it concludes are in its module,
    pipeline/studies/<name>.py."""

    models: Annotated[tuple[str, ...], NonEmpty]
    datasets: Annotated[tuple[str, ...], NonEmpty]  # the talk's list; trials use those the profile allows
    vary: dict[str, dict[str, Annotated[list[Any], NonEmpty]]] = {}  # model -> axis -> values: the study's factors, a row each
    set: dict[str, dict[str, Any]] = {}  # model -> hyperparameter -> value, fixed for this study
    only: dict[str, tuple[str, ...]] = {}  # model -> the study's datasets it trains on (default: all)
    seeds: Optional[Seeds] = None  # instead of the profile's
    train: dict[str, Any] = {}  # overrides of the profile's training budget, under every profile (a protocol's)
    # profile -> overrides of the training budget under that profile only, after `train`: a budget
    # chosen for one profile's scale (the quick profile's CPU budget) must not cut another's.
    train_by_profile: dict[str, dict[str, Any]] = {}
    nets: dict[str, Any] = {}  # overrides of the profile's net sizes
    by_dataset: dict[str, DatasetOverrides] = {}  # dataset -> overrides on that dataset only
    # Run under this profile whatever the top-level `profile` says: the published-number
    # studies always run the `reference` profile (the papers' protocols), beside the talk's.
    profile: Optional[str] = None


class Resources(Section):
    cpus_per_trial: Positive  # CPU threads per trial
    gpus_per_trial: NonNegative  # fraction of a GPU per trial, used only where the cluster has GPUs
    max_concurrent_trials: NonNegativeInt  # 0 = as many as the resources allow
    device: Literal["auto", "cpu", "cuda"]  # auto: cuda when the trial got a GPU
    storage_path: str  # Tune's storage; shared storage (NFS, S3) on multi-node clusters


LOOPBACK = ("127.0.0.1", "localhost", "::1")


class Tracking(Section):
    store: str  # the local server's SQLite file and artifacts live here
    host: str  # where the local server listens
    experiment_prefix: str  # experiment of study S is "<prefix>/S"
    allow_remote: bool = False  # a host other than loopback exposes an unauthenticated server: opt in

    @model_validator(mode="after")
    def _loopback_unless_opted_in(self) -> Tracking:
        if self.host not in LOOPBACK and not self.allow_remote:
            raise ValueError(f"host {self.host!r} would serve the unauthenticated MLflow store to the network; use "
                             "127.0.0.1 (reach it through an ssh tunnel), or set tracking.allow_remote: true")
        return self


class EvalNet(Section):
    """The per-dataset classifier whose features the Fréchet distance uses."""

    steps: Count
    batch_size: Count
    lr: Positive
    hidden: Count
    seed: NonNegativeInt


class Convergence(Section):
    """The patience rule (pipeline/evaluation/plateau.py): training stops by it (with `stop_training`),
    and the report says by it whether each row had stopped improving (pipeline/studies/convergence.py)."""

    patience: Count  # evaluations without an improvement that make a plateau
    min_change: Fraction  # the least relative gain that counts as an improvement
    stop_training: bool  # each trial stops at its first plateau on every validation metric, its budget's steps at most
    stop_grace: Grace = 0.0  # no stop before this share of the budget's steps

    def stops(self, budget: TrainBudget) -> TrainBudget:
        """`budget` with this rule as its stopping rule (or none)."""
        return budget.model_copy(update={"stop_patience": self.patience if self.stop_training else 0,
                                         "stop_min_change": self.min_change,
                                         "stop_grace": self.stop_grace if self.stop_training else 0.0})


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
    convergence: Convergence
    theory: Optional[TheorySettings] = None  # the `theory` study (pipeline/evaluation/theory.py)


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
    convergence: Convergence
    theory: TheorySettings | None = None

    profiles: dict[str, Profile] = dataclasses.field(default_factory=dict)  # every profile, for pinned studies

    def profile_of(self, study: str) -> tuple[str, Profile]:
        """The profile a study runs under: its own `profile` if pinned, else the top-level one."""
        pinned = self.studies[study].profile
        return (pinned, self.profiles[pinned]) if pinned else (self.profile_name, self.profile)

    def study_seeds(self, study: str) -> tuple[int, ...]:
        """The study's seeds (its own or its profile's), the first `cap.seeds` of them under a cap."""
        _, profile = self.profile_of(study)
        seeds = self.studies[study].seeds or profile.seeds
        return tuple(seeds[:profile.cap.seeds]) if profile.cap else tuple(seeds)

    def study_datasets(self, study: str, model: str | None = None) -> tuple[str, ...]:
        """The study's datasets that its profile allows (and that `model` trains on, if given).
        Empty when the profile allows none: the study then has nothing to run in this profile."""
        spec = self.studies[study]
        _, profile = self.profile_of(study)
        keep = spec.only.get(model, spec.datasets) if model else spec.datasets
        return tuple(d for d in spec.datasets if d in profile.datasets and d in keep)

    def needed_datasets(self) -> tuple[str, ...]:
        """Datasets the current profile's studies train on, in params.yaml's order."""
        used = {d for s in self.studies for d in self.study_datasets(s)}
        return tuple(d for d in self.datasets if d in used)


# --------------------------------------------------------------------------- checks across sections


def _known(file: str, key: str, value: Any, known: Any, problem: str) -> None:
    """Refuse a name that is not among `known`; `problem` says so, {} lists what is known."""
    if value not in known:
        raise ConfigError(file, key, problem.format(", ".join(known)))


def _build_model(name: str, raw: Any, profiles: dict[str, Profile], file: str) -> ModelSpec:
    key = f"models.{name}"
    _known(file, key, name, sorted(FAMILIES), "unknown model family (known: {})")
    entry = validate(ModelEntry, raw, file, key)
    hyper = FAMILIES[name].Hyper
    defaults = validate(hyper, entry.defaults, file, f"{key}.defaults")
    for profile, axes in entry.grid.items():
        _known(file, f"{key}.grid.{profile}", profile, list(profiles), "unknown profile (profiles: {})")
        for axis, values in axes.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(file, f"{key}.grid.{profile}.{axis}", f"a grid axis must be a non-empty list, got {values!r}")
            _known(file, f"{key}.grid.{profile}.{axis}", axis, list(hyper.model_fields), f"unknown key ({name} has: {{}})")
            for value in values:  # every value must make a valid Hyper on its own
                validate(hyper, {**entry.defaults, axis: value}, file, f"{key}.grid.{profile}")
    grid = {profile: {axis: tuple(values) for axis, values in axes.items()} for profile, axes in entry.grid.items()}
    return ModelSpec(name, defaults, grid)


@dataclasses.dataclass(frozen=True)
class TrialSettings:
    """One trial's settings as params.yaml resolves them, checked, before its seed: what
    pipeline/settings/trials.py packs into a TrialConfig per seed. They are resolved here, in the config
    layer, because parse() must refuse a bad one before any compute, and the config must not
    import the trials built on it."""

    model: str
    dataset: str
    variant: dict[str, Any]  # the study's factors this trial sets (`studies.<name>.vary`)
    tuned: dict[str, Any]  # the profile's tuning grid point (`models.<f>.grid.<profile>`)
    hparams: Hyper  # the family's Hyper: defaults, the study's settings, the factor, the grid point
    train: TrainBudget
    nets: NetConfig


def _points(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = sorted(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def trial_settings(cfg: Config, study: str) -> Iterator[TrialSettings]:
    """Every trial's settings of `study` under the config's profile, in a stable order: models x
    the study's factors (`vary`) x the profile's tuning grid x datasets. Each is checked as it is
    made: a bad value, or one a family cannot work with on a dataset, is a ConfigError naming the
    key."""
    spec = cfg.studies[study]
    key = f"studies.{study}"
    profile_name, profile = cfg.profile_of(study)
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
                    in_profile = spec.train_by_profile.get(profile_name, {})
                    budget = validate(TrainBudget, {**profile.budget(dataset).model_dump(), **spec.train, **in_profile,
                                                    **(over.train if over else {})}, cfg.file,
                                      f"{where}.train" if over or not in_profile else f"{key}.train_by_profile.{profile_name}")
                    if profile.cap:  # after every override: the cap bounds what the study asks for
                        budget = profile.cap.apply(budget, dataset)
                    budget = cfg.convergence.stops(budget)
                    nets = validate(NetConfig, {**profile.nets.model_dump(), **spec.nets,
                                                **(over.nets if over else {})}, cfg.file, f"{where}.nets")
                    try:
                        check_nets(nets)
                    except ValueError as err:
                        raise ConfigError(cfg.file, f"{where}.nets", str(err)) from None
                    shape, bounded = SHAPES[dataset]
                    refused = family.refuse(hparams, DataSpec(shape, cfg.datasets[dataset].code_dim, bounded))
                    if refused:
                        field, why = refused
                        origin = ("vary" if field in factor else f"grid.{profile_name}" if field in tuned else None)
                        at = f"{key}.vary.{model}.{field}" if origin == "vary" else (
                            f"models.{model}.{origin}.{field}" if origin else _origin(study, spec, model, dataset, field))
                        raise ConfigError(cfg.file, at, f"{why} ({dataset}, study {study})")
                    yield TrialSettings(model, dataset, factor, tuned, hparams, budget, nets)


def _origin(study: str, spec: StudySpec, model: str, dataset: str, field: str) -> str:
    """The params.yaml key a refused setting came from: the study's overrides or the defaults."""
    over = spec.by_dataset.get(dataset)
    if over and field in over.set.get(model, {}):
        return f"studies.{study}.by_dataset.{dataset}.set.{model}.{field}"
    if field in spec.set.get(model, {}):
        return f"studies.{study}.set.{model}.{field}"
    return f"models.{model}.defaults.{field}"


def parse(raw: Any, file: str | Path = PARAMS_FILE, profile: str | None = None) -> Config:
    """Validate a loaded params mapping. `profile` overrides the file's `profile` key."""
    file = str(file)
    params: Params = validate(Params, raw, file)
    profile_name = profile or params.profile
    if profile is not None:  # the command line's choice: the file is not to blame
        _known("--profile", "", profile, list(params.profiles), f"unknown profile {profile!r} (profiles in {file}: {{}})")
    _known(file, "profile", profile_name, list(params.profiles), f"unknown profile {profile_name!r} (profiles: {{}})")
    datasets = list(params.datasets)
    for name in datasets:
        _known(file, f"datasets.{name}", name, sorted(DATASETS), "unknown dataset (known: {})")
    for pname, p in params.profiles.items():
        for d in p.datasets:
            _known(file, f"profiles.{pname}.datasets", d, datasets, f"unknown dataset {d!r} (datasets: {{}})")
        for d in (p.cap.steps_by_dataset if p.cap else {}):
            _known(file, f"profiles.{pname}.cap.steps_by_dataset", d, datasets, f"unknown dataset {d!r} (datasets: {{}})")
        for d, override in p.train_by_dataset.items():
            key = f"profiles.{pname}.train_by_dataset.{d}"
            _known(file, key, d, datasets, f"unknown dataset {d!r} (datasets: {{}})")
            validate(TrainBudget, {**p.train.model_dump(), **(override or {})}, file, key)
    models = {n: _build_model(n, m, params.profiles, file) for n, m in params.models.items()}
    for name, study in params.studies.items():
        if study.profile is not None:
            _known(file, f"studies.{name}.profile", study.profile, list(params.profiles), "unknown profile (profiles: {})")
        for pname, override in study.train_by_profile.items():  # every profile's, not only the one run now
            key = f"studies.{name}.train_by_profile.{pname}"
            _known(file, key, pname, list(params.profiles), f"unknown profile {pname!r} (profiles: {{}})")
            validate(TrainBudget, {**params.profiles[pname].train.model_dump(), **study.train, **override}, file, key)
        for m in study.models:
            _known(file, f"studies.{name}.models", m, sorted(models if m in FAMILIES else FAMILIES),
                   f"unknown model {m!r} (known: {{}})")
        for d in study.datasets:
            _known(file, f"studies.{name}.datasets", d, datasets, f"unknown dataset {d!r} (datasets: {{}})")
        for field in ("vary", "set", "only"):
            for m in getattr(study, field):
                _known(file, f"studies.{name}.{field}.{m}", m, list(study.models),
                       f"model {m!r} is not in this study (its models: {{}})")
        for m, ds in study.only.items():
            for d in ds:
                _known(file, f"studies.{name}.only.{m}", d, list(study.datasets), f"dataset {d!r} is not in this study ({{}})")
        for d, over in study.by_dataset.items():
            _known(file, f"studies.{name}.by_dataset.{d}", d, list(study.datasets), f"dataset {d!r} is not in this study ({{}})")
            for m in over.set:
                _known(file, f"studies.{name}.by_dataset.{d}.set.{m}", m, list(study.models),
                       f"model {m!r} is not in this study (its models: {{}})")
    cfg = Config(file=file, profile_name=profile_name, profile=params.profiles[profile_name], data=params.data,
                 datasets=params.datasets, models=models, studies=params.studies, resources=params.resources,
                 tracking=params.tracking, evalnet=params.evalnet, convergence=params.convergence,
                 theory=params.theory, profiles=params.profiles)
    for name, spec in params.datasets.items():
        if name in SYNTHETIC and spec.size:
            sizes = split_sizes(spec.size, params.data.val_fraction, params.data.test_fraction)
            if min(sizes.values()) < MIN_SPLIT:
                raise ConfigError(file, f"datasets.{name}.size",
                                  f"size {spec.size} gives splits train/val/test = {sizes['train']}/{sizes['val']}/"
                                  f"{sizes['test']}; every split needs at least {MIN_SPLIT} examples")
    for name, study in params.studies.items():
        # A study none of whose datasets a profile allows has nothing to run there (the talk's
        # `roles` under `reference`); one that no profile can run is a mistake.
        if not any(d in p.datasets for d in study.datasets for p in params.profiles.values()):
            raise ConfigError(file, f"studies.{name}.datasets",
                              f"none of them is in any profile's datasets ({', '.join(params.profiles)})")
    for name in params.studies:  # every trial's settings are valid and workable, or we stop here
        for _ in trial_settings(cfg, name):
            pass
    return cfg


def load(path: str | Path = PARAMS_FILE, profile: str | None = None) -> Config:
    return parse(read_yaml(Path(path)), str(path), profile)
