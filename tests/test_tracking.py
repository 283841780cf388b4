"""MLflow through a real tracking server: the local server's life cycle, a trial's child
run (params, tags, curves, images, checkpoint), and a clear error for a dead server."""
from __future__ import annotations

import os
import socket

import pytest
import requests

from pipeline import tracking
from pipeline.trainable import TrackingHooks, open_trial_run
from pipeline.train import train
from tests.conftest import trial

pytestmark = pytest.mark.service  # starts real services (Ray, an MLflow server, DVC): not the unit tier


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_unreachable_server_is_a_clear_error():
    uri = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(tracking.TrackingError, match=f"{uri} does not answer"):
        tracking.check_server(uri)


def test_file_store_uri_is_refused_with_the_reason():
    with pytest.raises(tracking.TrackingError, match="needs an MLflow tracking server"):
        tracking.check_server("sqlite:///mlflow.db")


def test_cli_stops_before_training_when_the_server_is_down():
    """In a process of its own, so what the command imported is its own doing: it stops before
    Ray is started (or even imported), so no trial trains."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    done = subprocess.run([sys.executable, "-c", "import sys\nfrom pipeline.cli import main\n"
                           "code = main(['study', 'generation'])\nprint(code, 'ray' in sys.modules)"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{closed_port()}"})
    assert done.stdout.split() == ["1", "False"], done.stdout + done.stderr  # failed (1), not misused (2); no Ray
    assert "does not answer" in done.stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    old = os.environ.pop("MLFLOW_TRACKING_URI", None)
    store = tmp_path_factory.mktemp("mlruns")
    with tracking.tracking_server(store) as uri:
        yield uri
    if old is not None:
        os.environ["MLFLOW_TRACKING_URI"] = old
    with pytest.raises(requests.RequestException):  # stopped on exit
        requests.get(uri + "/health", timeout=2)


def test_trial_run_records_config_curves_images_and_checkpoint(server, datasets):
    ds = datasets["ring8"]
    cfg = trial("gan", ds, steps=40, log_every=10, eval_every=20)
    experiment = tracking.experiment_id(server, "test/trial")
    parent = tracking.client(server).create_run(experiment, run_name="sweep")
    run = open_trial_run(server, experiment, parent.info.run_id, cfg, {"code_version": "abc"})
    result = train(cfg, ds, hooks=TrackingHooks(run, reference=ds.x["train"][:500]))

    client = tracking.client(server)
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED" and logged.info.run_name == cfg.run_name
    assert logged.data.tags[tracking.PARENT_TAG] == parent.info.run_id
    assert logged.data.tags["outcome"] == "completed" and logged.data.tags["model"] == "gan"
    not_applicable = set(logged.data.tags["not_applicable"].split(", "))  # a GAN has no encoder
    assert {"eval/recon_mse", "eval/total_correlation", "eval/mmd_prior", "val/dead_units"} <= not_applicable
    assert logged.data.params["hparams.gen_cost"] == "nonsaturating" and logged.data.params["train.steps"] == "40"
    assert logged.data.metrics["eval/prior/modes"] == result.metrics["eval/prior/modes"]
    assert [m.step for m in client.get_metric_history(run.run_id, "loss/disc")] == [10, 20, 30, 40]
    # the progress metrics on validation data, every eval_every steps and at the end
    assert [m.step for m in client.get_metric_history(run.run_id, "val/prior/modes")] == [20, 40]
    artifacts = {a.path for a in client.list_artifacts(run.run_id)}
    assert {"checkpoint", "result.json", "samples-prior.png", "curves.png"} <= artifacts
    assert [a.path for a in client.list_artifacts(run.run_id, "checkpoint")] == ["checkpoint/checkpoint.pt"]


def test_a_trained_model_is_loaded_from_its_run_and_sampled_from_the_command_line(server, datasets, tmp_path,
                                                                                  monkeypatch, capsys):
    import numpy as np

    from pipeline.cli import main
    from tests.conftest import ROOT

    ds = datasets["ring8"]
    cfg = trial("gan", ds, steps=20, log_every=10)
    run = open_trial_run(server, tracking.experiment_id(server, "test/sample"), None, cfg, {})
    train(cfg, ds, hooks=TrackingHooks(run))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    out = tmp_path / "drawn" / "samples.png"
    assert main(["--params", str(ROOT / "params.yaml"), "sample", run.run_id, "--n", "32", "--out", str(out)]) == 0
    drawn = np.load(out.with_suffix(".npy"))
    assert out.stat().st_size > 0 and drawn.shape == (32, 2) and np.isfinite(drawn).all()
    assert "32 samples (prior)" in capsys.readouterr().out
    assert main(["--params", str(ROOT / "params.yaml"), "sample", run.run_id, "--sampler", "shuffled_codes"]) == 2
    assert "draws with prior, not 'shuffled_codes'" in capsys.readouterr().err


def test_diverged_trial_is_recorded_as_such(server, datasets):
    import numpy as np

    ds = datasets["ica"]
    broken = type(ds)(ds.name, {s: np.full_like(v, np.nan) for s, v in ds.x.items()}, meta=ds.meta)
    cfg = trial("ae", ds, steps=30, log_every=10)
    experiment = tracking.experiment_id(server, "test/diverged")
    run = open_trial_run(server, experiment, None, cfg, {})
    train(cfg, broken, hooks=TrackingHooks(run))
    logged = tracking.client(server).get_run(run.run_id)
    assert logged.data.tags["outcome"] == "diverged"
    assert logged.data.metrics["diverged_at_step"] == 10


def test_trials_that_start_together_on_a_new_dataset_each_record_it(server):
    """MLflow's server creates a dataset on its first use without a lock: runs that log a new
    dataset at the same moment collide on its unique key (seen in the e2e sweep; here about one
    round in three collides without the retry, so five rounds). Each trial still records it, once."""
    import threading
    import uuid

    experiment = tracking.experiment_id(server, "test/datasets")
    client = tracking.client(server)
    for _ in range(5):
        digest = uuid.uuid4().hex[:12]  # a dataset the server has never seen
        dataset = tracking.dataset_input("ring8", digest, "data/ring8.npz", {"train": 10}, (2,))
        runs = [client.create_run(experiment).info.run_id for _ in range(8)]
        start, errors = threading.Barrier(len(runs)), []

        def log(run_id: str) -> None:
            start.wait()
            try:
                tracking._log_input(tracking.client(server), run_id, dataset)
            except Exception as err:  # noqa: BLE001 - collected and asserted below
                errors.append(err)

        threads = [threading.Thread(target=log, args=(r,)) for r in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for run_id in runs:
            (used,) = client.get_run(run_id).inputs.dataset_inputs
            assert (used.dataset.name, used.dataset.digest) == ("ring8", digest)


def test_a_view_too_long_for_a_tag_is_stored_deflated_as_the_ui_stores_it(server):
    import base64
    import json
    import zlib

    experiment = tracking.experiment_id(server, "pm2gan/wide-view")
    columns = ["attributes.`Dataset`", *(f"metrics.`eval/sampler_{i}/sample_loglik`" for i in range(400))]
    tracking.save_view(server, experiment, "pm2gan: wide", columns)
    stored = tracking.client(server).get_experiment(experiment).tags[tracking.view_tag()]
    envelope = json.loads(stored)
    assert envelope["name"] == "pm2gan: wide" and envelope["state"].startswith("deflate;")
    state = json.loads(zlib.decompress(base64.b64decode(envelope["state"][len("deflate;"):])))
    assert state["selectedColumns"] == state["columnOrder"] == columns
    assert state["columnWidths"]["metrics.`eval/sampler_0/sample_loglik`"] >= 7 * len("eval/sampler_0/sample_loglik")
