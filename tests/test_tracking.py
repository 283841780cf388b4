"""MLflow through a real tracking server: the local server's life cycle, a trial's run (params,
tags, curves, images, checkpoint), one run per training whichever studies read it, and a clear
error for a dead server."""
from __future__ import annotations

import os
import socket

import pytest
import requests

from pipeline.orchestration.trainable import TrackingHooks
from pipeline.tracking import mlflow_api as tracking
from pipeline.tracking import trial_runs
from pipeline.trial.train import train
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


def test_the_local_server_is_mlflows_in_one_process_with_its_host_check(server):
    """`mlflow server` with uvicorn serving in its own process (server_process.py): MLflow's server
    at this MLflow's version, no second process, and MLflow's guard against DNS rebinding on, as in
    the uvicorn process `mlflow server` would have started."""
    import mlflow
    import psutil

    port = int(server.rsplit(":", 1)[1])
    listening = [c.pid for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port]
    assert len(listening) == 1
    process = psutil.Process(listening[0])
    assert "pipeline.tracking.server_process" in process.cmdline() and process.children() == []
    assert requests.get(server + "/version", timeout=10).text == mlflow.__version__
    search = "/api/2.0/mlflow/experiments/search?max_results=1"
    assert requests.get(server + search, timeout=10).ok
    refused = requests.get(server + search, headers={"Host": "attacker.example"}, timeout=10)
    assert refused.status_code == 403 and "DNS rebinding" in refused.text


def test_a_pipeline_folder_where_the_server_starts_is_not_taken_for_pm2gan_s(tmp_path, monkeypatch):
    """`pm2gan ui` in an older checkout (or in another project with a `pipeline/` package): the
    server's module was looked up there first, missing, and the server never started."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "pipeline" / "tracking").mkdir(parents=True)
    (tmp_path / "pipeline" / "__init__.py").write_text("")
    (tmp_path / "pipeline" / "tracking" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    with tracking.tracking_server(tmp_path / "mlruns") as uri:
        assert requests.get(uri + "/health", timeout=10).ok


def test_the_python_pm2gan_asks_for_has_what_keeps_the_server_out_of_its_starting_folder():
    """That protection is PYTHONSAFEPATH (tracking.SERVER_ENV), which Python reads from 3.11 on
    (3.10 has no such variable). pyproject.toml must not admit a Python without it."""
    import tomllib

    from packaging.specifiers import SpecifierSet

    from tests.conftest import ROOT

    assert tracking.SERVER_ENV.get("PYTHONSAFEPATH") == "1"
    allowed = SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])
    assert not any(allowed.contains(f"3.{minor}") for minor in range(11)), allowed


def test_a_command_that_is_not_uvicorn_s_starts_as_mlflow_would_start_it():
    """The substitution steps aside for any other command MLflow starts: it runs as a process."""
    import sys

    from pipeline.tracking import server_process

    started = []
    start = server_process._serve_here(lambda cmd, **kw: started.append((cmd, kw)) or "a process")
    assert server_process.uvicorn_arguments([sys.executable, "-m", "uvicorn", "--port", 5000, "app"]) == [
        "--port", "5000", "app"]
    assert server_process.uvicorn_arguments(["gunicorn", "-b", "127.0.0.1:5000", "app"]) is None
    assert start(["gunicorn", "app"], extra_env={"A": "1"}, synchronous=False) == "a process"
    assert start([sys.executable, "-m", "uvicorn", "app"], synchronous=True) == "a process"  # waited on: not a server
    assert started == [(["gunicorn", "app"], {"extra_env": {"A": "1"}, "synchronous": False}),
                       ([sys.executable, "-m", "uvicorn", "app"], {"extra_env": None, "synchronous": True})]


def open_run(server: str, experiment: str, cfg, ds) -> tracking.TrialRun:
    """A trial's run as a sweep's driver makes it (pipeline/tracking/trial_runs.py), opened to record."""
    run_id = tracking.create_trial_run(server, experiment, cfg.run_name, {"kind": "trial", "model": cfg.model},
                                       cfg.flat_params(), trial_runs._dataset(ds))
    return tracking.TrialRun(server, run_id)


def test_trial_run_records_config_curves_images_and_checkpoint(server, datasets):
    ds = datasets["ring8"]
    cfg = trial("gan", ds, steps=40, log_every=10, eval_every=20)
    experiment = tracking.experiment_id(server, "test/trial")
    run = open_run(server, experiment, cfg, ds)
    result = train(cfg, ds, hooks=TrackingHooks(run, reference=ds.x["train"][:500]))

    client = tracking.client(server)
    logged = client.get_run(run.run_id)
    assert logged.info.status == "FINISHED" and logged.info.run_name == cfg.run_name
    assert "study" not in logged.data.params  # one run serves every study that reads it
    assert logged.data.tags["outcome"] == "completed" and logged.data.tags["model"] == "gan"
    assert logged.data.tags[tracking.CHECKPOINT_TAG] == "logged"
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


def test_one_run_per_training_whichever_studies_read_it(server, datasets):
    """The driver's plan (pipeline/tracking/trial_runs.py) against a real server: a training read by two
    studies has one run, tagged with both; a second reading records nothing; a new evaluation of
    it records into the same run without uploading the checkpoint again; a study's saved-view
    filter finds exactly its runs."""
    ds = datasets["ring8"]
    experiment = tracking.experiment_id(server, "test/plan")
    client = tracking.client(server)
    factorial = trial("gan", ds, steps=20).model_copy(update={"study": "factorial"})
    generation = factorial.model_copy(update={"study": "generation", "variant": {"lr": 0.0002}})

    def plan(study, sweep_run, cfgs, keys):
        return trial_runs.plan(server, experiment, study, sweep_run, cfgs, {c.trial_id: k for c, k in zip(cfgs, keys)},
                               {"ring8": ds}, {"code_version": "abc"})

    first = plan("factorial", "sweep-a", [factorial], [("k1", "e1")])[factorial.trial_id]
    assert first["record"] and first["log_checkpoint"]
    assert client.get_run(first["run_id"]).info.status == "SCHEDULED"  # not RUNNING before its trial starts
    train(factorial, ds, hooks=TrackingHooks(tracking.TrialRun(server, first["run_id"])),
          provenance={"evaluation_key": "e1"})

    second = plan("generation", "sweep-b", [generation], [("k1", "e1")])[generation.trial_id]
    assert second == {"run_id": first["run_id"], "record": False, "log_checkpoint": False}
    tags = client.get_run(first["run_id"]).data.tags
    assert tags["study.factorial"] == "default" and tags["study.generation"] == "lr=0.0002"
    assert tags[tracking.SWEEP_RUN_TAG] == "sweep-a" and tags[trial_runs.EVALUATION_TAG] == "e1"

    again = plan("generation", "sweep-c", [generation], [("k1", "e2")])[generation.trial_id]  # a new metric
    assert again == {"run_id": first["run_id"], "record": True, "log_checkpoint": False}
    assert client.get_run(first["run_id"]).data.tags[tracking.SWEEP_RUN_TAG] == "sweep-c"

    other = trial("gan", ds, steps=20, seed=1).model_copy(update={"study": "factorial"})
    twin = other.model_copy(update={"variant": {"gen_cost": "x"}})  # a second row of the same training
    planned = plan("factorial", "sweep-d", [factorial, other, twin], [("k1", "e2"), ("k2", "e1"), ("k2", "e1")])
    assert planned[other.trial_id]["run_id"] == planned[twin.trial_id]["run_id"] != first["run_id"]
    assert [planned[t.trial_id]["record"] for t in (other, twin)] == [True, False]  # one of them records

    def found(study):
        return {r.info.run_id for r in client.search_runs([experiment], trial_runs.study_filter(study))}

    assert found("generation") == {first["run_id"]}
    assert found("factorial") == {first["run_id"], planned[other.trial_id]["run_id"]}
    trainings = {r.data.tags[trial_runs.KEY_TAG] for r in tracking.runs_tagged(server, experiment, trial_runs.KEY_TAG)}
    assert len(trainings) == 2

    # the study's config changed: it reads another training now, and the one it read leaves its view
    plan("generation", "sweep-e", [generation], [("k3", "e1")])
    assert len(found("generation")) == 1 and found("generation") != {first["run_id"]}
    assert "study.factorial" in client.get_run(first["run_id"]).data.tags  # what another study reads stays


def test_a_trial_that_goes_on_elsewhere_keeps_the_nodes_it_trained_on(server):
    """Issue 22, finding 8: a trial resumed on another node overwrote its `ray_node` tag."""
    experiment = tracking.experiment_id(server, "test/nodes")
    run_id = tracking.create_trial_run(server, experiment, "t", {"kind": "trial"}, {})
    for node in ("10.0.0.1/aaaa", "10.0.0.1/aaaa", "10.0.0.2/bbbb"):  # started, reopened on its node, resumed elsewhere
        tracking.TrialRun(server, run_id, append={"ray_node": node})
    assert tracking.client(server).get_run(run_id).data.tags["ray_node"] == "10.0.0.1/aaaa, 10.0.0.2/bbbb"


def test_a_trained_model_is_loaded_from_its_run_and_sampled_from_the_command_line(server, datasets, tmp_path,
                                                                                  monkeypatch, capsys):
    import numpy as np

    from pipeline.cli import main
    from tests.conftest import ROOT

    ds = datasets["ring8"]
    cfg = trial("gan", ds, steps=20, log_every=10)
    run = open_run(server, tracking.experiment_id(server, "test/sample"), cfg, ds)
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
    run = open_run(server, experiment, cfg, ds)
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
    tracking.save_view(server, experiment, "wide", "pm2gan: wide", columns)
    stored = tracking.client(server).get_experiment(experiment).tags[tracking.view_tag("wide")]
    envelope = json.loads(stored)
    assert envelope["name"] == "pm2gan: wide" and envelope["state"].startswith("deflate;")
    state = json.loads(zlib.decompress(base64.b64decode(envelope["state"][len("deflate;"):])))
    assert state["selectedColumns"] == state["columnOrder"] == columns
    assert state["columnWidths"]["metrics.`eval/sampler_0/sample_loglik`"] >= 7 * len("eval/sampler_0/sample_loglik")


def test_a_server_whose_port_was_taken_meanwhile_starts_on_another(tmp_path, monkeypatch):
    """The port chosen for a local server is taken before the server binds it (what CI saw once):
    the server exits saying so, and another free port is tried."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    ports = iter([taken.getsockname()[1]])
    free_port = tracking._free_port
    monkeypatch.setattr(tracking, "_free_port", lambda host: next(ports, None) or free_port(host))
    with taken, tracking.tracking_server(tmp_path) as uri:
        assert not uri.endswith(f":{taken.getsockname()[1]}")
        assert requests.get(uri + "/health", timeout=10).ok
    assert "address already in use" in (tmp_path / "server.log").read_text()
