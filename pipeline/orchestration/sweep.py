"""A study as one Ray Tune sweep: every trial of `trials.expand()` under
`tune.with_resources`, data through the object store, results collected from
the trials' final checkpoints and written atomically to `results/<study>/`.

This module is the driver. Its parts, each in its own module: the trainable that runs on the
workers (trainable.py), Ray and the trials' resources (resources.py), Tune's storage, the
sweep's name and the study lock (sweep_storage.py), recovery from lost nodes and checkpoints
(recovery.py), each trial's MLflow run (trial_runs.py) and the comparison logged to MLflow
(study_log.py).

The same code runs on a laptop and a cluster: `RAY_ADDRESS` picks the cluster,
`resources` in params.yaml the share of it each trial gets.
"""
from __future__ import annotations

import time
from pathlib import Path

from pipeline.data import places
from pipeline.evaluation import evalnet
from pipeline.evaluation.baselines import held_out_as
from pipeline.files.provenance import code_version
from pipeline.orchestration.recovery import Harvest, fit_sweep, harvest, in_table_order, next_round, remove_rounds
from pipeline.orchestration.resources import ray_init, trial_resources
from pipeline.orchestration.sweep_storage import SweepError, check_writable, storage_path, study_lock, sweep_name
from pipeline.orchestration.trainable import run_trial
from pipeline.settings.config import Config
from pipeline.settings.trials import TrialConfig, expand
from pipeline.studies import STUDIES
from pipeline.tracking import mlflow_api as tracking
from pipeline.tracking import trial_runs
from pipeline.tracking.study_log import log_comparison, view_columns
from pipeline.trial.results import RESULTS_DIR, StudyResults, TrialResult, write_study
from pipeline.trial.store import ASSESSMENT_FILE, TrialStore, state_digest
from pipeline.trial.train import CHECKPOINT_FILE


class SweepInterrupted(SweepError, tracking.Interrupted):
    """The sweep stopped before every trial finished: its parent run ends KILLED, resumable."""

    exit_code = 130  # as a shell reports a command stopped by Ctrl+C


HEARTBEAT_S = 60.0  # a trial still training says how far it got at most this often


def _progress_callback(total: int, already: int = 0):
    """One line per finished trial, instead of Tune's tables of nested configs; and, for a trial
    that trains longer than HEARTBEAT_S, a line now and then with its step (the papers' budgets
    run for hours per trial)."""
    from ray import tune

    class Progress(tune.Callback):
        def __init__(self):
            self.start, self.here = time.monotonic(), 0
            self.said: dict[str, float] = {}  # trial id -> when its last step line was printed
            self.seen: dict[str, tuple[int, float]] = {}  # trial id -> (step, its time_total_s) at its last report

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if "step" not in result:
                return
            now = time.monotonic()
            step, spent = int(result["step"]), float(result.get("time_total_s") or 0.0)  # Tune adds time_total_s
            before = self.seen.get(trial.trial_id)
            if before is not None and step < before[0]:
                # A finished training's validation curve, logged point by point after it (the trial's
                # MLflow run wants it): not progress, and no heartbeat should go back to step 200 of 1,000.
                return
            self.seen[trial.trial_id] = (step, spent)
            if now - self.said.setdefault(trial.trial_id, now) < HEARTBEAT_S:
                return
            self.said[trial.trial_id] = now
            cfg = TrialConfig.from_dict(trial.config["trial"])
            print(heartbeat(cfg.run_name, step, cfg.train.steps, before, spent, now - self.start), flush=True)

        def _line(self, trials, trial, outcome: str) -> None:
            # counted from Tune's own list, after the `already` finished before this run of Tune
            done = already + len({t.trial_id for t in trials if t.status in ("TERMINATED", "ERROR")} | {trial.trial_id})
            self.here += 1  # the pace is this run's own: trials finished before a resume took no time here
            cfg = trial.config["trial"]
            name = TrialConfig.from_dict(cfg).run_name
            result = trial.last_result or {}
            shown = {k.split("/", 1)[1]: v for k, v in result.items()
                     if k.startswith("eval/") and isinstance(v, (int, float))}
            summary = ", ".join(f"{k}={v:.3g}" for k, v in list(shown.items())[:4])
            elapsed = time.monotonic() - self.start
            left = f", ~{_duration(elapsed / self.here * (total - done))} left" if done < total else ""
            print(f"[{done}/{total} {elapsed:5.0f}s{left}] {name}: {outcome}" + (f" ({summary})" if summary else ""),
                  flush=True)

        def on_trial_complete(self, iteration, trials, trial, **info):
            result = trial.last_result or {}
            outcome = result.get("outcome", "completed")
            if result.get("train/plateaued") and "step" in result:  # stopped by the rule (params.yaml `convergence`)
                steps = TrialConfig.from_dict(trial.config["trial"]).train.steps
                outcome += f" at a plateau, step {int(result['step']):,} of {steps:,}"
            self._line(trials, trial, outcome)

        def on_trial_error(self, iteration, trials, trial, **info):
            self._line(trials, trial, "ERROR (see the MLflow run's 'error' tag)")

    return Progress()


def heartbeat(name: str, step: int, steps: int, before: tuple[int, float] | None, spent: float,
              into_sweep: float) -> str:
    """A running trial's line: its step and, from its report before (`before`: step, seconds
    trained) to this one (`spent` seconds), its pace in steps/s and the time its budget has left."""
    pace = ""
    if before is not None and step > before[0] and spent > before[1]:
        rate = (step - before[0]) / (spent - before[1])
        pace = f", {rate:,.0f} steps/s, ~{_duration((steps - step) / rate)} left"
    return f"  ... {name}: step {step:,} of {steps:,}{pace} ({_duration(into_sweep)} into the sweep)"


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _trial_dirname(trial) -> str:
    return f"{TrialConfig.from_dict(trial.config['trial']).run_name}-{trial.trial_id}"


def _load_inputs(cfg: Config, study: str) -> tuple[dict, dict]:
    """Every dataset and classifier the study needs, or a clear error before any trial starts."""
    datasets = {name: places.load(name) for name in cfg.study_datasets(study)}
    classifiers = {}
    for name, ds in datasets.items():
        if ds.kind == "image" and ds.y is not None:
            state = evalnet.load_state(name, places.evalnet_folder(name))
            if state is None:
                raise SweepError(f"no evaluation classifier for {name}: run `dvc repro {places.evalnet_stage(name)}` first")
            classifiers[name] = state
    return datasets, classifiers


def run_study(cfg: Config, study: str, results_dir: Path = RESULTS_DIR) -> Path:
    """Run every trial of `study`; write results_dir/<study>/ only when the sweep is complete."""
    known = STUDIES.get(study)  # None for an ad-hoc sweep (benchmarks/pipeline_overhead.py)
    claim = known.claim if known else f"(an ad-hoc sweep: {study})"
    profile_name, profile = cfg.profile_of(study)
    provenance = {"code_version": code_version(), "profile": profile_name,
                  "cap": profile.cap.model_dump() if profile.cap else None,
                  # the profile's own budget per dataset, before any cap: what a capped row falls short of
                  "uncapped_steps": {d: profile.budget(d).steps for d in cfg.study_datasets(study)}}
    if not cfg.study_datasets(study):  # e.g. `roles` under `reference`: say so, and leave a result that says so
        out = write_study(StudyResults(study=study, claim=claim, profile=profile_name, provenance=provenance,
                                       trials=[]), results_dir)
        print(f"pm2gan: study {study}: none of its datasets ({', '.join(cfg.studies[study].datasets)}) is in profile "
              f"{profile_name!r}: nothing to run ({out} records that)", flush=True)
        return out
    trials = expand(cfg, study)
    tracking.preflight()  # a tracking server that does not answer stops us before any work
    check_writable(results_dir, "the results folder")  # so do outputs that cannot be written
    storage = storage_path(cfg)
    datasets, classifiers = _load_inputs(cfg, study)
    capped = f", capped at {profile.cap.seeds} seeds and {profile.cap.steps} steps" if profile.cap else ""
    print(f"pm2gan: study {study}: {len(trials)} trials ({len(cfg.studies[study].models)} models, "
          f"{len(cfg.study_datasets(study))} datasets, {len(cfg.study_seeds(study))} seeds; profile "
          f"{profile_name}{capped})", flush=True)

    versions = {name: ds.meta.get("version", "") for name, ds in datasets.items()}
    store = TrialStore()
    check_writable(store.root, "the trial store")
    classifier_digests = {name: state_digest(classifiers.get(name)) for name in datasets}
    keys = {}
    for t in trials:
        key = store.key(t, versions[t.dataset])
        keys[t.trial_id] = (key, store.evaluation_key(key, t, classifier_digests[t.dataset]))
    trained = sum(store.checkpoint(k) is not None for k, _ in keys.values())
    scored = sum(store.checkpoint(k) is not None and store.assessment(e) is not None for k, e in keys.values())
    print(f"pm2gan: study {study}: of its {len(trials)} trials, {trained} were trained and {scored} evaluated before "
          f"(trial store {store.root}): trains {len(trials) - trained}, evaluates {len(trials) - scored}", flush=True)

    replaying = scored == len(trials) and _replayable_here(trials)
    start_ray = None if replaying else (lambda: ray_init(cfg))  # while the MLflow server starts
    with study_lock(study), tracking.tracking_server(cfg.tracking.store, cfg.tracking.host, meanwhile=start_ray) as uri:
        sweep = _Sweep(cfg, study, claim, trials, uri, provenance, storage, versions)
        with tracking.run(uri, sweep.experiment, sweep.run_name, sweep.tags, run_id=sweep.parent_id) as parent_id:
            sweep.parent_id = parent_id
            tracking.close_abandoned_sweeps(uri, sweep.experiment, keep=parent_id,
                                            trials_experiment=sweep.trials_experiment, driver=driver())
            if not sweep.resuming:
                tracking.log_values(uri, parent_id, params={"trials": len(trials)})
            keep = _keeper(store, study)
            if sweep.resuming:
                sweep.take_up_interrupted(keep)  # before the store is read: what it finished is not trained again
            sweep.trainings = _trainings(store, keys, to_ray=not replaying)
            runs = trial_runs.plan(uri, sweep.trials_experiment, study, parent_id, trials, keys, datasets, provenance)
            for trial_id, planned in runs.items():
                sweep.trainings[trial_id]["run"] = planned
            if replaying:
                results, unfinished, errors = sweep.replay(datasets, classifiers)
            else:
                results, unfinished, errors = fit_sweep(sweep, datasets, classifiers, keep)
            _check_outcome(cfg, study, uri, parent_id, results, unfinished, errors, len(trials), results_dir)
            references = known.references(cfg, datasets, trials, classifiers) if known else {}
            on_val = {name: held_out_as(ds, "val") for name, ds in datasets.items()}
            val_references = known.references(cfg, on_val, trials, classifiers) if known else {}
            out = write_study(StudyResults(study=study, claim=claim, profile=profile_name, provenance=provenance,
                                           trials=results, references=references, val_references=val_references),
                              results_dir)
            columns = known.columns if known else None
            log_comparison(uri, parent_id, study, claim, results, references, columns)
            tracking.save_view(uri, sweep.trials_experiment, study, f"pm2gan: {study}",
                               view_columns(results, columns or ()), trial_runs.study_filter(study))
            tracking.log_files(uri, parent_id, {"results.json": (out / "trials.json").read_text()})
            tracking.log_values(uri, parent_id, tags={"outcome": "completed"})
        remove_rounds(sweep.path)  # its trials are in the store, its results written: nothing reads it again
    print(f"pm2gan: study {study} done: {out}", flush=True)
    return out


def driver() -> str:
    """Who runs a sweep, as far as the study lock can speak for: this machine and this project
    folder (the lock is a file under it). Tagged on the sweep's run, so that a sweep left RUNNING
    is closed as abandoned only by a later run that holds the same lock."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getcwd()}"


def _trainings(store: TrialStore, keys: dict[str, tuple[str, str]], to_ray: bool = True) -> dict[str, dict]:
    """Each trial's training and evaluation keys and, for those the store holds, its trained
    checkpoint and its evaluation: put in Ray's object store (one object each: a worker fetches
    only its own trial's), or, `to_ray` False, as bytes for the driver to replay. An evaluation
    is only taken with the training it scored."""
    if to_ray:
        import ray

        put = ray.put
    else:
        def put(blob: bytes) -> bytes:
            return blob
    out = {}
    for tid, (key, evaluation_key) in keys.items():
        checkpoint = store.checkpoint(key)
        assessment = store.assessment(evaluation_key) if checkpoint is not None else None
        out[tid] = {"key": key, "evaluation_key": evaluation_key,
                    "stored": put(checkpoint.read_bytes()) if checkpoint is not None else None,
                    "assessment": put(assessment.read_bytes()) if assessment is not None else None}
    return out


REPLAY_ENV = "PM2GAN_REPLAY_WITHOUT_RAY"  # "0": through Tune all the same (benchmarks/replay_time.py compares)


def _replayable_here(trials: list[TrialConfig]) -> bool:
    """Whether this process replays the trials: a trial that asks for CUDA is replayed where
    there is one, by Tune on a GPU node, when the driver has none (a cluster's head)."""
    import os

    import torch

    if os.environ.get(REPLAY_ENV, "1") == "0":
        return False
    return torch.cuda.is_available() or all(t.device != "cuda" for t in trials)


def _keeper(store: TrialStore, study: str):
    """What `recovery.collect` does with each finished trial's final checkpoint: a trial this sweep
    trained goes into the store as soon as the driver sees it finished (so a study that fails
    later, or is interrupted, keeps what it trained)."""

    def keep(result: TrialResult, folder: Path) -> None:
        p = result.provenance
        key, evaluation_key = p.get("training_key"), p.get("evaluation_key")
        if key is None:
            return
        by = {"study": study, "ray_node": p.get("ray_node"), "code_version": p.get("code_version")}
        # a training the sweep did (not one it read from the store) is kept, replacing a stored one
        # whose stop today's evaluation code moved (pipeline/trial/train.py, stopped_as_judged)
        if store.checkpoint(key) is None or p.get("reused_training") is False:
            store.put(key, folder / CHECKPOINT_FILE, result.trial, p.get("data_version") or "", by)
        if evaluation_key and store.assessment(evaluation_key) is None and (folder / ASSESSMENT_FILE).exists():
            store.put_assessment(evaluation_key, folder / ASSESSMENT_FILE,
                                 {"training_key": key, "eval_samples": result.trial.train.eval_samples, **by},
                                 result.trial.model)

    return keep


def _check_outcome(cfg: Config, study: str, uri: str, parent_id: str, results: list, unfinished: list, errors: list,
                   total: int, results_dir: Path) -> None:
    """Raise unless every trial finished and some trained: nothing is written otherwise."""
    if errors:
        if not tracking.answers(uri):
            raise tracking.TrackingError(
                f"the MLflow tracking server {uri} stopped answering during study {study}: {len(results)} of {total} "
                f"trials finished and are logged; nothing was written to {results_dir}/. Once the server is back "
                "(or, for the local one, at once), `dvc repro` resumes the sweep.")
        tracking.log_values(uri, parent_id, tags={"outcome": "error"})
        raise SweepError(f"study {study}: {len(errors)} of {total} trials failed (their MLflow runs hold "
                         f"the errors); nothing was written to {results_dir}/. First error:\n{errors[0]}")
    if unfinished:
        tracking.log_values(uri, parent_id, tags={"outcome": "interrupted"})
        raise SweepInterrupted(f"study {study} was interrupted: {len(results)} of {total} trials "
                               f"finished; nothing was written to {results_dir}/. `dvc repro` resumes the sweep.")
    if results and all(r.outcome == "diverged" for r in results):
        tracking.log_values(uri, parent_id, tags={"outcome": "diverged"})
        raise SweepError(f"study {study}: all {total} trials diverged (a loss became NaN or inf); nothing was "
                         f"written to {results_dir}/. Check the learning rates in {cfg.file}.")


class _Sweep:
    """One study's sweep: its MLflow parent run and its runs of Tune, new or taken up again.

    An interrupted sweep of the very same trials, data and code is taken up from its own files
    (pipeline/orchestration/recovery.py, never Tune's pickled state): its finished trials go into the trial
    store and are not trained again, the others go on from their last checkpoints, and the
    MLflow parent run (found by the sweep's name) is reopened."""

    def __init__(self, cfg: Config, study: str, claim: str, trials: list[TrialConfig], uri: str, provenance: dict,
                 storage: str, data_versions: dict[str, str]):
        self.cfg, self.study, self.trials, self.uri, self.provenance = cfg, study, trials, uri, provenance
        self.trainings: dict[str, dict] = {}  # trial_id -> its training key and stored model (`_trainings`)
        self.resume: dict[str, bytes] = {}  # trial_id -> the checkpoint it goes on from (`take_up`)
        self.storage = storage
        self.name = sweep_name(study, trials, data_versions, provenance["code_version"])
        self.path = f"{self.storage.rstrip('/')}/{self.name}"
        self.experiment = tracking.experiment_id(uri, f"{cfg.tracking.experiment_prefix}/{study}")
        self.trials_experiment = tracking.experiment_id(uri, f"{cfg.tracking.experiment_prefix}/{trial_runs.EXPERIMENT}")
        unfinished = tracking.unfinished_sweep(uri, self.experiment, self.name, self.trials_experiment)
        self.resuming = unfinished is not None
        self.parent_id = unfinished
        if not self.resuming:  # an abandoned sweep of the same name
            remove_rounds(self.path)
        self.run_name = f"{study}-sweep-{time.strftime('%Y%m%d-%H%M%S')}"
        self.tags = {"study": study, "kind": "sweep", "sweep": self.name, "profile": provenance["profile"],
                     "code_version": provenance["code_version"], "claim": claim[:5000],
                     tracking.DRIVER_TAG: driver()}

    def take_up_interrupted(self, keep) -> None:
        """Read what the interrupted sweep left (its finished trials go to `keep`, the trial store)."""
        found = harvest(self.path, {t.trial_id: t for t in self.trials}, keep)
        self.take_up(found)
        print(f"pm2gan: resuming interrupted sweep {self.path}: {len(found.finished)} of {len(self.trials)} trials "
              f"already finished (kept in the trial store), {len(found.resume)} go on from their last checkpoints, "
              f"{len(self.trials) - len(found.finished) - len(found.resume)} start from scratch", flush=True)

    def take_up(self, found: Harvest) -> None:
        self.resume.update({trial_id: blob for trial_id, (_, blob) in found.resume.items()})

    def replay(self, datasets: dict, classifiers: dict) -> tuple[list, list, list]:
        """(results, unfinished, errors), as `fit_sweep` gives them, for a sweep whose every trial
        the store holds trained and evaluated: each replayed here, not through Tune. A Tune run
        would start Ray's workers and a round of its controller to train nothing and evaluate
        nothing (generation's 18 stored trials: 23.0 s through Tune, 11.9 s here;
        benchmarks/replay_time.py)."""
        import socket

        from pipeline.orchestration.trainable import replay

        print(f"pm2gan: study {self.study}: every trial is in the trial store, trained and evaluated: "
              "replayed here, without Ray", flush=True)
        info = self._tracking_info()
        where = f"{socket.gethostname()} (the sweep's driver)"
        results, errors = [], []
        for t in self.trials:
            training = self.trainings[t.trial_id]
            try:
                results.append(replay(t, datasets[t.dataset], classifiers.get(t.dataset), info, training, where))
            except Exception as err:  # noqa: BLE001 - counted and shown as a Tune trial's error would be
                errors.append(f"{t.run_name}: {type(err).__name__}: {err}")
        return in_table_order(results), [], errors

    def _tracking_info(self) -> dict:
        return {"uri": self.uri, "experiment_id": self.experiment, "parent_run_id": self.parent_id,
                "provenance": self.provenance,
                "tags": {"code_version": self.provenance["code_version"], "profile": self.provenance["profile"]}}

    def tuner(self, datasets: dict, classifiers: dict, trials: list[TrialConfig]):
        """A fresh run of Tune over `trials`, in a folder of its own (recovery.next_round); a trial
        with a checkpoint in `self.resume` goes on from it."""
        import ray
        from ray import tune

        info = self._tracking_info()
        trainings = {t.trial_id: {**self.trainings[t.trial_id],
                                  "resume": ray.put(self.resume[t.trial_id]) if t.trial_id in self.resume else None}
                     for t in trials}
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, datasets=datasets, classifiers=classifiers, tracking_info=info,
                                 trainings=trainings),
            trial_resources(self.cfg))
        return tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search([t.to_dict() for t in trials])},
            tune_config=tune.TuneConfig(max_concurrent_trials=self.cfg.resources.max_concurrent_trials or None,
                                        reuse_actors=True, trial_dirname_creator=_trial_dirname),
            run_config=tune.RunConfig(
                name=next_round(self.path), storage_path=self.storage,
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                callbacks=[_progress_callback(len(self.trials), already=len(self.trials) - len(trials))],
                verbose=0),
        )
