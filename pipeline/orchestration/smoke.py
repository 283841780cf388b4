"""`pm2gan smoke` (`make smoke`): the whole pipeline in a few minutes, as a first run.

Every stage of dvc.yaml, every study and every model family, through the real DVC, Ray Tune and
MLflow (`pm2gan dvc repro`), at a pipeline check's budget: one seed, 60 training steps, nets of
32 units, 300 steps of the evaluation classifier, 2,000 of Fashion-MNIST's training images. It runs in a scratch checkout of this project,
`.smoke/pm2gan`: the project's files with params.yaml turned to these settings (`smoke_params`)
and dvc.yaml generated from them, its own data, trial store, MLflow store and reports. So a first
look costs minutes and leaves the project's results, stores and committed report untouched.

Its numbers check that every part runs; they are not results (every row is far from trained). Its
report and MLflow UI have every section, table, figure and link a full run has.
"""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from pipeline.orchestration.scratch import checkout_env, make_checkout

SMOKE_DIR = Path(".smoke")  # in .gitignore: scratch, remade by every `pm2gan smoke`
PROFILE = "smoke"


def smoke_params(params: dict[str, Any], fashion_dir: Path | None = None) -> dict[str, Any]:
    """`params` (params.yaml's content) at the smoke budget, every study kept. `fashion_dir`: where
    Fashion-MNIST's IDX files lie or are made (default: the project's `datasets.fashion_mnist.local_dir`)."""
    params = copy.deepcopy(params)
    params["profile"] = PROFILE
    params["profiles"][PROFILE] = {
        # one dataset of each kind every study reads: the 1992 patterns, ICA's mixtures, a toy mixture,
        # real 8x8 digits; Fashion-MNIST for the published-number studies
        "seeds": [0], "datasets": ["pm92", "pm92_nonuniform", "ica", "ring8", "digits", "fashion_mnist"],
        "train": {"steps": 60, "batch_size": 64, "log_every": 20, "checkpoint_every": 0, "eval_samples": 400,
                  "eval_every": 30},
        "nets": {"hidden": 32, "depth": 1, "conv_channels": 8},
        # the cap bounds what studies ask for themselves (pm1992's 30,000 steps, InfoGAN's 10,000)
        "cap": {"seeds": 1, "steps": 60},
    }
    for spec in params["studies"].values():
        if spec.get("profile"):  # the published-number studies run under the smoke profile too
            spec["profile"] = PROFILE
        if "nets" in spec:  # their own nets (PacGAN's 4 x 400, BiGAN's 2 x 1024), at the smoke size
            spec["nets"] = {k: min(v, 32) if k == "hidden" else min(v, 1) if k == "depth" else v
                            for k, v in spec["nets"].items()}
    if fashion_dir is not None:
        params["datasets"]["fashion_mnist"]["local_dir"] = str(fashion_dir)
    params["datasets"]["fashion_mnist"]["size"] = 2000  # of its 54,000 training images (pipeline/data/subset.py)
    params["evalnet"]["steps"] = 300
    params["theory"].update(disc_steps=200, step_sizes=[0.5, 0.1])
    params["theory"]["generator"]["samples"] = 20000
    return params


def run(project: Path, params_file: Path) -> int:
    """Build the scratch checkout of `project` and run `pm2gan dvc repro` there; DVC's exit code."""
    target = project / SMOKE_DIR / "pm2gan"
    params = yaml.safe_load(params_file.read_text())
    fashion = Path(params["datasets"]["fashion_mnist"].get("local_dir") or ".cache/fashion-mnist")
    # one Fashion-MNIST folder for the project and its smoke runs: made once (pipeline/data/debian.py)
    fashion = fashion if fashion.is_absolute() else (project / fashion).resolve()
    if target.parent.exists():
        shutil.rmtree(target.parent)
    make_checkout(target, yaml.safe_dump(smoke_params(params, fashion), sort_keys=False), source=project)
    print(f"pm2gan smoke: every stage at the smoke budget in {target.relative_to(project)} (its own data, "
          f"stores and reports; this project's are left as they are)", flush=True)
    started = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).parent / "pm2gan"), "dvc", "repro"], cwd=target, env=checkout_env(target))
    took = time.monotonic() - started
    if done.returncode == 0:
        report = (target / "reports" / "report.html").relative_to(project)
        # pm2gan as this run found it: the venv's, which is on PATH only where the venv is activated
        ui = os.path.relpath(Path(sys.executable).parent / "pm2gan", target)
        print(f"pm2gan smoke: done in {took / 60:.1f} min. The report: {report} (open it in a browser); "
              f"the runs: `cd {target.relative_to(project)} && {ui} ui`.", flush=True)
    else:
        print(f"pm2gan smoke: failed after {took / 60:.1f} min (dvc repro exited {done.returncode}); "
              f"the checkout is kept in {target.relative_to(project)}", file=sys.stderr, flush=True)
    return done.returncode

