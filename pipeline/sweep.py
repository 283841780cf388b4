"""A study as one Ray Tune sweep: every trial of `trials.expand()` under
`tune.with_resources`, data through the object store, results collected from
the trials' final checkpoints and written atomically to `results/<study>/`.

The same code runs on a laptop and a cluster: `RAY_ADDRESS` picks the cluster,
`resources` in params.yaml the share of it each trial gets.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from . import data as datamod
from . import evalnet, figures, report, tracking
from .config import Config, ConfigError
from .evaluate import Assessment
from .fit import is_trained
from .provenance import code_version
from .results import RESULTS_DIR, StudyResults, TrialResult, write_study
from .store import ASSESSMENT_FILE, TrialStore, state_digest
from .studies.base import select_on_validation
from .train import CHECKPOINT_FILE, train
from .trials import TrialConfig, expand


class SweepError(RuntimeError):
    pass


class SweepInterrupted(SweepError, tracking.Interrupted):
    """The sweep stopped before every trial finished: its parent run ends KILLED, resumable."""


# --------------------------------------------------------------------------- the trainable (runs on a worker)


def open_trial_run(uri: str, experiment: str, parent_run_id: str | None, cfg: TrialConfig,
                   tags: dict[str, str], ds: datamod.Dataset | None = None) -> tracking.TrialRun:
    """The trial's MLflow child run: named after the trial, its resolved config as params, its
    data as a dataset input."""
    tags = {"model": cfg.model, "dataset": cfg.dataset, "seed": str(cfg.seed), "study": cfg.study,
            "variant": cfg.variant_label, "trial_id": cfg.trial_id, "config": json.dumps(cfg.to_dict()), **tags}
    dataset = None if ds is None else tracking.dataset_input(
        ds.name, str(ds.meta.get("version", "")), str(datamod.DATA_DIR / f"{ds.name}.npz"),
        {split: len(x) for split, x in ds.x.items()}, ds.shape)
    return tracking.TrialRun(uri, experiment, parent_run_id, cfg.run_name, tags, cfg.flat_params(), dataset)


class TrackingHooks:
    """train.Hooks that record a trial in its MLflow run: every logged point, and at the end
    the final metrics, sample and curve figures, result.json and the checkpoint."""

    def __init__(self, run: tracking.TrialRun, reference=None):
        self.run = run
        self.reference = reference  # data points drawn under a toy's sample scatter

    def log(self, step, values):
        self.run.log(step, values)

    def checkpoint(self, step, checkpoint):
        pass  # intermediate checkpoints stay in Tune's storage; MLflow keeps the final one

    def finish(self, result: TrialResult, checkpoint: Path) -> None:
        files = {"result.json": result.model_dump_json(indent=1)}
        for sampler, drawn in result.samples.items():
            files[f"samples-{sampler}.png"] = figures.samples_figure(drawn, f"{result.run_name} ({sampler})",
                                                                     reference=self.reference)
        if result.curves:
            files["curves.png"] = figures.curves_figure(result.curves, result.run_name)
        self.run.finish(result.steps, result.outcome, result.metrics, files, checkpoint)


class _TuneHooks(TrackingHooks):
    """TrackingHooks that also report to Tune and hand it the checkpoints.

    Tune only needs a heartbeat for its status and scheduling, and each `tune.report`
    is a round trip to the trial's actor, so intermediate reports are throttled to one
    per REPORT_EVERY_S."""

    REPORT_EVERY_S = 10.0

    def __init__(self, run: tracking.TrialRun, reference=None):
        super().__init__(run, reference)
        self._last_report = time.monotonic()

    def log(self, step, values):
        from ray import tune

        super().log(step, values)
        if time.monotonic() - self._last_report > self.REPORT_EVERY_S:
            tune.report({**values, "step": step})
            self._last_report = time.monotonic()

    def checkpoint(self, step, checkpoint):
        from ray import tune

        tune.report({"step": step}, checkpoint=tune.Checkpoint.from_directory(str(checkpoint.parent)))

    def finish(self, result, checkpoint):
        from ray import tune

        super().finish(result, checkpoint)
        result.save(checkpoint.parent)  # beside the final checkpoint: what the driver collects
        metrics = {"step": result.steps, "outcome": result.outcome,
                   **{k: v for k, v in result.metrics.items() if v is not None}}
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(checkpoint.parent)))


def ray_node() -> str:
    """The Ray node this process runs on, as '<ip>/<first 8 hex digits of its id>': the address
    tells machines apart, the id nodes that share one (a restarted machine, this repo's tests)."""
    import ray

    return f"{ray.util.get_node_ip_address()}/{ray.get_runtime_context().get_node_id()[:8]}"


def run_trial(config: dict, *, datasets: dict, classifiers: dict, tracking_info: dict, trainings: dict) -> None:
    """The Tune trainable: one trial, logged to its own MLflow child run. A trial whose training
    the store holds (`trainings[trial_id]['stored']`, its final checkpoint in Ray's object store)
    is evaluated without training again."""
    import logging

    import ray
    from ray import tune

    # One line per checkpoint per trial drowns the progress lines; the paths are in MLflow.
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)

    cfg = TrialConfig.from_dict(config["trial"])
    ds = datasets[cfg.dataset]
    reference = ds.x["train"][:2000] if ds.kind == "toy2d" else None
    node = ray_node()
    training = trainings[cfg.trial_id]
    reused, scored = training["stored"] is not None, training["assessment"] is not None
    training_tags = {"training_key": training["key"], "reused_training": str(reused).lower(),
                     "evaluation_key": training["evaluation_key"], "reused_evaluation": str(scored).lower()}
    run = open_trial_run(tracking_info["uri"], tracking_info["experiment_id"], tracking_info["parent_run_id"], cfg,
                         tracking_info["tags"] | training_tags | {"data_version": ds.meta.get("version", ""),
                                                                  "ray_node": node}, ds)
    resume = tune.get_checkpoint()
    provenance = tracking_info["provenance"] | {"data_version": ds.meta.get("version"), "ray_node": node,
                                                "training_key": training["key"], "reused_training": reused,
                                                "evaluation_key": training["evaluation_key"], "reused_evaluation": scored}
    assessed = Assessment.from_bytes(ray.get(training["assessment"])) if scored else None
    try:
        with contextlib.ExitStack() as stack:
            resume_from = trained = None
            if reused:
                trained = Path(stack.enter_context(tempfile.TemporaryDirectory())) / CHECKPOINT_FILE
                trained.write_bytes(ray.get(training["stored"]))
            elif resume is not None:  # Tune restarted this trial: go on from its last checkpoint
                resume_from = Path(stack.enter_context(resume.as_directory())) / CHECKPOINT_FILE
                if is_trained(torch.load(resume_from, map_location="cpu", weights_only=True)):
                    trained, resume_from = resume_from, None  # it had finished training: evaluate it
            train(cfg, ds, classifiers.get(cfg.dataset), _TuneHooks(run, reference), resume_from, provenance, trained,
                  assessed)
    except Exception as err:  # record the failure where the user looks, then let Tune see it
        run.fail(err)
        raise


# --------------------------------------------------------------------------- the driver


def _progress_callback(total: int):
    """One line per finished trial, instead of Tune's tables of nested configs."""
    from ray import tune

    class Progress(tune.Callback):
        def __init__(self):
            self.start, self.here = time.monotonic(), 0

        def _line(self, trials, trial, outcome: str) -> None:
            # counted from Tune's own list: a resumed sweep's finished trials count too
            done = len({t.trial_id for t in trials if t.status in ("TERMINATED", "ERROR")} | {trial.trial_id})
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
            self._line(trials, trial, (trial.last_result or {}).get("outcome", "completed"))

        def on_trial_error(self, iteration, trials, trial, **info):
            self._line(trials, trial, "ERROR (see the MLflow run's 'error' tag)")

    return Progress()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _trial_dirname(trial) -> str:
    return f"{TrialConfig.from_dict(trial.config['trial']).run_name}-{trial.trial_id}"


def _ray_init(cfg: Config) -> None:
    import ray

    # Each trial's final checkpoint forces a snapshot of the experiment state (it is what makes
    # an interrupted sweep resumable); Tune warns about that every few seconds. Expected here.
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address)
    else:  # a private local cluster for this run; no dashboard: it costs seconds and memory. Ray binds
        # it to the node's address (it turns 127.0.0.1 into that on purpose) and, since 2.5x, guards
        # it with a token it generates (RAY_AUTH_MODE=token, the default).
        ray.init(include_dashboard=False, log_to_driver=True)


def _trial_resources(cfg: Config) -> dict[str, float]:
    """What each trial asks Ray for, checked against the nodes Ray has: a request that no node
    can meet would leave Tune waiting forever."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    most_cpus = max((n.get("CPU", 0) for n in nodes), default=0)
    most_gpus = max((n.get("GPU", 0) for n in nodes), default=0)
    r = cfg.resources
    if r.cpus_per_trial > most_cpus:
        raise ConfigError(cfg.file, "resources.cpus_per_trial",
                          f"{r.cpus_per_trial:g} CPUs per trial, but the largest node of the Ray cluster has {most_cpus:g}")
    if most_gpus == 0:
        if r.device == "cuda":
            raise ConfigError(cfg.file, "resources.device", "cuda, but the Ray cluster has no GPU (use auto or cpu)")
        if r.gpus_per_trial > 0:
            print(f"pm2gan: the Ray cluster has no GPU: trials run on CPU (resources.gpus_per_trial "
                  f"{r.gpus_per_trial:g} applies where there are GPUs)", flush=True)
        return {"cpu": r.cpus_per_trial}
    if r.gpus_per_trial > most_gpus:
        raise ConfigError(cfg.file, "resources.gpus_per_trial",
                          f"{r.gpus_per_trial:g} GPUs per trial, but the largest node of the Ray cluster has {most_gpus:g}")
    if r.device == "cuda" and r.gpus_per_trial == 0:
        raise ConfigError(cfg.file, "resources.device", "cuda needs resources.gpus_per_trial > 0")
    return {"cpu": r.cpus_per_trial, **({"gpu": r.gpus_per_trial} if r.gpus_per_trial > 0 else {})}


STORAGE_ENV = "PM2GAN_STORAGE_PATH"


def _storage_path(cfg: Config) -> str:
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
            raise SweepError(f"{STORAGE_ENV}: {problem}")
        raise ConfigError(cfg.file, "resources.storage_path", problem)
    return str(path)


def _sweep_name(study: str, trials: list[TrialConfig], data_versions: dict[str, str], code: str) -> str:
    """A sweep is its trials *and* the data and code they train on: a changed data file or a
    new commit starts a new sweep instead of resuming (and republishing) an old one."""
    identity = {"trials": [t.trial_id for t in trials], "data": data_versions, "code": code}
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    return f"{study}-{digest}"


def _load_inputs(cfg: Config, study: str) -> tuple[dict, dict]:
    """Every dataset and classifier the study needs, or a clear error before any trial starts."""
    datasets = {name: datamod.load(name) for name in cfg.study_datasets(study)}
    classifiers = {}
    for name, ds in datasets.items():
        if ds.kind == "image" and ds.y is not None:
            state = evalnet.load_state(name)
            if state is None:
                raise SweepError(f"no evaluation classifier for {name}: run `dvc repro evalnet` first")
            classifiers[name] = state
    return datasets, classifiers


LOCK_DIR = Path(".pm2gan") / "locks"
LOST_CHECKPOINT = "Could not recover from checkpoint"  # Tune's words for a checkpoint that is gone


@contextlib.contextmanager
def _study_lock(study: str):
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


def run_study(cfg: Config, study: str, results_dir: Path = RESULTS_DIR) -> Path:
    """Run every trial of `study`; write results_dir/<study>/ only when the sweep is complete."""
    from .studies import STUDIES

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
    storage = _storage_path(cfg)
    datasets, classifiers = _load_inputs(cfg, study)
    capped = f", capped at {profile.cap.seeds} seeds and {profile.cap.steps} steps" if profile.cap else ""
    print(f"pm2gan: study {study}: {len(trials)} trials ({len(cfg.studies[study].models)} models, "
          f"{len(cfg.study_datasets(study))} datasets, {len(cfg.study_seeds(study))} seeds; profile "
          f"{profile_name}{capped})", flush=True)

    versions = {name: ds.meta.get("version", "") for name, ds in datasets.items()}
    store = TrialStore()
    classifier_digests = {name: state_digest(classifiers.get(name)) for name in datasets}
    keys = {}
    for t in trials:
        key = store.key(t, versions[t.dataset])
        keys[t.trial_id] = (key, store.evaluation_key(key, t, classifier_digests[t.dataset]))
    trained = sum(store.checkpoint(k) is not None for k, _ in keys.values())
    scored = sum(store.checkpoint(k) is not None and store.assessment(e) is not None for k, e in keys.values())
    print(f"pm2gan: study {study}: of its {len(trials)} trials, {trained} were trained and {scored} evaluated before "
          f"(trial store {store.root}): trains {len(trials) - trained}, evaluates {len(trials) - scored}", flush=True)

    with _study_lock(study), tracking.tracking_server(cfg.tracking.store, cfg.tracking.host) as uri:
        sweep = _Sweep(cfg, study, claim, trials, uri, provenance, storage, versions)
        with tracking.run(uri, sweep.experiment, sweep.run_name, sweep.tags, run_id=sweep.parent_id) as parent_id:
            sweep.parent_id = parent_id
            tracking.close_abandoned_sweeps(uri, sweep.experiment, keep=parent_id)
            if not sweep.resuming:
                tracking.log_values(uri, parent_id, params={"trials": len(trials)})
            _ray_init(cfg)
            sweep.trainings = _trainings(store, keys)
            results, unfinished, errors = _fit(sweep, datasets, classifiers, _keeper(store, study))
            _check_outcome(cfg, study, uri, parent_id, results, unfinished, errors, len(trials), results_dir)
            references = known.references(cfg, datasets) if known else {}
            out = write_study(StudyResults(study=study, claim=claim, profile=profile_name, provenance=provenance,
                                           trials=results, references=references), results_dir)
            columns = known.columns if known else None
            _log_comparison(uri, parent_id, study, claim, results, references, columns)
            tracking.save_view(uri, sweep.experiment, f"pm2gan: {study}", _view_columns(results, columns or ()))
            tracking.log_files(uri, parent_id, {"results.json": (out / "trials.json").read_text()})
            tracking.log_values(uri, parent_id, tags={"outcome": "completed"})
    print(f"pm2gan: study {study} done: {out}", flush=True)
    return out


def _trainings(store: TrialStore, keys: dict[str, tuple[str, str]]) -> dict[str, dict]:
    """Each trial's training and evaluation keys and, for those the store holds, its trained
    checkpoint and its evaluation, put in Ray's object store (one object each: a worker fetches
    only its own trial's). An evaluation is only taken with the training it scored."""
    import ray

    out = {}
    for tid, (key, evaluation_key) in keys.items():
        checkpoint = store.checkpoint(key)
        assessment = store.assessment(evaluation_key) if checkpoint is not None else None
        out[tid] = {"key": key, "evaluation_key": evaluation_key,
                    "stored": ray.put(checkpoint.read_bytes()) if checkpoint is not None else None,
                    "assessment": ray.put(assessment.read_bytes()) if assessment is not None else None}
    return out


def _keeper(store: TrialStore, study: str):
    """What `_collect` does with each finished trial's final checkpoint: a trial this sweep
    trained goes into the store as soon as the driver sees it finished (so a study that fails
    later, or is interrupted, keeps what it trained)."""

    def keep(result: TrialResult, folder: Path) -> None:
        p = result.provenance
        key, evaluation_key = p.get("training_key"), p.get("evaluation_key")
        if key is None:
            return
        by = {"study": study, "ray_node": p.get("ray_node"), "code_version": p.get("code_version")}
        if store.checkpoint(key) is None:
            store.put(key, folder / CHECKPOINT_FILE, result.trial, p.get("data_version") or "", by)
        if evaluation_key and store.assessment(evaluation_key) is None and (folder / ASSESSMENT_FILE).exists():
            store.put_assessment(evaluation_key, folder / ASSESSMENT_FILE,
                                 {"training_key": key, "eval_samples": result.trial.train.eval_samples, **by})

    return keep


MAX_RECOVERIES = 3  # rounds of going on after lost nodes: a cluster losing more is not one to finish on


def _fit(sweep: "_Sweep", datasets: dict, classifiers: dict, keep=None) -> tuple[list, list, list]:
    """Run the sweep to its end, going on after what a cluster loses:
    - trials whose node died (a machine lost, a spot instance reclaimed) continue from their last
      checkpoints on the nodes that are left, once every other trial is done: Tune's own retry
      (`max_failures`) would also retry a trial that raised, as often as it is allowed;
    - trials whose last checkpoint is gone (the sweep was killed while Tune replaced it) start
      again from scratch.
    A trial that raised stops the study: it would raise again (its MLflow run holds the error)."""
    tuner = sweep.tuner(datasets, classifiers)
    for _ in range(MAX_RECOVERIES):
        results, unfinished, errors = _collect(tuner.fit(), keep)
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
        results, unfinished, errors = _collect(tuner.fit(), keep)
    return results, unfinished, [e.message for e in errors]


def _log_comparison(uri: str, parent_id: str, study: str, claim: str, results: list[TrialResult], references: dict,
                    columns: tuple[str, ...] | None) -> None:
    """The sweep's parent run holds the comparison: the study's table, and the report's figures
    that set the models side by side (samples, the players' losses, metrics against a factor)."""
    import tempfile

    selected = select_on_validation(results)
    with tempfile.TemporaryDirectory() as tmp:
        rows = report.study_figures(study, selected, Path(tmp), datamod.DATA_DIR, columns, every_curve=False)
        side_by_side = {p.name: p for _, paths in rows for p in paths}  # each trial's own curves are in its run
        tracking.log_files(uri, parent_id, side_by_side, "figures")
    tracking.log_files(uri, parent_id, {"comparison.md": report.study_table(claim, selected, references, columns)})


def _view_columns(results: list[TrialResult], columns: tuple[str, ...]) -> list[str]:
    """The runs-table columns of a study's saved MLflow view: the dataset, the factors its rows
    vary, and its table's metrics under the keys the trials logged them (`eval/<name>`,
    `eval/<sampler>/<name>`), in the table's order."""
    factors = sorted({k for r in results for k in {**r.trial.variant, **r.trial.tuned}})
    logged = {k for r in results for k, v in r.metrics.items() if v is not None and k.startswith("eval/")}
    order = {name: i for i, name in enumerate(columns)}
    metrics = sorted((k for k in logged if k.rsplit("/", 1)[-1] in order), key=lambda k: (order[k.rsplit("/", 1)[-1]], k))
    return ["attributes.`Dataset`", *(f"params.`hparams.{k}`" for k in factors), *(f"metrics.`{k}`" for k in metrics)]


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
    """One study's sweep: its MLflow parent run and its Tune experiment, new or resumed.

    An interrupted sweep of the very same trials, data and code is resumed: Tune keeps the
    finished trials and the checkpoints of the others, and the MLflow parent run (found by
    the sweep's name) is reopened."""

    def __init__(self, cfg: Config, study: str, claim: str, trials: list[TrialConfig], uri: str, provenance: dict,
                 storage: str, data_versions: dict[str, str]):
        self.cfg, self.study, self.trials, self.uri, self.provenance = cfg, study, trials, uri, provenance
        self.trainings: dict[str, dict] = {}  # trial_id -> its training key and stored model (`_trainings`)
        self.storage = storage
        self.name = _sweep_name(study, trials, data_versions, provenance["code_version"])
        self.path = f"{self.storage.rstrip('/')}/{self.name}"
        self.experiment = tracking.experiment_id(uri, f"{cfg.tracking.experiment_prefix}/{study}")
        unfinished = tracking.unfinished_sweep(uri, self.experiment, self.name)
        self.saved = _saved_state(self.path) if unfinished is not None else None
        self.resuming = self.saved is not None
        if unfinished is not None and not self.resuming:
            print(f"pm2gan: the interrupted sweep {self.path} left no state that Tune can resume (it was killed "
                  "before Tune saved its experiment state to storage, or while Tune was copying it there): its "
                  "trials start again from scratch", flush=True)
        self.parent_id = unfinished if self.resuming else None
        if not self.resuming and "://" not in self.path:  # a finished or abandoned sweep of the same name
            shutil.rmtree(self.path, ignore_errors=True)
        self.run_name = f"{study}-sweep-{time.strftime('%Y%m%d-%H%M%S')}"
        self.tags = {"study": study, "kind": "sweep", "sweep": self.name, "profile": provenance["profile"],
                     "code_version": provenance["code_version"], "claim": claim[:5000]}

    def tuner(self, datasets: dict, classifiers: dict, restart_errored: bool = False, resume_errored: bool = False):
        """A new Tuner, or the interrupted one restored; `restart_errored`: the restored sweep's
        failed trials start again from scratch, `resume_errored`: from their last checkpoints."""
        from ray import tune

        info = {"uri": self.uri, "experiment_id": self.experiment, "parent_run_id": self.parent_id,
                "provenance": self.provenance,
                "tags": {"code_version": self.provenance["code_version"], "profile": self.provenance["profile"]}}
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, datasets=datasets, classifiers=classifiers, tracking_info=info,
                                 trainings=self.trainings),
            _trial_resources(self.cfg))
        if restart_errored:
            return tune.Tuner.restore(self.path, trainable, resume_unfinished=True, restart_errored=True)
        if resume_errored:
            return tune.Tuner.restore(self.path, trainable, resume_unfinished=True, resume_errored=True)
        if self.resuming:
            tuner = tune.Tuner.restore(self.path, trainable, resume_unfinished=True, resume_errored=True)
            done = sum(1 for r in self.saved if r.error is None and r.metrics.get("outcome"))
            print(f"pm2gan: resuming interrupted sweep {self.path}: {done} of {len(self.trials)} trials already "
                  "finished", flush=True)
            return tuner
        return tune.Tuner(
            trainable,
            param_space={"trial": tune.grid_search([t.to_dict() for t in self.trials])},
            tune_config=tune.TuneConfig(max_concurrent_trials=self.cfg.resources.max_concurrent_trials or None,
                                        reuse_actors=True, trial_dirname_creator=_trial_dirname),
            run_config=tune.RunConfig(
                name=self.name, storage_path=self.storage,
                failure_config=tune.FailureConfig(max_failures=0, fail_fast=False),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                callbacks=[_progress_callback(len(self.trials))],
                verbose=0),
        )


def _saved_state(path: str):
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


def _lost_with_its_node(error: BaseException) -> bool:
    """A trial whose actor died (its node or worker process gone) rather than one that raised:
    Tune hands over the actor's death as it is, a raised exception wrapped in a RayTaskError."""
    from ray.exceptions import ActorUnavailableError, NodeDiedError, RayActorError, RayTaskError

    raised = isinstance(error, RayTaskError) or getattr(error, "actor_init_failed", False)  # died raising in __init__
    return isinstance(error, (RayActorError, NodeDiedError, ActorUnavailableError)) and not raised


def _collect(grid, keep=None) -> tuple[list[TrialResult], list[str], list[TrialError]]:
    """(results, unfinished, errors) from Tune's ResultGrid: each finished trial's result
    (with its samples); the trials that never finished (interrupted); the trials that failed.
    `keep(result, folder)` sees each finished trial's final checkpoint folder."""
    results, unfinished, errors = [], [], []
    for r in grid:
        if r.error is not None:
            errors.append(TrialError(Path(r.path).name, f"{r.path}: {r.error}", _lost_with_its_node(r.error)))
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
