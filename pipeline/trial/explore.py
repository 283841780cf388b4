"""`pm2gan explore`: try settings of one family quickly, on validation data, before they go
into params.yaml. The same `train(cfg)` as every study, in this process (no Ray, no MLflow,
no files): one line per trial with its validation metrics, the ones used to choose defaults.

    pm2gan explore pm --datasets digits bars --set lam=0.1,0.3,1.0 --set predictor_lr_mult=1,10
"""
from __future__ import annotations

import itertools
import json
import time
from typing import Any

import yaml

from pipeline.data import places
from pipeline.evaluation import evalnet
from pipeline.files.schema import validate
from pipeline.settings.config import Config, ConfigError, TrainBudget
from pipeline.settings.trials import TrialConfig
from pipeline.trial.train import train

BUDGET_KEYS = set(TrainBudget.model_fields)  # --set steps=... changes the budget, not the family


def parse_sets(items: list[str]) -> dict[str, list[Any]]:
    """['lam=0.1,0.3', 'steps=3000'] -> {'lam': [0.1, 0.3], 'steps': [3000]} (values read as YAML)."""
    grid = {}
    for item in items:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise ConfigError("--set", item, "expected key=value[,value...]")
        grid[key] = [yaml.safe_load(v) for v in values.split(",")]
    return grid


def trials(cfg: Config, model: str, datasets: list[str], grid: dict[str, list[Any]], seeds: list[int]):
    """Every (dataset, grid point, seed) as a validated TrialConfig: a bad key or value stops
    here, naming it, before anything trains."""
    if model not in cfg.models:
        raise ConfigError(cfg.file, f"models.{model}", f"unknown model (known: {', '.join(cfg.models)})")
    defaults = cfg.models[model].defaults
    for d in datasets:
        if d not in cfg.datasets:
            raise ConfigError(cfg.file, f"datasets.{d}", f"unknown dataset (known: {', '.join(cfg.datasets)})")
    keys = sorted(grid)
    for combo in itertools.product(*(grid[k] for k in keys)):
        point = dict(zip(keys, combo))
        hparams = validate(type(defaults), {**defaults.model_dump(), **{k: v for k, v in point.items()
                                                                         if k not in BUDGET_KEYS}}, "--set")
        for dataset in datasets:
            # stopping as the pipeline's trials do; `--set stop_patience=0` trains to the last step
            budget = validate(TrainBudget, {**cfg.convergence.stops(cfg.profile.budget(dataset)).model_dump(),
                                            **{k: v for k, v in point.items() if k in BUDGET_KEYS}}, "--set")
            for seed in seeds:
                yield TrialConfig(study="explore", model=model, dataset=dataset, seed=seed,
                                  code_dim=cfg.datasets[dataset].code_dim, hparams=hparams.model_dump(),
                                  variant=point, train=budget, nets=cfg.profile.nets, device=cfg.resources.device,
                                  cpus=cfg.resources.cpus_per_trial)


def run(cfg: Config, model: str, datasets: list[str], sets: list[str], seeds: list[int]) -> list[dict]:
    grid = parse_sets(sets)
    planned = list(trials(cfg, model, datasets, grid, seeds))
    loaded, classifiers, lines = {}, {}, []
    for i, t in enumerate(planned, 1):
        if t.dataset not in loaded:
            loaded[t.dataset] = places.load(t.dataset)
            classifiers[t.dataset] = evalnet.load_state(t.dataset, places.evalnet_folder(t.dataset))
        start = time.perf_counter()
        result = train(t, loaded[t.dataset], classifiers[t.dataset])
        line = {"model": model, "dataset": t.dataset, "seed": t.seed, **t.variant, "outcome": result.outcome,
                "seconds": round(time.perf_counter() - start, 1), "still_improving": result.improving,
                **{k: round(v, 4) for k, v in result.metrics.items() if k.startswith("val/") and v is not None}}
        print(f"[{i}/{len(planned)}] " + json.dumps(line), flush=True)
        lines.append(line)
    return lines
