"""Each trained trial's one MLflow run, whichever studies read it.

A training (pipeline/trial/store.py's training key) has one run in the experiment `<prefix>/trials`:
its config, curves, checkpoint and its latest evaluation. A study that reads it tags it
`study.<study>` with the row it is in that study (`default`, `gen_cost=kl`), and the study's saved
view of that experiment shows the runs so tagged: those its last sweep read (a run it read
before a change of config, data or code loses the tag, and keeps its record). The study's sweep, with its comparison, is a run
in the study's own experiment.

Before its trials start, the sweep's driver finds or makes each trial's run (one process makes
them, so two trials never race to make one) and decides which trial records into it:
- a run that already holds this training and this evaluation records nothing again (a rerun, or
  a second study reading it, costs a tag);
- otherwise the first trial of the sweep with that training records (it trains, resumes, or
  evaluates a stored training) and uploads the checkpoint unless the run has it already.
"""
from __future__ import annotations

import json
from typing import Any

from pipeline.data import datasets as datamod
from pipeline.data import places
from pipeline.settings.trials import TrialConfig
from pipeline.tracking import mlflow_api as tracking
from pipeline.trial.store import training_config

EXPERIMENT = "trials"  # "<prefix>/trials"
KEY_TAG, EVALUATION_TAG = "training_key", "evaluation_key"


def study_tag(study: str) -> str:
    return f"study.{study}"


def study_filter(study: str) -> str:
    """The runs a study reads, in MLflow's search syntax (its saved view's filter)."""
    return f"tags.`{study_tag(study)}` != ''"


def plan(uri: str, experiment: str, study: str, sweep_run: str, trials: list[TrialConfig],
         keys: dict[str, tuple[str, str]], datasets: dict[str, datamod.Dataset],
         provenance: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """trial id -> {"run_id", "record": whether the trial logs into it, "log_checkpoint"}, every
    run tagged with the study (and, when one of its trials records, with this sweep's run)."""
    # one search: every trial run, to find each training's run and the runs this study tagged before
    runs = tracking.runs_tagged(uri, experiment, KEY_TAG)
    existing = {r.data.tags[KEY_TAG]: r for r in runs}  # the latest run of each training
    run_ids: dict[str, str] = {}  # training key -> its run, found or made (once: trials may share a training)
    out, recording, tags = {}, set(), {}
    for t in trials:
        key, evaluation_key = keys[t.trial_id]
        found = existing.get(key)
        if key not in run_ids:
            ds = datasets[t.dataset]
            run_ids[key] = found.info.run_id if found else tracking.create_trial_run(
                uri, experiment, t.run_name, _identity(t, key, ds, provenance), t.flat_params(), _dataset(ds))
        run_id = run_ids[key]
        recorded = (found is not None and found.info.status == "FINISHED"
                    and found.data.tags.get(EVALUATION_TAG) == evaluation_key)
        has_checkpoint = found is not None and found.data.tags.get(tracking.CHECKPOINT_TAG) == "logged"
        record = not recorded and key not in recording
        if record:
            recording.add(key)
        out[t.trial_id] = {"run_id": run_id, "record": record, "log_checkpoint": record and not has_checkpoint}
        tags.setdefault(run_id, {})[study_tag(study)] = t.variant_label
        if record:
            tags[run_id][tracking.SWEEP_RUN_TAG] = sweep_run
    tracking.tag_runs(uri, tags)
    # a run the study read before and reads no more (its config, data or code changed) leaves its view
    tracking.untag_runs(uri, {r.info.run_id for r in runs if study_tag(study) in r.data.tags} - set(tags),
                        study_tag(study))
    return out


def _identity(t: TrialConfig, key: str, ds: datamod.Dataset, provenance: dict[str, Any]) -> dict[str, str]:
    """What a trial's run is tagged with when made: what determines its training."""
    return {"kind": "trial", KEY_TAG: key, "model": t.model, "dataset": t.dataset, "seed": str(t.seed),
            "data_version": str(ds.meta.get("version", "")), "code_version": provenance["code_version"],
            "config": json.dumps(training_config(t))}


def _dataset(ds: datamod.Dataset) -> Any:
    return tracking.dataset_input(ds.name, str(ds.meta.get("version", "")), str(places.data_file(ds.name)),
                                  {split: len(x) for split, x in ds.x.items()}, ds.shape)
