"""Ctrl+C in the middle of a study under `pm2gan dvc repro`, and the `dvc repro` that resumes it:
in a checkout of its own (not the smoke run's of test_e2e.py), so it runs beside that module
(`make test` runs test modules in parallel, pytest-xdist)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.checkout import dvc_env, make_checkout
from tests.test_e2e import dvc, longer, mlflow_runs, reads, services_left, tiny_params, trial_count

pytestmark = pytest.mark.e2e


def test_interrupted_sweep_writes_nothing_and_resumes(tmp_path):
    """Ctrl+C in the middle of a study: no results that look whole, and the next
    `dvc repro` finishes the sweep from where it stopped, under the same parent run."""
    params = longer(tiny_params(tmp_path / "fashion"), steps=2000, checkpoint_every=250)
    params["studies"]["factorial"]["models"] = ["ae", "pm", "aae"]
    repo = make_checkout(tmp_path / "pm2gan", yaml.safe_dump(params, sort_keys=False))
    dvc(repo, "repro", "evalnet")
    # interrupted under `pm2gan dvc` (make repro's door), which waits for the stage to close its
    # runs before it stops the shared services; resumed by plain `dvc repro`
    proc = subprocess.Popen([str(Path(sys.executable).parent / "pm2gan"), "dvc", "repro", "factorial"], cwd=repo,
                            env=dvc_env(repo), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    for line in proc.stdout:
        if line.startswith("[2/"):  # two trials done, others running or pending
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl+C sends to the terminal's process group
            break
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode != 0
    assert "study factorial was interrupted" in output and "`dvc repro` resumes the sweep" in output
    assert not (repo / "results" / "factorial").exists()
    assert services_left(repo) == []
    assert "factorial" in dvc(repo, "status")

    resumed = dvc(repo, "repro", "factorial")
    total = trial_count("factorial", params)
    done = int(re.search(rf"resuming interrupted sweep .*: (\d+) of {total} trials already finished", resumed).group(1))
    assert 2 <= done < total
    trials = json.loads((repo / "results" / "factorial" / "trials.json").read_text())["trials"]
    assert len(trials) == total and all(t["outcome"] == "completed" for t in trials)

    runs = mlflow_runs(repo)
    parents = [r for r in runs["pm2gan/factorial"] if r.data.tags.get("kind") == "sweep"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    children = reads(runs["pm2gan/trials"], "factorial")
    # one run per trial: a trial cut off by the interruption continued its own run
    assert sorted(r.info.run_name for r in children) == sorted(t["run_name"] for t in trials)
    assert all(r.info.status == "FINISHED" and r.data.tags["outcome"] == "completed" for r in children)
