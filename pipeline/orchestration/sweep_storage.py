"""Where a sweep keeps its state: Tune's storage folder (or bucket), the sweep's name (its trials,
data and code: a change starts a new sweep instead of resuming an old one), the lock that
keeps one live run per study on a machine, and the check that the folders it writes can be."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path

from pipeline.settings.config import Config, ConfigError
from pipeline.settings.trials import TrialConfig


class SweepError(RuntimeError):
    pass


STORAGE_ENV = "PM2GAN_STORAGE_PATH"


class NotWritable(SweepError):
    """A folder the sweep will write into cannot be written: found before any work is done."""


def check_writable(folder: Path, what: str) -> None:
    """Raise NotWritable unless files can be made in `folder`, or, where it does not exist yet, in
    the folder it would be made in: asked before a sweep trains, so an output that cannot be
    written is said in one line, not after the work. It leaves nothing behind."""
    folder = Path(folder).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise NotWritable(f"{what} {folder}/ cannot be written ({existing}: a file is in the way): "
                          "nothing was run; move what is in the way")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".pm2gan-probe-", dir=existing))
    except OSError as err:
        raise NotWritable(f"{what} {folder}/ cannot be written ({existing}: {err.strerror or err}): "
                          "nothing was run; fix its permissions or move what is in the way") from None


def storage_path(cfg: Config) -> str:
    """Tune needs an absolute path; URIs (s3://, gs://) pass unchanged. PM2GAN_STORAGE_PATH, when
    set, stands for resources.storage_path: where the storage is changes no result, so a cluster
    job (`pm2gan submit --storage`) sets it without touching params.yaml, a dependency of every
    study stage."""
    from_env = os.environ.get(STORAGE_ENV)
    configured = from_env or cfg.resources.storage_path
    if "://" in configured:
        return configured
    path = Path(configured).resolve()
    if path.exists() and not path.is_dir():
        problem = f"{path} is a file; it must be a folder (or not exist yet)"
        if from_env:
            raise ConfigError(STORAGE_ENV, "", problem)  # a setting, like params.yaml's
        raise ConfigError(cfg.file, "resources.storage_path", problem)
    return str(path)


def sweep_name(study: str, trials: list[TrialConfig], data_versions: dict[str, str], code: str) -> str:
    """A sweep is its trials *and* the data and code they train on: a changed data file or a
    new commit starts a new sweep instead of resuming (and republishing) an old one."""
    identity = {"trials": [t.trial_id for t in trials], "data": data_versions, "code": code}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    return f"{study}-{digest}"


LOCK_DIR = Path(".pm2gan") / "locks"


@contextlib.contextmanager
def study_lock(study: str):
    """One live run per study on this machine (where `dvc repro` and `ray job submit` drivers
    run): a second run would otherwise resume the live sweep and train its trials again."""
    from filelock import FileLock, Timeout

    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    lock = FileLock(LOCK_DIR / f"{study}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise SweepError(f"study {study} is already running in another process (lock {lock.lock_file}); "
                         "wait for it to finish, or stop it first") from None
    try:
        yield
    finally:
        lock.release()
