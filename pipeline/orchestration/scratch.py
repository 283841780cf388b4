"""A scratch checkout of this project: its git-tracked files (and untracked ones git does not
ignore) copied into a new git repository, without the run's outputs (reports/, dvc.lock), with
other params if given and the dvc.yaml they generate. What a new user clones, made in seconds:
`pm2gan smoke` runs in one, and so do the end-to-end tests and the rerun benchmarks."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent.parent


def make_checkout(target: Path, params_text: str | None = None, source: Path = PROJECT) -> Path:
    """Copy `source`'s files into `target` (new), write `params_text` as params.yaml with its
    dvc.yaml, commit."""
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=source,
                           capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (source / name).is_file() and not name.startswith(("reports/", "dvc.lock")):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, target / name)  # times kept: make sees nothing newer to rebuild
    if params_text is not None:  # other params: the stages they generate (what `pm2gan stages` writes)
        import yaml

        from pipeline.orchestration import stages
        from pipeline.settings import config

        (target / "params.yaml").write_text(params_text)
        (target / "dvc.yaml").write_text(stages.render(config.parse(yaml.safe_load(params_text), "params.yaml")))
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    subprocess.run(["git", "add", "-A"], cwd=target, check=True)
    subprocess.run(["git", "-c", "user.email=dev@pm2gan", "-c", "user.name=pm2gan", "commit", "-qm", "checkout"],
                   cwd=target, check=True)
    return target


def checkout_env(checkout: Path | None = None) -> dict[str, str]:
    """The environment `make repro` gives dvc: this Python's tools first, no outside tracking server,
    cluster or trial store. With `checkout`, its stages run that checkout's code, not the code the
    venv's editable install points at: an edit made there is the code that runs (and that DVC hashes)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS", "PM2GAN_TRIAL_STORE")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    return env
