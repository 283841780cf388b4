"""Running a sweep to its end through what a cluster loses, and reading what it left: trials
lost with their node go on from their checkpoints, trials whose checkpoint is gone start again,
an interrupted sweep's saved state is resumed only when Tune can read it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .results import TrialResult

LOST_CHECKPOINT = "Could not recover from checkpoint"  # Tune's words for a checkpoint that is gone


MAX_RECOVERIES = 3  # rounds of going on after lost nodes: a cluster losing more is not one to finish on


def fit_sweep(sweep, datasets: dict, classifiers: dict, keep=None) -> tuple[list, list, list]:
    """Run the sweep to its end, going on after what a cluster loses:
    - trials whose node died (a machine lost, a spot instance reclaimed) continue from their last
      checkpoints on the nodes that are left, once every other trial is done: Tune's own retry
      (`max_failures`) would also retry a trial that raised, as often as it is allowed;
    - trials whose last checkpoint is gone (the sweep was killed while Tune replaced it) start
      again from scratch.
    A trial that raised stops the study: it would raise again (its MLflow run holds the error)."""
    tuner = sweep.tuner(datasets, classifiers)
    for _ in range(MAX_RECOVERIES):
        results, unfinished, errors = collect(tuner.fit(), keep)
        lost_checkpoint = [e for e in errors if LOST_CHECKPOINT in e.message]
        if lost_checkpoint:  # its saved state names the deleted checkpoint
            print(f"pm2gan: {len(lost_checkpoint)} trials' last checkpoints are gone (the sweep was killed while they "
                  "were being replaced): those trials start again from scratch", flush=True)
            tuner = sweep.tuner(datasets, classifiers, restart_errored=True)
        elif errors and all(e.node_lost for e in errors):
            print(f"pm2gan: {len(errors)} trials were lost with their Ray node ({', '.join(e.name for e in errors)}): "
                  "they go on from their last checkpoints on the nodes that are left", flush=True)
            tuner = sweep.tuner(datasets, classifiers, resume_errored=True)
        else:
            break
    else:
        results, unfinished, errors = collect(tuner.fit(), keep)
    return results, unfinished, [e.message for e in errors]


def saved_state(path: str):
    """The saved state of the interrupted sweep at `path` (a ResultGrid), or None where there is
    none to resume. Tune writes tuner.pkl at once, but its experiment state reaches storage only
    when it syncs, by a plain file copy after each checkpoint: a sweep killed before the first
    sync, or during one, leaves a folder that `Tuner.can_restore` accepts and `Tuner.restore`
    cannot read (it loads no trials, and asking for its results raises)."""
    from ray import tune

    if not tune.Tuner.can_restore(path):
        return None
    try:
        return tune.ResultGrid(tune.ExperimentAnalysis(path))
    except Exception:  # noqa: BLE001 - Tune's own restore treats any unreadable snapshot alike (tuner_internal)
        return None


@dataclass
class TrialError:
    name: str  # the trial's folder in Tune's storage
    message: str
    node_lost: bool  # the trial died with its node (or its worker process), not of its own exception


def lost_with_its_node(error: BaseException) -> bool:
    """A trial whose actor died (its node or worker process gone) rather than one that raised:
    Tune hands over the actor's death as it is, a raised exception wrapped in a RayTaskError."""
    from ray.exceptions import ActorUnavailableError, NodeDiedError, RayActorError, RayTaskError

    raised = isinstance(error, RayTaskError) or getattr(error, "actor_init_failed", False)  # died raising in __init__
    return isinstance(error, (RayActorError, NodeDiedError, ActorUnavailableError)) and not raised


def collect(grid, keep=None) -> tuple[list[TrialResult], list[str], list[TrialError]]:
    """(results, unfinished, errors) from Tune's ResultGrid: each finished trial's result
    (with its samples); the trials that never finished (interrupted); the trials that failed.
    `keep(result, folder)` sees each finished trial's final checkpoint folder."""
    results, unfinished, errors = [], [], []
    for r in grid:
        if r.error is not None:
            errors.append(TrialError(Path(r.path).name, f"{r.path}: {r.error}", lost_with_its_node(r.error)))
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
    results.sort(key=lambda r: (r.trial.model, r.variant, r.trial.dataset, r.trial.seed))
    return results, unfinished, errors
