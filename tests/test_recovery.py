"""Taking up an interrupted sweep from its own files (pipeline/orchestration/recovery.py): the latest checkpoint
of each unfinished trial, the results of the finished ones, across the folders of the sweep's
runs of Tune; anything that does not parse, or belongs to another trial, is passed over. Real
training writes the checkpoints; no Ray is needed to read them."""
from __future__ import annotations

import shutil

from pipeline.orchestration.recovery import harvest, next_round, round_folders
from pipeline.trial.train import train
from tests.conftest import trial


class Keep:
    """train.Hooks that keeps every checkpoint it is handed, and the final result beside the last."""

    def __init__(self, folder):
        self.folder, self.saved, self.result = folder, [], None

    def log(self, step, values):
        pass

    def checkpoint(self, step, checkpoint):
        target = self.folder / f"checkpoint_{step:06d}"
        target.mkdir(parents=True)
        shutil.copyfile(checkpoint, target / "checkpoint.pt")
        self.saved.append(target)

    def finish(self, result, checkpoint):
        self.checkpoint(result.steps, checkpoint)
        result.save(self.saved[-1])


def _trained(cfg, ds, folder):
    cfg = type(cfg).from_dict({**cfg.to_dict(), "train": {**cfg.to_dict()["train"], "checkpoint_every": 10}})
    hooks = Keep(folder)
    train(cfg, ds, hooks=hooks)
    return cfg, hooks.saved


def test_a_sweep_is_taken_up_from_its_checkpoints_and_results_only(datasets, tmp_path):
    ds = datasets["ica"]
    sweep = tmp_path / "storage" / "factorial-0123456789"
    finished, finished_checkpoints = _trained(trial("ae", ds, steps=30), ds, sweep / "ae-ica-s0-x_00000")
    running, running_checkpoints = _trained(trial("ae", ds, steps=30, seed=1), ds, tmp_path / "scratch")
    # the running trial: its step-10 checkpoint in the first run's folder, step 20 in the second's
    first, second = sweep / "ae-ica-s1-x_00001", tmp_path / "storage" / "factorial-0123456789.2" / "ae-ica-s1-y_00000"
    for folder, step in ((first, 10), (second, 20)):
        (folder / f"checkpoint_{step:06d}").mkdir(parents=True)
        shutil.copyfile(running_checkpoints[step // 10 - 1] / "checkpoint.pt", folder / f"checkpoint_{step:06d}" / "checkpoint.pt")
    # what is passed over: a truncated checkpoint, a trial of another sweep, a planted pickle
    (sweep / "broken" / "checkpoint_000001").mkdir(parents=True)
    (sweep / "broken" / "checkpoint_000001" / "checkpoint.pt").write_bytes(b"\x80\x05not a checkpoint")
    other, _ = _trained(trial("pm", ds, steps=10), ds, sweep / "pm-ica-s0-x_00002")
    (sweep / "tuner.pkl").write_bytes(b"\x80\x05planted")
    # issue 22, finding 8: Tune copies its experiment state to the storage as a plain file; a kill
    # during the copy left it empty, and a resume through Tune lost every finished trial with it.
    # It is not read: the trials' own files say what finished.
    (sweep / "experiment_state-2026-12-05_03-00-00.json").write_bytes(b"")
    (tmp_path / "storage" / "factorial-01234567890").mkdir()  # another sweep whose name begins the same

    assert [f.rsplit("/", 1)[-1] for f in round_folders(str(sweep))] == ["factorial-0123456789",
                                                                         "factorial-0123456789.2"]
    assert next_round(str(sweep)) == "factorial-0123456789.3"
    assert next_round(str(tmp_path / "storage" / "new-sweep")) == "new-sweep"

    kept = []
    found = harvest(str(sweep), {t.trial_id: t for t in (finished, running)}, keep=lambda r, f: kept.append((r, f)))
    assert set(found.finished) == {finished.trial_id}
    assert [(r.trial.trial_id, f) for r, f in kept] == [(finished.trial_id, finished_checkpoints[-1])]
    assert found.finished[finished.trial_id].outcome == "completed"
    assert {tid: step for tid, (step, _) in found.resume.items()} == {running.trial_id: 20}  # the latest, across runs
    assert found.resume[running.trial_id][1] == (running_checkpoints[1] / "checkpoint.pt").read_bytes()
    assert other.trial_id not in found.resume and other.trial_id not in found.finished

    later = harvest(str(sweep), {running.trial_id: running}, since=1)  # the second run's folder only
    assert {tid: step for tid, (step, _) in later.resume.items()} == {running.trial_id: 20}


def test_a_resumed_sweep_counts_what_finished_before_and_estimates_from_its_own_pace(datasets, monkeypatch, capsys):
    """Issue 22, finding 7: after a resume, the progress line's estimate counted from the killed
    run's start. Each run of Tune now has its own progress callback: the trials finished before
    count toward the total, the pace is this run's."""
    from types import SimpleNamespace

    from pipeline.orchestration import sweep

    now = [5000.0]
    monkeypatch.setattr(sweep.time, "monotonic", lambda: now[0])
    progress = sweep._progress_callback(total=4, already=2)  # two trials finished before the interruption
    cfg = trial("ae", datasets["ica"], steps=30)
    finished = SimpleNamespace(trial_id="t3", status="TERMINATED", config={"trial": cfg.to_dict()},
                               last_result={"outcome": "completed", "eval/recon_mse": 0.5})
    now[0] += 10.0  # this run's first trial took 10 s
    progress.on_trial_complete(0, [finished], finished)
    assert capsys.readouterr().out.startswith("[3/4    10s, ~10s left] ae-ica-s0: completed (recon_mse=0.5)")


def test_a_long_trial_s_heartbeat_gives_its_pace_and_the_time_its_budget_has_left(datasets, monkeypatch, capsys):
    """Issue 21: the line a running trial prints now and then (HEARTBEAT_S) has its steps/s and
    time left, from its last two reports to Tune (their `time_total_s`: the trial's own time)."""
    from types import SimpleNamespace

    from pipeline.orchestration import sweep

    now = [100.0]
    monkeypatch.setattr(sweep.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(sweep, "HEARTBEAT_S", 60.0)
    progress = sweep._progress_callback(total=1)
    running = SimpleNamespace(trial_id="t1", config={"trial": trial("gan", datasets["ring8"], steps=10_000).to_dict()})
    progress.on_trial_result(0, [running], running, {"step": 1_000, "time_total_s": 12.0})
    assert capsys.readouterr().out == ""  # its first report: the heartbeat's clock starts
    now[0] += 30.0
    progress.on_trial_result(0, [running], running, {"step": 2_000, "time_total_s": 20.0})
    assert capsys.readouterr().out == ""  # within a heartbeat of the last line
    now[0] += 40.0
    progress.on_trial_result(0, [running], running, {"step": 4_000, "time_total_s": 30.0})
    # 2,000 steps in the 10 s since its report before: 200 steps/s, 6,000 steps left
    assert capsys.readouterr().out == "  ... gan-ring8-s0: step 4,000 of 10,000, 200 steps/s, ~30s left (1m10s into the sweep)\n"
    # after its training, the trial logs its validation curve point by point: no line goes back to an earlier step
    now[0] += 70.0
    progress.on_trial_result(0, [running], running, {"step": 2_000, "time_total_s": 35.0})
    assert capsys.readouterr().out == ""
    now[0] += 10.0
    progress.on_trial_result(0, [running], running, {"step": 5_000, "time_total_s": 40.0})  # the pace from step 4,000
    assert capsys.readouterr().out == "  ... gan-ring8-s0: step 5,000 of 10,000, 100 steps/s, ~50s left (2m30s into the sweep)\n"
    assert sweep.heartbeat("x", 5, 10, None, 1.0, 3.0) == "  ... x: step 5 of 10 (3s into the sweep)"  # no pace yet
