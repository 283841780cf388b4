"""DVC stages on a Ray cluster, as a Ray job, with their outputs brought back here.

    pm2gan submit STAGE ...   (here)   package this working tree, run the job, follow its log,
                                       then restore the stages' outputs and dvc.lock from the
                                       DVC remote's run cache: nothing trains here
    pm2gan job STAGE ...      (head)   the job's entrypoint: dvc repro --pull, dvc push --run-cache

Why a DVC remote and its run cache: the job writes into Ray's unpacked copy of the working
tree on the head, which nothing here can see; DVC's run cache records each stage run by the
hashes of its command, dependencies and params, so the same stage here (same commit, same
params.yaml) finds the cluster's run and checks its outputs out instead of running it.

Why .git travels with the job: DVC refuses to run outside a git repository, and Ray 2.60
leaves `.git` out of a working-dir package by default (RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES
puts it back; the other default excludes, virtual envs and __pycache__, stay out).
"""
from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

from pipeline.orchestration.sweep_storage import STORAGE_ENV, SweepError
from pipeline.settings.config import Config, ConfigError
from pipeline.trial.store import STORE_ENV

REMOTE_ENV = "PM2GAN_DVC_REMOTE_URL"  # the DVC remote the job pushes to (a remote in config.local does not travel)
RESTORE_ONLY_ENV = "PM2GAN_RESTORE_ONLY"  # set while `submit` restores: a stage that would compute here refuses
JOB_REMOTE = "pm2gan-cluster"  # the name the job gives that remote in its own copy
DEFAULT_EXCLUDES = ".venv,venv,__pycache__"  # Ray's own defaults, less .git
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


class ClusterError(SweepError):
    """The cluster or its job failed (exit 1)."""


class ClusterSetupError(ClusterError):
    """What `submit` or the job was given cannot work: a missing setting, remote or token (exit 2)."""

    exit_code = 2


# --------------------------------------------------------------------------- here: what the job needs


def dvc_remote_url(name: str | None) -> tuple[str, str]:
    """(name, url) of the DVC remote `name`, or of the default remote; a local path made absolute.

    Read from `dvc config --list --show-origin`, one `key=value` a line: `dvc remote list` prints a
    table that DVC wraps at the terminal's width, and cut a long URL in two (a remote under a
    test's folder was lost that way)."""
    listed = subprocess.run(["dvc", "config", "--list", "--show-origin"], capture_output=True, text=True,
                            check=True).stdout
    settings: dict[str, tuple[str, str]] = {}  # key -> (value, the config file it comes from); later levels win
    for line in listed.splitlines():
        origin, _, setting = line.partition("\t")
        key, equals, value = setting.partition("=")
        if equals:
            settings[key.strip()] = (value.strip(), origin.strip())
    remotes = {key[len("remote."):-len(".url")]: found for key, found in settings.items()
               if key.startswith("remote.") and key.endswith(".url")}
    if name is None:
        name = settings.get("core.remote", ("", ""))[0] or None
    if name is None:
        raise ClusterSetupError("no DVC remote to bring the job's outputs back through: add one that both this machine "
                           "and the cluster's head reach (`dvc remote add -d cluster s3://bucket/pm2gan`, or a "
                           "shared folder), or name one with --remote")
    if name not in remotes:
        raise ClusterSetupError(f"no DVC remote named {name!r} (remotes: {', '.join(remotes) or 'none'})")
    url, origin = remotes[name]
    if "://" not in url and not os.path.isabs(url):  # DVC reads a relative path from its config file's folder
        url = str((Path(origin).parent / url).resolve())
    return name, url


def job_env(tracking_uri: str, storage: str, remote_url: str) -> dict[str, str]:
    # The trial store, when set here, names a folder on the head that outlives jobs; unset, each
    # job keeps its trained trials in its own working tree, reused within that job only.
    store = {STORE_ENV: os.environ[STORE_ENV]} if os.environ.get(STORE_ENV) else {}
    return {"MLFLOW_TRACKING_URI": tracking_uri, STORAGE_ENV: storage, REMOTE_ENV: remote_url, **store}


def _check_stages(cfg: Config, names: list[str]) -> None:
    from pipeline.orchestration import stages

    stages.check(cfg)
    known = stages.stages(cfg)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(stages.DVC_FILE, f"stages.{unknown[0]}", f"no such stage (stages: {', '.join(known)})")


def submit(cfg: Config, names: list[str], address: str | None, storage: str | None, remote: str | None,
           tracking_uri: str | None, wait: bool = True, poll_s: float = 2.0) -> str:
    """Submit `pm2gan job NAMES` to the Ray cluster at `address`; with `wait`, follow its log and,
    when it succeeds, restore its outputs here. Returns the job's id."""
    from ray.job_submission import JobSubmissionClient

    _check_stages(cfg, names)
    address = address or os.environ.get("RAY_ADDRESS")
    tracking_uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    storage = storage or os.environ.get(STORAGE_ENV)
    missing = [what for what, value in (("--address (or RAY_ADDRESS): the head's dashboard, http://HEAD:8265", address),
                                        ("--tracking-uri (or MLFLOW_TRACKING_URI): the MLflow server every node "
                                         "logs to", tracking_uri),
                                        (f"--storage (or {STORAGE_ENV}): Tune's storage, a folder every node "
                                         "shares (NFS) or an s3:// URI", storage)) if not value]
    if missing:
        raise ClusterSetupError("a cluster job needs " + "; ".join(missing))
    _, remote_url = dvc_remote_url(remote)
    params = Path(cfg.file).resolve()
    if not params.is_relative_to(Path.cwd().resolve()):
        raise ClusterSetupError(f"{cfg.file} is outside this working tree, and only the working tree travels with the job")
    job_id = f"pm2gan-{'-'.join(names)}-{time.strftime('%Y%m%d-%H%M%S')}"
    entrypoint = shlex.join(["pm2gan", "--params", str(params.relative_to(Path.cwd().resolve())), "job", *names])
    with _cluster_errors(address):
        client = JobSubmissionClient(address)
        with _packaging_with_git():
            client.submit_job(entrypoint=entrypoint, submission_id=job_id,
                              runtime_env={"working_dir": ".", "env_vars": job_env(tracking_uri, storage, remote_url)})
    print(f"pm2gan: submitted job {job_id} to {address}: {entrypoint}", flush=True)
    if not wait:
        print(f"pm2gan: follow it with `ray job logs -f {job_id}`; when it has succeeded, `dvc repro --pull "
              f"{' '.join(names)}` here restores its outputs", flush=True)
        return job_id
    status = _follow(client, job_id, poll_s)
    if status != "SUCCEEDED":
        info = client.get_job_info(job_id)
        raise ClusterError(f"job {job_id} {status.lower()}: {info.message or 'see its log above'}. Nothing was "
                           "restored here; submitting again resumes an interrupted sweep under its MLflow run.")
    restore(names)
    return job_id


@contextlib.contextmanager
def _cluster_errors(address: str):
    """An unreachable cluster, or one that refuses this machine's token (none, or not its own), as one line."""
    from ray.exceptions import AuthenticationError

    try:
        yield
    except AuthenticationError as err:
        raise ClusterSetupError(f"the Ray cluster at {address} refused this machine: {str(err).split('. ')[0]}. Set "
                           "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or ~/.ray/auth_token) to the cluster's token "
                           "(`ray get-auth-token` on the head).") from None
    except (ConnectionError, RuntimeError) as err:
        raise ClusterError(f"cannot reach the Ray cluster at {address}: {err}") from None


@contextlib.contextmanager
def _packaging_with_git():
    """Ray's default excludes less .git, while Ray packages the working tree (it reads them then)."""
    previous = os.environ.get("RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES")
    os.environ["RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES"] = DEFAULT_EXCLUDES
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES")
        else:
            os.environ["RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES"] = previous


def _follow(client, job_id: str, poll_s: float) -> str:
    """Print the job's log as it grows; its final status. Ctrl+C stops following, not the job."""
    shown = 0
    try:
        while True:
            status = str(client.get_job_status(job_id).value)
            log = client.get_job_logs(job_id)
            if len(log) > shown:
                print(log[shown:], end="", flush=True)
                shown = len(log)
            if status in TERMINAL:
                return status
            time.sleep(poll_s)
    except KeyboardInterrupt:
        print(f"\npm2gan: stopped following; job {job_id} goes on (`ray job logs -f {job_id}`, `ray job stop "
              f"{job_id}`)", file=sys.stderr, flush=True)
        raise SystemExit(130) from None


def restore(names: list[str]) -> None:
    """The stages' outputs and dvc.lock from the remote's run cache; nothing is computed here."""
    print(f"pm2gan: restoring {', '.join(names)} from the DVC remote's run cache", flush=True)
    subprocess.run(["dvc", "repro", "--pull", *names], env={**os.environ, RESTORE_ONLY_ENV: "1"}, check=True)
    print("pm2gan: the job's outputs are here; commit dvc.lock to keep them (`git add dvc.lock`)", flush=True)


def refuse_to_compute(command: str) -> None:
    """Called by the commands that train or fetch: under `submit`'s restore they must not run."""
    if os.environ.get(RESTORE_ONLY_ENV):
        raise ClusterSetupError(f"`pm2gan {command}` would compute here: the DVC remote's run cache has no run of this "
                           "stage with these inputs (params.yaml, code or data changed after submitting, or the job "
                           "did not push). Submit the stage again.")


# --------------------------------------------------------------------------- on the head: the job itself


def run_job(names: list[str]) -> None:
    """The job's entrypoint: the stages, reusing what the remote already holds, then the run cache pushed."""
    url = os.environ.get(REMOTE_ENV)
    if not url:
        raise ClusterSetupError(f"{REMOTE_ENV} is not set: `pm2gan job` is what `pm2gan submit` runs on the cluster")
    steps = [["dvc", "remote", "add", "--local", "--force", "--default", JOB_REMOTE, url],
             ["dvc", "repro", "--pull", *names],
             ["dvc", "push", "--run-cache", "--remote", JOB_REMOTE]]
    for step in steps:
        print(f"pm2gan job: {shlex.join(step)}", flush=True)
        subprocess.run(step, check=True)
