"""MLflow: the tracking server, one experiment per study, a parent run per
sweep and a child run per trial.

When MLFLOW_TRACKING_URI is not set, `tracking_server()` starts a local
`mlflow server` for the run (SQLite store and proxied artifacts under the
project's `tracking.store` folder, bound to 127.0.0.1), waits until it answers
and stops it afterwards; many trials writing one SQLite file directly would
hit "database is locked", one server in front of it does not. A URI that is
set but does not answer stops the run before any training.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import requests

from .trials import TrialConfig

SERVER_START_TIMEOUT_S = 90
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own tag: the UI nests a run under this parent


class TrackingError(RuntimeError):
    pass


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_server(uri: str, timeout_s: float = 5.0) -> None:
    """Raise TrackingError unless `uri` is an MLflow server that answers its health check."""
    if not uri.startswith(("http://", "https://")):
        raise TrackingError(
            f"MLFLOW_TRACKING_URI={uri!r}: pm2gan's trials log concurrently from many processes "
            "(and nodes), which needs an MLflow tracking server: set an http(s):// URI, or unset "
            "it to let pm2gan start a local server.")
    try:
        reply = requests.get(uri.rstrip("/") + "/health", timeout=timeout_s)
    except requests.RequestException as err:
        raise TrackingError(f"MLflow tracking server {uri} does not answer ({type(err).__name__}): "
                            "start it, fix MLFLOW_TRACKING_URI, or unset it for a local server") from None
    if reply.status_code != 200:
        raise TrackingError(f"MLflow tracking server {uri} answered HTTP {reply.status_code} to /health")


def preflight() -> None:
    """Check MLFLOW_TRACKING_URI, when set, before anything else is done."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        check_server(uri)


# MLflow 3's server also starts a job runner and two task-queue consumers (for GenAI
# scorers and trace roll-ups); pm2gan uses none of it, and on a 2-core machine those
# processes compete with the trials.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def server_command(store: Path, host: str, port: int) -> list[str]:
    store = store.resolve()
    return [sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
            "--artifacts-destination", str(store / "artifacts"),
            "--host", host, "--port", str(port), "--workers", "1"]


@contextlib.contextmanager
def tracking_server(store: str | Path, host: str = "127.0.0.1") -> Iterator[str]:
    """Yield a tracking URI that answers: MLFLOW_TRACKING_URI if set, else a local server."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        check_server(uri)
        yield uri
        return
    store = Path(store)
    store.mkdir(parents=True, exist_ok=True)
    port = _free_port(host)
    uri = f"http://{host}:{port}"
    log = open(store / "server.log", "ab")
    proc = subprocess.Popen(server_command(store, host, port), stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, **SERVER_ENV},
                            start_new_session=True)  # its own group: stopped with its workers
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise TrackingError(f"local MLflow server exited with code {proc.returncode}; see {store / 'server.log'}")
            try:
                check_server(uri, timeout_s=1.0)
                break
            except TrackingError:
                if time.monotonic() > deadline:
                    raise TrackingError(f"local MLflow server did not answer within {SERVER_START_TIMEOUT_S}s; "
                                        f"see {store / 'server.log'}") from None
                time.sleep(0.3)
        print(f"pm2gan: MLflow tracking server at {uri} (store: {store})", flush=True)
        yield uri
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
        log.close()


def client(uri: str):
    from mlflow import MlflowClient

    # MLflow prints a "View run" URL for every run it ends: dozens of lines per sweep.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

    return MlflowClient(tracking_uri=uri)


def experiment_id(uri: str, name: str) -> str:
    c = client(uri)
    found = c.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            c.restore_experiment(found.experiment_id)
        return found.experiment_id
    return c.create_experiment(name)


def log_files(uri: str, run_id: str, files: dict[str, Any], artifact_path: str | None = None) -> None:
    """Write {name: text | bytes | matplotlib Figure | existing Path} as artifacts of a run."""
    from . import figures

    c = client(uri)
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            target = Path(tmp) / name
            if isinstance(content, Path):
                shutil.copy(content, target)
            elif isinstance(content, bytes):
                target.write_bytes(content)
            elif isinstance(content, str):
                target.write_text(content)
            else:
                figures.save(content, target)
            c.log_artifact(run_id, str(target), artifact_path)


class TrialRun:
    """One trial's child run: the `train.Hooks` that write to MLflow.

    Metric points are buffered and sent in batches (one HTTP call per flush, not per
    metric), so logging costs the training loop next to nothing.
    """

    FLUSH_EVERY_S = 5.0

    def __init__(self, uri: str, experiment: str, parent_run_id: str | None, cfg: TrialConfig, tags: dict[str, str],
                 reference=None):
        from mlflow.entities import Metric, Param

        self._Metric = Metric
        self.uri, self.cfg = uri, cfg
        self.reference = reference  # data points drawn under a toy's sample scatter
        self.client = client(uri)
        run_tags = {"model": cfg.model, "dataset": cfg.dataset, "seed": str(cfg.seed), "study": cfg.study,
                    "variant": cfg.variant_label, "trial_id": cfg.trial_id, **tags}
        # A trial that a resumed sweep runs again continues its own run: one run per trial.
        earlier = self.client.search_runs(
            [experiment], f"tags.trial_id = '{cfg.trial_id}' and tags.`{PARENT_TAG}` = '{parent_run_id}'",
            max_results=1) if parent_run_id else []
        if earlier:
            self.run_id = earlier[0].info.run_id
            self.client.update_run(self.run_id, "RUNNING")
            if "error" in earlier[0].data.tags:  # an earlier attempt's failure no longer stands
                self.client.delete_tag(self.run_id, "error")
            for key, value in run_tags.items():
                self.client.set_tag(self.run_id, key, value)
        else:
            if parent_run_id:
                run_tags[PARENT_TAG] = parent_run_id
            self.run_id = self.client.create_run(experiment, run_name=cfg.run_name, tags=run_tags).info.run_id
            params = [Param(k, v[:6000]) for k, v in cfg.flat_params().items()]
            for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
                self.client.log_batch(self.run_id, params=params[i:i + 100])
            self.client.set_tag(self.run_id, "config", json.dumps(cfg.to_dict()))
        self._pending: list = []
        self._last_flush = time.monotonic()

    def log(self, step: int, values: dict[str, float]) -> None:
        now_ms = int(time.time() * 1000)
        self._pending += [self._Metric(k, v, now_ms, step) for k, v in values.items()]
        if time.monotonic() - self._last_flush > self.FLUSH_EVERY_S:
            self.flush()

    def flush(self) -> None:
        for i in range(0, len(self._pending), 1000):  # MLflow's per-batch limit
            self.client.log_batch(self.run_id, metrics=self._pending[i:i + 1000])
        self._pending = []
        self._last_flush = time.monotonic()

    def checkpoint(self, step: int, folder: Path, result: dict | None) -> None:
        if result is None:
            return  # intermediate checkpoints stay in Tune's storage; MLflow keeps the final one
        from . import figures
        from .train import CHECKPOINT_FILE, RESULT_FILE, SAMPLES_FILE

        self.flush()
        final = {k: v for k, v in result["metrics"].items() if v is not None}
        self.client.log_batch(self.run_id, metrics=[self._Metric(k, float(v), int(time.time() * 1000), step)
                                                    for k, v in final.items()])
        self.client.log_artifact(self.run_id, str(folder / CHECKPOINT_FILE), "checkpoint")
        self.client.log_artifact(self.run_id, str(folder / RESULT_FILE))
        files: dict[str, Any] = {}
        if (folder / SAMPLES_FILE).exists():
            import numpy as np

            files["samples.png"] = figures.samples_figure(np.load(folder / SAMPLES_FILE), self.cfg.run_name,
                                                          reference=self.reference)
        if result["curves"]:
            files["curves.png"] = figures.curves_figure(result["curves"], self.cfg.run_name)
        if files:
            log_files(self.uri, self.run_id, files)
        na = sorted(k for k, v in result["metrics"].items() if v is None)
        self.client.set_tag(self.run_id, "outcome", result["outcome"])
        if na:
            self.client.set_tag(self.run_id, "not_applicable", ", ".join(na))
        self.client.set_terminated(self.run_id, "FINISHED")

    def fail(self, error: BaseException) -> None:
        with contextlib.suppress(Exception):
            self.flush()
            self.client.set_tag(self.run_id, "outcome", "error")
            self.client.set_tag(self.run_id, "error", f"{type(error).__name__}: {error}"[:5000])
            self.client.set_terminated(self.run_id, "FAILED")
