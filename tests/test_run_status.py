"""A stage that fails while its MLflow run is open leaves that run FAILED, with the error,
never RUNNING forever. One real fault per stage that opens runs: a trial that raises in its
Ray worker (study), an output folder that cannot be written (theory), a corrupt results
file (report)."""
from __future__ import annotations

import copy

import pytest
import yaml

from pipeline.data import datasets as data
from pipeline.evaluation import evalnet
from pipeline.settings import config
from pipeline.tracking import mlflow_api as tracking
from tests.conftest import ROOT

pytestmark = pytest.mark.service  # starts real services (Ray, an MLflow server, DVC): not the unit tier


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One real MLflow server for the module; the stages find it through MLFLOW_TRACKING_URI."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        with tracking.tracking_server(tmp_path_factory.mktemp("mlruns")) as uri:
            yield uri


def runs_by_experiment(uri: str) -> dict[str, list]:
    c = tracking.client(uri)
    return {e.name: c.search_runs([e.experiment_id]) for e in c.search_experiments()}


@pytest.fixture()
def project(tmp_path, monkeypatch, server):
    """A working folder with the shipped params.yaml, logging to the module's server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.chdir(tmp_path)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw["resources"]["storage_path"] = str(tmp_path / "ray_results")
    return tmp_path, raw


def test_a_trial_that_raises_fails_its_run_and_the_sweep(project, server):
    import ray

    from pipeline.orchestration.sweep import SweepError, driver, run_study

    folder, raw = project
    raw = copy.deepcopy(raw)
    raw["profiles"]["quick"].update(seeds=[0], train={"steps": 20, "batch_size": 32, "log_every": 10,
                                                       "checkpoint_every": 0, "eval_samples": 64, "eval_every": 0},
                                    train_by_dataset={})  # the quick profile's longer digits budget is not this test's
    raw["studies"]["generation"].update(models=["gan"], datasets=["digits"])
    cfg = config.parse(raw, "params.yaml")
    data.save(data.make_digits(0, 0.1, 0.2), folder / "data")
    # The fault: a classifier built for 100 inputs where digits have 64. It loads; the
    # trial's evaluation then raises inside its Ray worker.
    evalnet.save(evalnet.Classifier(100, 8, 10), {"dataset": "digits"}, "digits", folder / "evalnets")
    try:
        with pytest.raises(SweepError, match="1 of 1 trials failed"):
            run_study(cfg, "generation", results_dir=folder / "results")
    finally:
        ray.shutdown()
    assert not (folder / "results" / "generation").exists()
    runs = runs_by_experiment(server)
    parent = next(r for r in runs["pm2gan/generation"] if r.data.tags.get("kind") == "sweep")
    child = next(r for r in runs["pm2gan/trials"] if r.data.tags.get(tracking.SWEEP_RUN_TAG) == parent.info.run_id)
    assert parent.info.status == "FAILED" and parent.data.tags["outcome"] == "error"
    assert parent.data.tags[tracking.DRIVER_TAG] == driver()  # whose study lock it held
    assert child.info.status == "FAILED" and "mat1 and mat2 shapes cannot be multiplied" in child.data.tags["error"]


def test_theory_that_cannot_write_its_results_fails_its_run(project, server):
    from pipeline.orchestration import theory_run as theory_stage

    folder, raw = project
    raw = copy.deepcopy(raw)
    raw["theory"].update(disc_steps=20, step_sizes=[0.5])
    raw["theory"]["generator"]["samples"] = 1000
    (folder / "results").write_text("a file where the results folder should be")
    with pytest.raises(OSError):
        theory_stage.run(config.parse(raw, "params.yaml"), folder / "results" / "theory")
    (run,) = runs_by_experiment(server)["pm2gan/theory"]
    assert run.info.status == "FAILED" and "Error" in run.data.tags["error"]


def test_pm2gan_study_theory_runs_the_analytic_study_and_names_unknown_ones(project, server, capsys):
    """`dvc.yaml` runs `pm2gan study theory`: the CLI dispatches an analytic study by its kind,
    although params.yaml configures it under `theory`, not `studies`."""
    from pipeline.cli import main

    folder, raw = project
    raw = copy.deepcopy(raw)
    raw["theory"].update(disc_steps=20, step_sizes=[0.5])
    raw["theory"]["generator"]["samples"] = 1000
    (folder / "params.yaml").write_text(yaml.safe_dump(raw))
    assert main(["study", "theory"]) == 0
    assert "identities hold" in capsys.readouterr().out
    assert (folder / "results" / "theory" / "summary.json").exists()
    assert main(["study", "theroy"]) == 2
    assert "studies.theroy: no such study" in capsys.readouterr().err


def test_report_on_a_corrupt_results_file_fails_its_run(project, server):
    from pipeline.cli import main

    folder, raw = project
    (folder / "params.yaml").write_text(yaml.safe_dump(raw))
    (folder / "results" / "factorial").mkdir(parents=True)
    (folder / "results" / "factorial" / "trials.json").write_text('{"study": "factorial", "trials": [')
    try:
        code = main(["report"])
    except ValueError:  # a corrupt results file may surface as an exception or as an error exit
        code = 1
    assert code != 0
    (run,) = runs_by_experiment(server)["pm2gan/report"]
    assert run.info.status == "FAILED" and "Invalid JSON" in run.data.tags["error"]


def test_a_finished_block_ends_its_run_finished_and_ctrl_c_ends_it_killed(server):
    experiment = tracking.experiment_id(server, "test/status")
    with tracking.run(server, experiment, "ok") as ok:
        pass
    with pytest.raises(KeyboardInterrupt), tracking.run(server, experiment, "interrupted") as killed:
        raise KeyboardInterrupt
    c = tracking.client(server)
    assert c.get_run(ok).info.status == "FINISHED"
    assert c.get_run(killed).info.status == "KILLED"



def test_sweeps_left_running_by_a_dead_process_are_closed_as_abandoned(server):
    """What the study's lock allows: any other RUNNING sweep of the study has no live process."""
    experiment = tracking.experiment_id(server, "test/abandoned")
    c = tracking.client(server)
    trials = tracking.experiment_id(server, "test/abandoned-trials")
    dead = c.create_run(experiment, run_name="dead", tags={"kind": "sweep"}).info.run_id
    child = c.create_run(trials, run_name="child", tags={tracking.SWEEP_RUN_TAG: dead}).info.run_id
    live = c.create_run(experiment, run_name="live", tags={"kind": "sweep"}).info.run_id
    live_child = c.create_run(trials, run_name="live child", tags={tracking.SWEEP_RUN_TAG: live}).info.run_id
    # issue 22, finding 8: with a shared tracking server, another machine's (or checkout's) live sweep
    elsewhere = c.create_run(experiment, run_name="elsewhere",
                             tags={"kind": "sweep", tracking.DRIVER_TAG: "other-host:/work/pm2gan"}).info.run_id
    ours = c.create_run(experiment, run_name="ours", tags={"kind": "sweep", tracking.DRIVER_TAG: "here:/p"}).info.run_id
    tracking.close_abandoned_sweeps(server, experiment, keep=live, trials_experiment=trials, driver="here:/p")
    assert c.get_run(dead).info.status == "KILLED" and c.get_run(dead).data.tags["outcome"] == "abandoned"
    assert c.get_run(child).info.status == "KILLED"
    assert c.get_run(live).info.status == c.get_run(live_child).info.status == "RUNNING"
    assert c.get_run(elsewhere).info.status == "RUNNING"  # not this lock's to judge
    assert c.get_run(ours).info.status == "KILLED"
