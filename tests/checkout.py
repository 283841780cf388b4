"""A fresh git checkout of the project's files in a temporary folder: what a new user
clones. Used by the end-to-end test and by benchmarks/repro_timing.py."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _stages() -> tuple[str, ...]:
    from pipeline.studies import STUDIES

    return ("fetch", "evalnet", *STUDIES, "report")


STAGES = _stages()


def make_checkout(target: Path, params_text: str | None = None) -> Path:
    """Copy every tracked (and not ignored) file, leave run outputs behind, commit."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (ROOT / name).is_file() and not name.startswith(("reports/", "dvc.lock")):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    if params_text is not None:  # other params: the stages they generate (what `pm2gan stages` writes)
        from pipeline import config, stages

        (target / "params.yaml").write_text(params_text)
        (target / "dvc.yaml").write_text(stages.render(config.parse(yaml.safe_load(params_text), "params.yaml")))
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    subprocess.run(["git", "add", "-A"], cwd=target, check=True)
    subprocess.run(["git", "-c", "user.email=dev@pm2gan", "-c", "user.name=pm2gan", "commit", "-qm", "checkout"],
                   cwd=target, check=True)
    return target


def dvc_env() -> dict[str, str]:
    """The environment `make repro` gives dvc: the venv's tools first, no outside tracking or cluster."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def stages_run(output: str) -> set[str]:
    return {s for s in STAGES if f"Running stage '{s}'" in output}
