"""MLflow, behind one door: every MLflow call of the project is in this module.

The tracking server; one run per trained trial, in the experiment `<prefix>/trials`, whichever
studies read it; one experiment per study, holding a run per sweep with the study's comparison;
the report's and the theory study's runs; saved views of the runs table. A run opened with `run()`
always ends: FINISHED when its block completes, KILLED when it is interrupted
(resumable), FAILED with the error as a tag when it raises.

When MLFLOW_TRACKING_URI is not set, `tracking_server()` starts a local
`mlflow server` for the run (SQLite store and proxied artifacts under the
project's `tracking.store` folder, bound to 127.0.0.1), waits until it answers
and stops it afterwards; many trials writing one SQLite file directly would
hit "database is locked", one server in front of it does not. A URI that is
set but does not answer stops the run before any training.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Iterator

import requests
from filelock import FileLock

SERVER_START_TIMEOUT_S = 90
# MLflow's client retries a request 7 times with exponential back-off by default: a server
# that died made every trial stall about 4 minutes per call and a study hang for 17. Three
# tries over about 7 s ride out a busy server and stop a study soon after its server is gone.
CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "3", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
              "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5", "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


class TrackingError(RuntimeError):
    """The tracking server does not answer, stopped answering or could not start (exit 1)."""


class TrackingSetupError(TrackingError):
    """A tracking setting that cannot work (exit 2, as a bad params.yaml value)."""

    exit_code = 2


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(host: str, port: int) -> None:
    """Raise TrackingError when `port` on `host` is taken (a server started there would exit)."""
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as err:
            raise TrackingError(f"{host}:{port} is not free ({err.strerror}): pass another --port") from None


def check_server(uri: str, timeout_s: float = 5.0) -> None:
    """Raise TrackingError unless `uri` is an MLflow server that answers its health check."""
    if not uri.startswith(("http://", "https://")):
        raise TrackingSetupError(
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


def answers(uri: str) -> bool:
    try:
        check_server(uri, timeout_s=3.0)
        return True
    except TrackingError:
        return False


def preflight() -> None:
    """Check MLFLOW_TRACKING_URI, when set, before anything else is done."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        check_server(uri)


# MLflow 3's server also starts a job runner and two task-queue consumers (for GenAI
# scorers and trace roll-ups); pm2gan uses none of it, and on a 2-core machine those
# processes compete with the trials. PYTHONSAFEPATH (Python 3.11+): the server's module is
# found where the command's own code is (installed, or PYTHONPATH), never in the folder it
# was started from: a `pipeline/` there (an older checkout's, another project's) was taken
# for pm2gan's, and the server did not start.
SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "PYTHONSAFEPATH": "1"}


def server_command(store: Path, host: str, port: int) -> list[str]:
    """`mlflow server` with the store's SQLite file and artifacts, in one process (server_process.py:
    it starts in half the time and CPU of MLflow's two)."""
    store = store.resolve()
    return [sys.executable, "-m", "pipeline.tracking.server_process",
            "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
            "--artifacts-destination", str(store / "artifacts"),
            "--host", host, "--port", str(port), "--workers", "1"]


@contextlib.contextmanager
def tracking_server(store: str | Path, host: str = "127.0.0.1",
                    meanwhile: Callable[[], object] | None = None) -> Iterator[str]:
    """Yield a tracking URI that answers: MLFLOW_TRACKING_URI if set, else a local server.
    `meanwhile`, if given, is called once the server's process has started and before waiting for
    it to answer: what the caller starts next (`pm2gan dvc`'s Ray) starts while the server does."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        check_server(uri)
        if meanwhile is not None:
            meanwhile()
        yield uri
        return
    store = Path(store)
    if store.exists() and not store.is_dir():
        raise TrackingSetupError(f"tracking.store: {store} is a file; it must be a folder (or not exist yet)")
    store.mkdir(parents=True, exist_ok=True)
    refuse_foreign_store(store)
    log_path = store / "server.log"
    log = open(log_path, "ab")
    # A server creates and migrates its SQLite store as it starts; two servers doing that at
    # once on a fresh store broke it for good ("table _alembic_tmp_latest_metrics already
    # exists"). The lock lets one start at a time: the second finds the store migrated.
    with FileLock(store / ".server-start.lock"):
        for attempt in range(1, PORT_ATTEMPTS + 1):
            # A port free now can be taken before the server binds it, seconds later (CI saw it once,
            # another test's processes starting beside it): the server then exits; another port is tried.
            port = _free_port(host)
            uri = f"http://{host}:{port}"
            logged = log_path.stat().st_size
            proc = subprocess.Popen(server_command(store, host, port), stdout=log, stderr=subprocess.STDOUT,
                                    env={**os.environ, **SERVER_ENV},
                                    start_new_session=True,  # its own group: stopped with its workers
                                    preexec_fn=_die_with_parent)
            try:
                if meanwhile is not None:
                    meanwhile()
                    meanwhile = None
                _wait_until_up(proc, uri, store)
                break
            except BaseException as err:  # it never answered, `meanwhile` failed, or Ctrl+C: it goes
                _stop_server(proc)
                if isinstance(err, TrackingError) and attempt < PORT_ATTEMPTS and _lost_its_port(log_path, logged):
                    continue
                log.close()
                raise
    try:
        print(f"pm2gan: MLflow tracking server at {uri} (store: {store})", flush=True)
        yield uri
    finally:
        _stop_server(proc)
        log.close()


PORT_ATTEMPTS = 3


def _lost_its_port(log_path: Path, since: int) -> bool:
    """Whether the server whose output begins at byte `since` of its log exited because its port
    was taken."""
    with open(log_path, "rb") as log:
        log.seek(since)
        return b"address already in use" in log.read()


def _stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (it and its workers), SIGKILL after 15 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 15)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=15)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait()


def refuse_foreign_store(store: Path) -> None:
    """Raise TrackingError when `store/mlflow.db` exists but is not an MLflow store (empty,
    truncated, another program's file): a server would take it for a new store, and every run
    recorded before would vanish from the UI with its artifacts left behind. An empty file in a
    store without artifacts (a first start cut off) holds nothing to lose, and is let through."""
    db = store / "mlflow.db"
    if not db.exists():
        return
    artifacts = store / "artifacts"
    has_artifacts = artifacts.is_dir() and any(artifacts.iterdir())
    if db.stat().st_size == 0 and not has_artifacts:
        return
    problem = _not_mlflow_s(db)
    if problem:
        left = f", their artifacts left behind in {artifacts}/" if has_artifacts else ""
        raise TrackingError(f"the tracking store {db} {problem}: pm2gan will not start a new store over it (the runs "
                            f"recorded there would vanish from the UI{left}). Restore the file, or move {store}/ away "
                            "to start an empty one.")


def _not_mlflow_s(db: Path) -> str | None:
    """What makes the file `db` no MLflow store, or None when it may be one."""
    import sqlite3

    with open(db, "rb") as file:
        header = file.read(16)
    if not header:
        return "is empty (0 bytes)"
    if header != b"SQLite format 3\0":
        return "is not an SQLite database (it does not begin with SQLite's header)"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.OperationalError:
        # SQLite's file, unreadable read-only: most often the journal of a transaction a killed server
        # left half done (rolled back at the next write access, the server's); else a live writer's
        # lock or the file's permissions, which the server's start reports in its log.
        return None
    except sqlite3.DatabaseError as err:  # a damaged file
        return f"is not an SQLite database ({err})"
    return None if {"alembic_version", "experiments", "runs"} <= tables else "is an SQLite file without MLflow's tables"


def _die_with_parent() -> None:
    """In the server's process, before it starts: ask Linux to send it SIGTERM when the stage
    that started it dies, even by SIGKILL (uvicorn, serving in that process, stops on SIGTERM).
    Elsewhere the server is stopped by the `finally` below, which SIGKILL skips."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_until_up(proc: subprocess.Popen, uri: str, store: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise TrackingError(f"local MLflow server exited with code {proc.returncode}; see {store / 'server.log'}")
        try:
            check_server(uri, timeout_s=1.0)
            return
        except TrackingError:
            if time.monotonic() > deadline:
                os.killpg(proc.pid, 9)
                raise TrackingError(f"local MLflow server did not answer within {SERVER_START_TIMEOUT_S}s; "
                                    f"see {store / 'server.log'}") from None
            time.sleep(0.3)


class Interrupted(RuntimeError):
    """Raised inside `run()` to end the run KILLED (it can be resumed) rather than FAILED."""


def client(uri: str):
    from mlflow import MlflowClient

    # MLflow prints a "View run" URL for every run it ends: dozens of lines per sweep.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    for key, value in CLIENT_ENV.items():
        os.environ.setdefault(key, value)

    return MlflowClient(tracking_uri=uri)


# MLflow 3's UI opens an experiment in the view of its kind; untagged, it guesses, and guessed
# pm2gan's experiments to be GenAI ones (traces, prompts). The tag is what its kind selector writes.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def experiment_id(uri: str, name: str) -> str:
    """The experiment `name` (made, or restored when deleted), marked as a model-training one."""
    c = client(uri)
    found = c.get_experiment_by_name(name)
    if found is None:
        return c.create_experiment(name, tags=EXPERIMENT_KIND)
    if found.lifecycle_stage == "deleted":
        c.restore_experiment(found.experiment_id)
    for key, value in EXPERIMENT_KIND.items():
        if found.tags.get(key) != value:
            c.set_experiment_tag(found.experiment_id, key, value)
    return found.experiment_id


# A saved view of MLflow 3's runs table (the *Views* menu; `?viewStateShareKey=<id>` opens it) is an
# experiment tag `mlflow.sharedViewState.<id>` holding {name, createdAt, updatedAt, state}, `state`
# the table's view as JSON (the UI writes it deflated, and reads plain JSON too). The fields below
# are those MLflow 3.17's UI writes when a person saves a view; the browser test opens one.
VIEW_TAG_PREFIX = "mlflow.sharedViewState."


def view_tag(view_id: str) -> str:
    return VIEW_TAG_PREFIX + view_id


def save_view(uri: str, experiment: str, view_id: str, name: str, columns: list[str], search: str = "") -> None:
    """Save the runs-table view `view_id`, titled `name`, on `experiment`: the runs that match
    `search` (MLflow's search syntax), showing `columns` in that order, right of the run's name (the UI's column keys: ``attributes.`Dataset` ``, ``params.`hparams.lr` ``,
    ``metrics.`eval/recon_mse` ``), each wide enough for its name (the UI's default cuts
    `eval/fitted_marginals/modes` and `eval/fitted_marginals/frechet` to the same `eval/fitted_m`)."""
    widths = {c: max(110, 7 * len(c.split("`")[1]) + 40) for c in columns if not c.startswith("attributes.")}
    state = {"searchFilter": search, "orderByKey": "attributes.start_time", "orderByAsc": False, "startTime": "ALL",
             "lifecycleFilter": "Active", "datasetsFilter": [], "modelVersionFilter": "All Runs",
             "selectedColumns": columns, "columnOrder": columns, "columnWidths": widths,
             "runsHiddenMode": "FIRST_10_RUNS",
             "viewMaximized": False, "runListHidden": False, "isAccordionReordered": False,
             "useGroupedValuesInCharts": True, "hideEmptyCharts": True, "groupBy": None, "groupsExpanded": {},
             "globalLineChartConfig": {"xAxisKey": "step", "lineSmoothness": 0, "selectedXAxisMetricKey": ""}}
    from mlflow.utils.validation import MAX_EXPERIMENT_TAG_VAL_LENGTH  # 20,000 characters in MLflow 3.17

    now = int(time.time() * 1000)
    envelope = {"name": name, "createdAt": now, "updatedAt": now, "state": json.dumps(state)}
    if len(json.dumps(envelope)) > MAX_EXPERIMENT_TAG_VAL_LENGTH:  # as the UI stores it: zlib, base64
        envelope["state"] = "deflate;" + base64.b64encode(zlib.compress(envelope["state"].encode())).decode()
    client(uri).set_experiment_tag(experiment, view_tag(view_id), json.dumps(envelope))


def dataset_input(name: str, version: str, source: str, splits: dict[str, int], shape: tuple) -> Any:
    """A trial's data as an MLflow dataset input: its name, the data version as its digest, the
    file it was read from, and its splits' sizes (the UI's Dataset column and dataset view)."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    dataset = Dataset(name=name, digest=version[:36] or "unknown", source_type="local",
                      source=json.dumps({"uri": source}), schema=json.dumps({"shape": list(shape)}),
                      profile=json.dumps({f"{split}_examples": n for split, n in splits.items()}))
    return DatasetInput(dataset=dataset, tags=[InputTag(key="mlflow.data.context", value="training")])


@contextlib.contextmanager
def run(uri: str, experiment: str, name: str | None = None, tags: dict[str, str] | None = None,
        run_id: str | None = None) -> Iterator[str]:
    """Open a run (or reopen `run_id`) and yield its id; it ends FINISHED when the block
    completes, KILLED on Ctrl+C or `Interrupted`, FAILED (error in the `error` tag) otherwise."""
    c = client(uri)
    if run_id is None:
        run_id = c.create_run(experiment, run_name=name, tags=tags or {}).info.run_id
    else:
        c.update_run(run_id, "RUNNING")
        for key, value in (tags or {}).items():
            c.set_tag(run_id, key, value)
    try:
        yield run_id
    except (KeyboardInterrupt, Interrupted):
        _end(c, uri, run_id, "KILLED")
        raise
    except BaseException as err:
        _end(c, uri, run_id, "FAILED", err)
        raise
    c.set_terminated(run_id, "FINISHED")


def _end(c, uri: str, run_id: str, status: str, error: BaseException | None = None) -> None:
    """End a run on a failure path: never let a second error (a server that is gone) hide the
    first, nor wait for the client's retries when the server does not answer at all."""
    if not answers(uri):
        return
    with contextlib.suppress(Exception):
        if error is not None:
            c.set_tag(run_id, "error", f"{type(error).__name__}: {error}"[:5000])
        c.set_terminated(run_id, status)


def log_values(uri: str, run_id: str, metrics: dict[str, float] | None = None, params: dict[str, Any] | None = None,
               tags: dict[str, str] | None = None, step: int = 0) -> None:
    """Metrics, params and tags in batches (MLflow takes at most 1,000 metrics and 100 params a call)."""
    from mlflow.entities import Metric, Param, RunTag

    c, now = client(uri), int(time.time() * 1000)
    points = [Metric(k, float(v), now, step) for k, v in (metrics or {}).items()]
    for i in range(0, len(points), 1000):
        c.log_batch(run_id, metrics=points[i:i + 1000])
    values = [Param(k, str(v)[:6000]) for k, v in (params or {}).items()]
    for i in range(0, len(values), 100):
        c.log_batch(run_id, params=values[i:i + 100])
    if tags:
        c.log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in tags.items()])


def log_files(uri: str, run_id: str, files: dict[str, Any], artifact_path: str | None = None) -> None:
    """Write {name: text | bytes | matplotlib Figure | existing Path} as artifacts of a run."""
    from pipeline.files import figures

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


# --------------------------------------------------------------------------- sweeps


def unfinished_sweep(uri: str, experiment: str, sweep: str, trials_experiment: str) -> str | None:
    """The parent run of an interrupted sweep named `sweep`, or None. The trial runs that the
    interruption left RUNNING under it are marked KILLED, so that only live trials show as running."""
    c = client(uri)
    found = c.search_runs([experiment], f"tags.sweep = '{sweep}' and attributes.status != 'FINISHED'", max_results=1)
    if not found:
        return None
    parent = found[0].info.run_id
    _kill_trial_runs(c, trials_experiment, parent)
    return parent


DRIVER_TAG = "driver"  # on a sweep's run: the machine and project folder whose study lock it held


def close_abandoned_sweeps(uri: str, experiment: str, keep: str, trials_experiment: str, driver: str) -> None:
    """Sweeps of this study left RUNNING by a process that died without a word (SIGKILL, power
    loss): called while holding the study's lock, so no other sweep of it is alive *that held the
    same lock*, the one of `driver` (a machine and project folder). A sweep another machine or
    checkout runs against a shared tracking server is not this lock's to judge, and is left alone.
    They end KILLED, tagged `abandoned`, with the trial runs they left RUNNING; a later run of the
    same trials, data and code still resumes them."""
    c = client(uri)
    for parent in c.search_runs([experiment], "tags.kind = 'sweep' and attributes.status = 'RUNNING'"):
        if parent.info.run_id == keep or parent.data.tags.get(DRIVER_TAG, driver) != driver:
            continue
        _kill_trial_runs(c, trials_experiment, parent.info.run_id)
        c.set_tag(parent.info.run_id, "outcome", "abandoned")
        c.set_terminated(parent.info.run_id, "KILLED")


def _kill_trial_runs(c, trials_experiment: str, sweep_run: str) -> None:
    for trial in c.search_runs([trials_experiment], f"tags.{SWEEP_RUN_TAG} = '{sweep_run}' and "
                                                    "attributes.status = 'RUNNING'", max_results=1000):
        c.set_terminated(trial.info.run_id, "KILLED")


# --------------------------------------------------------------------------- trial runs

SWEEP_RUN_TAG = "sweep_run"  # on a trial's run: the sweep run that last opened it to record
CHECKPOINT_TAG = "checkpoint"  # "logged" once the run holds its trained model under checkpoint/


def runs_tagged(uri: str, experiment: str, key: str) -> list[Any]:
    """The runs of `experiment` that carry tag `key`, oldest first."""
    c, out, token = client(uri), [], None
    while True:
        page = c.search_runs([experiment], f"tags.`{key}` != ''", max_results=1000, page_token=token,
                             order_by=["attributes.start_time ASC"])
        out += page
        token = page.token
        if not token:
            return out


def create_trial_run(uri: str, experiment: str, name: str, tags: dict[str, str], params: dict[str, str],
                     dataset: Any = None) -> str:
    """A trial's run, made before its trial starts: its config as params, its data as a dataset
    input. It waits SCHEDULED until its trial opens it (`TrialRun`)."""
    c = client(uri)
    run_id = c.create_run(experiment, run_name=name, tags=tags).info.run_id
    log_values(uri, run_id, params=params)
    if dataset is not None:  # `dataset_input()`
        _log_input(c, run_id, dataset)
    c.update_run(run_id, "SCHEDULED")
    return run_id


def untag_runs(uri: str, run_ids: set[str], key: str) -> None:
    """Delete tag `key` from each of `run_ids`."""
    c = client(uri)
    for run_id in sorted(run_ids):
        c.delete_tag(run_id, key)


def tag_runs(uri: str, tags: dict[str, dict[str, str]]) -> None:
    """{run id: {tag: value}}: one call per run."""
    from mlflow.entities import RunTag

    c = client(uri)
    for run_id, values in tags.items():
        c.log_batch(run_id, tags=[RunTag(k, str(v)[:5000]) for k, v in values.items()])


def _log_input(c, run_id: str, dataset: Any, tries: int = 3) -> None:
    """Log a dataset input. MLflow's server makes a dataset row on its first use without a lock:
    trials that start together on a new dataset collide on its unique key (SQLite's "UNIQUE
    constraint failed", seen with concurrent trials); the next try finds the row the winner made."""
    from mlflow.exceptions import MlflowException

    for attempt in range(tries):
        try:
            c.log_inputs(run_id, datasets=[dataset])
            return
        except MlflowException as err:
            if "unique constraint" not in str(err).lower() or attempt == tries - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


class TrialRun:
    """A trained trial's run (`create_trial_run`), opened by the trial that records into it: its
    curves, final metrics, images and checkpoint go there.

    Metric points are buffered and sent in batches (one HTTP call per flush, not per
    metric), so logging costs the training loop next to nothing. A trial that goes on after an
    interruption, or a new evaluation of a stored training, opens the same run again: one run per
    trained trial.
    """

    FLUSH_EVERY_S = 5.0

    def __init__(self, uri: str, run_id: str, tags: dict[str, str] | None = None,
                 append: dict[str, str] | None = None):
        """Open run `run_id` to record; `tags` are set, `append`'s values added to the end of
        their tags' comma-separated lists (the nodes a training ran on: a trial that goes on
        elsewhere after its node was lost keeps the first one named)."""
        from mlflow.entities import Metric

        self._Metric = Metric
        self.uri, self.run_id = uri, run_id
        self.client = client(uri)
        self.client.update_run(run_id, "RUNNING")
        earlier = self.client.get_run(run_id).data.tags
        if "error" in earlier:  # an earlier attempt's failure no longer stands
            self.client.delete_tag(run_id, "error")
        tags = dict(tags or {})
        for key, value in (append or {}).items():
            listed = [v for v in earlier.get(key, "").split(", ") if v]
            tags[key] = ", ".join(listed if listed and listed[-1] == value else [*listed, value])
        if tags:
            log_values(uri, run_id, tags=tags)
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

    def finish(self, step: int, outcome: str, metrics: dict[str, float | None], files: dict[str, Any],
               checkpoint: Path | None, tags: dict[str, str]) -> None:
        """The final metrics (None: not applicable, listed in a tag), `files` as artifacts, the
        checkpoint (when given) under checkpoint/, `tags`, and the run FINISHED."""
        self.flush()
        log_values(self.uri, self.run_id, {k: v for k, v in metrics.items() if v is not None}, step=step)
        if checkpoint is not None:
            self.client.log_artifact(self.run_id, str(checkpoint), "checkpoint")
            tags = {**tags, CHECKPOINT_TAG: "logged"}
        log_files(self.uri, self.run_id, files)
        na = sorted(k for k, v in metrics.items() if v is None)
        log_values(self.uri, self.run_id, tags={"outcome": outcome, "not_applicable": ", ".join(na), **tags})
        self.client.set_terminated(self.run_id, "FINISHED")

    def fail(self, error: BaseException) -> None:
        if not answers(self.uri):
            return  # the run stays as the server last saw it; the study says how to resume
        with contextlib.suppress(Exception):
            self.flush()
            self.client.set_tag(self.run_id, "outcome", "error")
        _end(self.client, self.uri, self.run_id, "FAILED", error)
