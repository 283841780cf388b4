"""`pm2gan dvc <dvc arguments>`: DVC with one Ray instance and one MLflow server for all its stages.

Run alone, each study stage starts a private Ray instance and an MLflow tracking server and
stops them when its sweep ends. Shared, they cost each stage about 7 s less on 2 cores (12 study
stages that train nothing: 270 s against 357 s, docs/pipeline.md). This wrapper starts both
once, points every stage at them (RAY_ADDRESS, MLFLOW_TRACKING_URI: a stage joins them as it
joins a cluster) and stops them when DVC is done, however it ends. Where RAY_ADDRESS or
MLFLOW_TRACKING_URI is already set, that service is used and not started. A stage server
(stage_server.py) pays the stages' imports once too: each stage's `pm2gan` is forked from it.

The stages, their outputs, the trial store and the MLflow store are the ones plain `dvc`
uses: only the start-up is shared.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from pipeline.orchestration import ray_reaper, stage_server
from pipeline.settings.config import Config
from pipeline.tracking import mlflow_api as tracking


def ray_token() -> dict[str, str]:
    """What a driver needs, besides the address, to join the private Ray instance started with it
    (Ray 2.60 refuses a driver without its token), set in this process's environment too: the
    instance takes its token from there, and Ray reads it as it loads."""
    join = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    os.environ.update(join)
    return join


@contextlib.contextmanager
def local_ray(join: dict[str, str]) -> Iterator[dict[str, str]]:
    """A private local Ray instance owned by this process, started with `join` (ray_token(), taken
    before Ray was imported): what a driver needs to join it. It goes with this process, also
    when this process is SIGKILLed (ray_reaper)."""
    import ray

    os.environ.setdefault("RAY_enable_metrics_collection", "0")  # as a stage's own (resources.ray_init)
    ray_reaper.start_for(os.getpid())
    context = ray.init(include_dashboard=False, log_to_driver=False)
    try:
        print(f"pm2gan: Ray at {context.address_info['gcs_address']}, shared by every stage", flush=True)
        yield {**join, "RAY_ADDRESS": context.address_info["gcs_address"]}
    finally:
        ray.shutdown()


def dvc_command() -> str:
    """DVC's executable: on PATH, else beside this Python (the venv's, when it is not activated)."""
    found = shutil.which("dvc") or shutil.which("dvc", path=str(Path(sys.executable).parent))
    if found is None:
        raise FileNotFoundError("dvc is not installed here (neither on PATH nor beside this Python): `make setup` installs it")
    return found


def run_dvc(cfg: Config, arguments: list[str]) -> int:
    """`dvc <arguments>` with the shared services; DVC's exit code."""
    dvc = dvc_command()  # before starting anything
    # the stages' `pm2gan` beside this Python, as `make` puts the venv first
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    # Ctrl+C reaches every process of the terminal's group: Ray's, started from here, would die of
    # it while the interrupted stage still needs them to close its sweep. Ignored here before Ray
    # starts, SIGINT stays ignored in every process Ray starts; DVC gets the default back.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with contextlib.ExitStack() as services:
            join = None if env.get("RAY_ADDRESS") else ray_token()  # before the stage server loads Ray
            env.update(join or {})
            # The start-ups overlap: the stage server imports while the MLflow server starts, and
            # Ray starts while the MLflow server creates its store (the smoke run's first stage
            # started 2 s sooner, and its `params` waited 5 s less for the server's imports).
            serving = not env.get(stage_server.SERVER_ENV)  # "0": every stage in a process of its own
            if serving:
                env.update(services.enter_context(stage_server.serving(env)))

            def start_ray() -> None:
                if join is not None:
                    env.update(services.enter_context(local_ray(join)))

            if env.get("MLFLOW_TRACKING_URI"):
                start_ray()
            else:  # in a session of its own: no Ctrl+C reaches it
                env["MLFLOW_TRACKING_URI"] = services.enter_context(
                    tracking.tracking_server(cfg.tracking.store, cfg.tracking.host, meanwhile=start_ray))
            if serving and join is not None:  # Ray started here, on this machine only: its workers are forked too
                env[stage_server.WORKERS_ENV] = env[stage_server.SERVER_ENV]
            return _wait_for(subprocess.Popen([dvc, *arguments], env=env, preexec_fn=_default_sigint))
    finally:
        signal.signal(signal.SIGINT, previous)


def _default_sigint() -> None:
    """In DVC's process, before it starts: Ctrl+C acts on it (and on its stages) as usual."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for(dvc: subprocess.Popen) -> int:
    """DVC's exit code, waiting for it through Ctrl+C (ignored here: the terminal sends SIGINT to
    DVC and its stage as well, and an interrupted stage still closes its MLflow runs and writes its
    resumable state, for which it needs the services). SIGTERM is passed on to DVC and waited
    for too. The services stop once DVC has exited."""
    def forward(signum, frame):
        with contextlib.suppress(ProcessLookupError):
            dvc.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        code = dvc.wait()
        return 128 - code if code < 0 else code  # killed by a signal: as a shell reports it
    finally:
        signal.signal(signal.SIGTERM, previous)
