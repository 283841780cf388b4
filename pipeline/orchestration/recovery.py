"""Running a sweep to its end through what a cluster loses, and taking up an interrupted one,
from the sweep's own files only.

Tune can restore an experiment from its storage, but its saved state is pickled (tuner.pkl,
the cloudpickled fields of experiment_state-*.json, error.pkl): restoring runs whatever code
that storage holds, and on a cluster the storage is a shared folder or bucket. So pm2gan never
asks Tune to restore. What a sweep needs to go on is in files that cannot carry code: each
trial's checkpoints (`torch.load(weights_only=True)`) and a finished trial's result.json
(validated JSON), assessment.npz (no pickles) and samples (`np.load`, no pickles). `harvest`
reads those; the sweep then runs a fresh Tuner over the trials still to do, each going on from
its last checkpoint.

Each run of a sweep's Tuner (its first, after a resume, after a node was lost) writes a folder
of its own in Tune's storage: `<sweep>` then `<sweep>.2`, `<sweep>.3`, ... (`round_folders`).
"""
from __future__ import annotations

import io
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from pipeline.settings.trials import TrialConfig
from pipeline.training.fit import CHECKPOINT_FILE, is_trained
from pipeline.trial.results import TrialResult

MAX_RECOVERIES = 3  # rounds of going on after lost nodes: a cluster losing more is not one to finish on


@dataclass
class TrialError:
    name: str  # the trial's folder in Tune's storage
    message: str
    node_lost: bool  # the trial died with its node (or its worker process), not of its own exception
    trial_id: str = ""  # pm2gan's id of the trial (TrialConfig.trial_id)


@dataclass
class Harvest:
    """What a sweep's folders hold: finished trials (their final checkpoint folder, which the trial
    store keeps) and, for unfinished ones, the bytes of the latest intermediate checkpoint."""

    finished: dict[str, TrialResult] = field(default_factory=dict)  # trial_id -> its result (kept by `keep`)
    resume: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # trial_id -> (step, checkpoint.pt bytes)


def round_folders(path: str) -> list[str]:
    """The folders the sweep at `path` has written, one per run of its Tuner, oldest first."""
    fs, root = _filesystem(path)
    from pyarrow import fs as pafs

    parent, name = root.rsplit("/", 1) if "/" in root else ("", root)
    try:
        listed = fs.get_file_info(pafs.FileSelector(parent or ".", allow_not_found=True))
    except OSError:
        return []
    rounds = []
    for info in listed:
        base = info.path.rsplit("/", 1)[-1]
        suffix = base[len(name):]
        if info.type == pafs.FileType.Directory and base.startswith(name) and (suffix == "" or (
                suffix.startswith(".") and suffix[1:].isdigit())):
            rounds.append((int(suffix[1:] or 1), info.path))
    prefix = path.split("://", 1)[0] + "://" if "://" in path else ""
    return [prefix + p for _, p in sorted(rounds)]


def remove_rounds(path: str) -> None:
    """Delete the sweep's folders in a local storage: once its results are written and its trials
    are in the trial store, nothing reads them again, and each one holds every trial's last
    checkpoint (left, they filled 26 GB of a development machine's disk). A bucket or a shared
    folder given as a URI is left to its owner."""
    if "://" in path:
        return
    for folder in round_folders(path):
        shutil.rmtree(folder, ignore_errors=True)


def next_round(path: str) -> str:
    """The Tune experiment name of the sweep's next run: `<sweep>`, then `<sweep>.2`, ..."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    done = len(round_folders(path))
    return name if done == 0 else f"{name}.{done + 1}"


def harvest(path: str, trials: dict[str, TrialConfig], keep=None, since: int = 0) -> Harvest:
    """Read the sweep's folders (all of them, or those of its runs from `since` on): every
    finished trial of `trials` (`keep(result, folder)` sees its final checkpoint folder, as in
    `collect`), and the latest checkpoint of each unfinished one. Files that do not parse, or
    whose trial is not one of `trials`, are passed over, never trusted."""
    out = Harvest()
    for folder in round_folders(path)[since:]:
        with _local(folder) as local:
            for checkpoint in sorted(local.glob("*/checkpoint_*/" + CHECKPOINT_FILE)):
                _take(checkpoint.parent, trials, out, keep)
    for trial_id in out.finished:
        out.resume.pop(trial_id, None)
    return out


def _take(folder: Path, trials: dict[str, TrialConfig], out: Harvest, keep=None) -> None:
    try:
        blob = (folder / CHECKPOINT_FILE).read_bytes()
        ckpt = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)  # data, never code
        trial_id = TrialConfig.from_dict(ckpt["config"]).trial_id
    except Exception:  # noqa: BLE001 - a truncated or foreign file: nothing to go on from
        return
    if trial_id not in trials or TrialConfig.from_dict(ckpt["config"]).to_dict() != trials[trial_id].to_dict():
        return
    if is_trained(ckpt):
        try:
            result = TrialResult.load(folder)
        except Exception:  # noqa: BLE001 - a final checkpoint without a readable result: train it again
            result = None
        if result is not None and trial_id not in out.finished:
            out.finished[trial_id] = result
            if keep is not None:
                keep(result, folder)
        return
    step = int(ckpt["step"])
    if trial_id not in out.resume or out.resume[trial_id][0] < step:
        out.resume[trial_id] = (step, blob)


class _local:
    """A local folder holding `folder` (itself, or a temporary copy of a remote one's checkpoints)."""

    def __init__(self, folder: str):
        self.folder, self._tmp = folder, None

    def __enter__(self) -> Path:
        if "://" not in self.folder:
            return Path(self.folder)
        from pyarrow import fs as pafs

        self._tmp = tempfile.TemporaryDirectory()
        pafs.copy_files(self.folder, self._tmp.name)
        return Path(self._tmp.name)

    def __exit__(self, *exc) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _filesystem(path: str):
    from pyarrow import fs as pafs

    if "://" in path:
        return pafs.FileSystem.from_uri(path)
    return pafs.LocalFileSystem(), str(Path(path).resolve())


def lost_with_its_node(error: BaseException) -> bool:
    """A trial whose actor died (its node or worker process gone) rather than one that raised:
    Tune hands over the actor's death as it is, a raised exception wrapped in a RayTaskError."""
    from ray.exceptions import ActorUnavailableError, NodeDiedError, RayActorError, RayTaskError

    raised = isinstance(error, RayTaskError) or getattr(error, "actor_init_failed", False)  # died raising in __init__
    return isinstance(error, (RayActorError, NodeDiedError, ActorUnavailableError)) and not raised


def fit_sweep(sweep, datasets: dict, classifiers: dict, keep=None) -> tuple[list, list, list]:
    """Run the sweep to its end, going on after what a cluster loses: trials whose node died (a
    machine lost, a spot instance reclaimed) go on from their last checkpoints on the nodes that
    are left, once every other trial is done, in a fresh run of the Tuner (Tune's own retry,
    `max_failures`, would also retry a trial that raised, as often as it is allowed). A trial
    whose checkpoint is gone starts again from scratch. A trial that raised stops the study: it
    would raise again (its MLflow run holds the error)."""
    todo = list(sweep.trials)
    results: list[TrialResult] = []
    for attempt in range(MAX_RECOVERIES + 1):
        first_round = len(round_folders(sweep.path))
        found, unfinished, errors = collect(sweep.tuner(datasets, classifiers, todo).fit(), keep)
        results += found
        lost = [e for e in errors if e.node_lost]
        if not errors or len(lost) < len(errors) or attempt == MAX_RECOVERIES:
            break
        print(f"pm2gan: {len(lost)} trials were lost with their Ray node ({', '.join(e.name for e in lost)}): "
              "they go on from their last checkpoints on the nodes that are left", flush=True)
        again = {e.trial_id for e in lost}
        todo = [t for t in sweep.trials if t.trial_id in again]
        sweep.take_up(harvest(sweep.path, {t.trial_id: t for t in todo}, keep, since=first_round))
    return in_table_order(results), unfinished, [e.message for e in errors]


def in_table_order(results: list[TrialResult]) -> list[TrialResult]:
    """A sweep's results as results/<study>/ lists them, whatever order they finished in."""
    return sorted(results, key=lambda r: (r.trial.model, r.variant, r.trial.dataset, r.trial.seed))


def collect(grid, keep=None) -> tuple[list[TrialResult], list[str], list[TrialError]]:
    """(results, unfinished, errors) from Tune's ResultGrid: each finished trial's result
    (with its samples); the trials that never finished (interrupted); the trials that failed.
    `keep(result, folder)` sees each finished trial's final checkpoint folder."""
    results, unfinished, errors = [], [], []
    for r in grid:
        trial_id = TrialConfig.from_dict(r.config["trial"]).trial_id if r.config and "trial" in r.config else ""
        if r.error is not None:
            errors.append(TrialError(Path(r.path).name, f"{r.path}: {r.error}", lost_with_its_node(r.error), trial_id))
            continue
        if r.checkpoint is None:
            unfinished.append(str(r.path))
            continue
        with r.checkpoint.as_directory() as folder:
            result = TrialResult.load(Path(folder))
            if result is not None and keep is not None:
                keep(result, Path(folder))
        if result is None:  # an intermediate checkpoint: cut off mid-training
            unfinished.append(str(r.path))
            continue
        results.append(result)
    return results, unfinished, errors
