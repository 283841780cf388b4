"""The cluster door, run for real: a two-node Ray cluster on this machine (tests/cluster.py),
`pm2gan submit` from a fresh clone, trials on both nodes, outputs back through a DVC remote,
a node killed in the middle of a sweep, and a job driver killed and its sweep resumed.

The tests marked `cluster` start real Ray nodes (minutes); `make test` runs them, `make
test-fast` leaves them out. The others check the door's refusals without a cluster."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml

from pipeline.orchestration import cluster as clustermod
from pipeline.orchestration.recovery import lost_with_its_node
from pipeline.tracking import mlflow_api as tracking
from tests.checkout import checkpointed_unfinished, dvc_env, make_checkout
from tests.cluster import LocalCluster
from tests.test_e2e import longer, tiny_params

STUDY, RESUMED = "factorial", "inference"


def cluster_params(fashion: Path) -> dict:
    """The smoke settings, with trials long enough (thousands of steps, a checkpoint every 250)
    to be cut off in the middle: factorial 6 trials, inference 4."""
    params = longer(tiny_params(fashion), steps=3000, checkpoint_every=250)
    params["studies"][STUDY]["models"] = ["ae", "pm", "aae"]  # x ica, digits
    params["studies"][RESUMED]["models"] = ["ae", "pm", "aae", "vae"]  # x digits
    params["studies"][RESUMED]["train"] = {"steps": 6000, "checkpoint_every": 500}
    return params


def trials_of(study: str, params: dict) -> int:
    from pipeline.settings.config import parse
    from pipeline.settings.trials import expand

    return len(expand(parse(params), study))


# --------------------------------------------------------------------------- without a cluster


def _repo(tmp_path: Path) -> Path:
    return make_checkout(tmp_path / "pm2gan", yaml.safe_dump(tiny_params(tmp_path / "fashion"), sort_keys=False))


def _pm2gan(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["pm2gan", *args], cwd=repo, env={**dvc_env(), **(env or {})}, capture_output=True,
                          text=True, timeout=300)


def test_submit_says_what_a_cluster_job_needs_before_submitting(tmp_path):
    repo = _repo(tmp_path)
    done = _pm2gan(repo, "submit", STUDY)
    assert done.returncode == 2
    for needed in ("--address (or RAY_ADDRESS)", "--tracking-uri (or MLFLOW_TRACKING_URI)",
                   "--storage (or PM2GAN_STORAGE_PATH)"):
        assert needed in done.stderr
    given = ["--address", "http://127.0.0.1:9", "--tracking-uri", "http://127.0.0.1:9", "--storage", str(tmp_path)]
    no_remote = _pm2gan(repo, "submit", STUDY, *given)
    assert no_remote.returncode == 2 and "no DVC remote to bring the job's outputs back through" in no_remote.stderr
    unknown = _pm2gan(repo, "submit", "factorail", *given)
    assert unknown.returncode == 2 and "stages.factorail: no such stage" in unknown.stderr
    # a URL longer than a terminal's line (DVC's `remote list` table wrapped it, and it was not found)
    subprocess.run(["dvc", "remote", "add", "--local", "-d", "shared", str(tmp_path / ("remote-" + "x" * 90))],
                   cwd=repo, check=True, env=dvc_env(), capture_output=True)
    unreachable = _pm2gan(repo, "submit", STUDY, *given)
    assert unreachable.returncode == 1 and "cannot reach the Ray cluster at http://127.0.0.1:9" in unreachable.stderr  # failed, not misused


def test_the_remote_is_read_from_dvc_s_config_a_relative_path_from_its_file_s_folder(tmp_path, monkeypatch):
    def dvc(*args):
        subprocess.run(["dvc", *args], cwd=tmp_path, check=True, env=dvc_env(), capture_output=True)

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    dvc("init", "-q")
    dvc("remote", "add", "-d", "team", "shared-remote")  # written to .dvc/config as ../shared-remote, from its folder
    dvc("remote", "add", "bucket", "s3://a-bucket/" + "p" * 100)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", dvc_env()["PATH"])
    assert clustermod.dvc_remote_url(None) == ("team", str(tmp_path / "shared-remote"))
    assert clustermod.dvc_remote_url("bucket") == ("bucket", "s3://a-bucket/" + "p" * 100)
    dvc("remote", "add", "--local", "-d", "mine", "elsewhere")  # .dvc/config.local overrides the default
    assert clustermod.dvc_remote_url(None) == ("mine", str(tmp_path / "elsewhere"))
    assert (tmp_path / ".dvc" / "config").read_text().count("../shared-remote") == 1  # what DVC wrote
    with pytest.raises(clustermod.ClusterSetupError, match=r"no DVC remote named 'nope' \(remotes: team, bucket, mine\)"):
        clustermod.dvc_remote_url("nope")


def test_restore_refuses_to_train_here(tmp_path):
    """`submit` restores with `dvc repro --pull`: a stage missing from the run cache must say so,
    not start training on the user's machine."""
    repo = _repo(tmp_path)
    done = _pm2gan(repo, "study", STUDY, env={clustermod.RESTORE_ONLY_ENV: "1"})
    assert done.returncode == 2 and "`pm2gan study` would compute here" in done.stderr
    assert not (repo / "results").exists()


def test_lost_nodes_are_told_from_trials_that_raised():
    from ray.exceptions import ActorDiedError, ActorUnavailableError, NodeDiedError, RayTaskError

    assert lost_with_its_node(ActorUnavailableError("RPC error: Socket closed", None))  # what a killed node gives
    assert lost_with_its_node(NodeDiedError("node 1 died"))
    assert lost_with_its_node(ActorDiedError())
    try:
        raise ValueError("a bug in a trial")
    except ValueError as err:
        raised = RayTaskError("run_trial", "traceback", err).as_instanceof_cause()
    assert not lost_with_its_node(raised)
    assert not lost_with_its_node(ActorDiedError(RayTaskError("run_trial", "traceback", ValueError("in __init__"))))
    assert not lost_with_its_node(ValueError("a bug"))


def test_job_refuses_to_run_outside_a_submission(tmp_path):
    repo = _repo(tmp_path)
    done = _pm2gan(repo, "job", STUDY)
    assert done.returncode == 2 and f"{clustermod.REMOTE_ENV} is not set" in done.stderr


# --------------------------------------------------------------------------- on a two-node cluster


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    with LocalCluster(head_cpus=1, workers=[1], mlflow_store=root / "mlruns") as c:
        yield c


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> tuple[Path, dict]:
    """A fresh clone with a DVC remote (a local folder standing in for a bucket) and a folder
    every node sees standing in for the NFS share Tune's storage needs."""
    root = tmp_path_factory.mktemp("clone")
    params = cluster_params(root / "fashion")
    repo = make_checkout(root / "pm2gan", yaml.safe_dump(params, sort_keys=False))
    subprocess.run(["dvc", "remote", "add", "--local", "-d", "shared", str(root / "dvc-remote")], cwd=repo, check=True,
                   env=dvc_env(), capture_output=True)
    return repo, params


def submit(c: LocalCluster, repo: Path, study: str, on_line=None) -> tuple[int, str]:
    """`pm2gan submit STUDY` as a user types it; `on_line(line)` sees the followed log as it comes."""
    storage = repo.parent / "shared-storage"
    proc = subprocess.Popen(["pm2gan", "submit", study, "--address", c.dashboard, "--tracking-uri", c.tracking_uri,
                             "--storage", str(storage)], cwd=repo, env=c.env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if on_line:
            on_line(line)
    proc.wait(timeout=600)
    return proc.returncode, "".join(lines)


def runs_of(c: LocalCluster, study: str) -> tuple[list, list]:
    """The study's sweep runs, and the trial runs it reads (one per training, in pm2gan/trials)."""
    from pipeline.tracking import trial_runs

    client = tracking.client(c.tracking_uri)
    experiment = client.get_experiment_by_name(f"pm2gan/{study}").experiment_id
    parents = [r for r in client.search_runs([experiment], max_results=1000) if r.data.tags.get("kind") == "sweep"]
    trials = client.get_experiment_by_name("pm2gan/trials").experiment_id
    return parents, client.search_runs([trials], trial_runs.study_filter(study), max_results=1000)


@pytest.mark.e2e
@pytest.mark.cluster
def test_submit_runs_on_both_nodes_survives_a_lost_node_and_brings_the_outputs_back(two_nodes, clone):
    repo, params = clone
    worker = two_nodes.nodes[1]
    killed = []

    def kill_worker_mid_sweep(line: str) -> None:
        if line.startswith("[2/") and not killed:  # two trials done, one running on each node
            # a node runs one trial at a time (1 CPU each): once two unfinished trials have a checkpoint
            # in the shared storage, the worker's has one to go on from (the driver reads the files
            # themselves, pipeline/orchestration/recovery.py, so nothing else needs to have happened)
            deadline = time.monotonic() + 120
            while checkpointed_unfinished(repo.parent / "shared-storage", f"{STUDY}-*") < 2:
                assert time.monotonic() < deadline, "the running trials wrote no checkpoint"
                time.sleep(0.2)
            killed.append(worker.kill())

    rc, out = submit(two_nodes, repo, STUDY, kill_worker_mid_sweep)
    assert rc == 0, out[-6000:]
    assert killed and killed[0] > 0
    total = trials_of(STUDY, params)

    # the lost node's trial went on from its checkpoint, on the node that was left
    assert re.search(r"pm2gan: 1 trials were lost with their Ray node", out), out[-6000:]
    assert re.search(r"pm2gan: \S+ goes on from its checkpoint at step [\d,]+ on ", out), out[-6000:]

    # the outputs are here, restored from the remote's run cache: nothing trained on this machine
    assert "Stage 'factorial' is cached - skipping run, checking out outputs" in out
    trials = json.loads((repo / "results" / STUDY / "trials.json").read_text())["trials"]
    assert len(trials) == total and len({t["trial_id"] for t in trials}) == total
    assert all(t["outcome"] == "completed" for t in trials)
    assert STUDY in yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    status = subprocess.run(["dvc", "status", STUDY], cwd=repo, env=dvc_env(), capture_output=True, text=True,
                            check=True).stdout
    assert "up to date" in status

    # both nodes ran trials, and every result names its node
    nodes = {t["provenance"]["ray_node"] for t in trials}
    assert len(nodes) == 2, nodes

    # MLflow: each trial once, with its final outcome and its node; the table names the nodes
    parents, children = runs_of(two_nodes, STUDY)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(r.info.run_name for r in children) == sorted(t["run_name"] for t in trials)
    assert all(r.info.status == "FINISHED" and r.data.tags["outcome"] == "completed" for r in children)
    # the nodes each trained on, in order: the resumed trial names the lost node first, then the one it finished on
    trained_on = {r.info.run_name: r.data.tags["ray_node"].split(", ") for r in children}
    assert {t["run_name"]: t["provenance"]["ray_node"] for t in trials} == {k: v[-1] for k, v in trained_on.items()}
    assert sorted(len(v) for v in trained_on.values())[-1] == 2  # issue 22, finding 8: it was overwritten
    table = Path(tracking.client(two_nodes.tracking_uri).download_artifacts(parents[0].info.run_id, "comparison.md"))
    assert f"{total} trials ran on 2 nodes" in table.read_text()


@pytest.mark.e2e
@pytest.mark.cluster
def test_a_killed_job_driver_resumes_under_the_same_parent_run(two_nodes, clone):
    repo, params = clone
    if two_nodes.alive_nodes() < 2:  # the previous test killed its worker: a machine back in the cluster
        two_nodes.add_node(1)
        two_nodes.wait_for_nodes(2)
    total = trials_of(RESUMED, params)
    killed = []

    def kill_driver(line: str) -> None:
        if line.startswith("[1/") and not killed:
            found = [p for p in psutil.process_iter(["cmdline"]) if f"job {RESUMED}" in " ".join(p.info["cmdline"] or [])]
            roots = [p for p in found if p.ppid() not in {q.pid for q in found}]  # a shell may wrap the entrypoint
            assert len(roots) == 1, found
            tree = [roots[0], *roots[0].children(recursive=True)]
            for p in tree:
                p.send_signal(signal.SIGKILL)
            killed.append(len(tree))

    rc, out = submit(two_nodes, repo, RESUMED, kill_driver)
    assert killed and rc == 1, out[-6000:]  # the job failed
    assert "submitting again resumes an interrupted sweep" in out
    assert not (repo / "results" / RESUMED).exists()

    rc, out = submit(two_nodes, repo, RESUMED)
    assert rc == 0, out[-6000:]
    done = int(re.search(rf"resuming interrupted sweep .*: (\d+) of {total} trials already finished", out).group(1))
    assert 1 <= done < total
    trials = json.loads((repo / "results" / RESUMED / "trials.json").read_text())["trials"]
    assert len(trials) == total and all(t["outcome"] == "completed" for t in trials)
    parents, children = runs_of(two_nodes, RESUMED)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"  # the same parent run, finished
    assert sorted(r.info.run_name for r in children) == sorted(t["run_name"] for t in trials)
    assert all(r.info.status == "FINISHED" and r.data.tags["outcome"] == "completed" for r in children)


@pytest.mark.e2e
@pytest.mark.cluster
@pytest.mark.parametrize("token", [None, "0" * 64], ids=["no token", "another cluster's token"])
def test_a_cluster_that_refuses_the_token_is_one_clear_error(two_nodes, clone, tmp_path, token):
    repo, _ = clone
    env = {k: v for k, v in two_nodes.env(HOME=str(tmp_path)).items() if k != "RAY_AUTH_TOKEN"}  # no ~/.ray either
    env.update({"RAY_AUTH_TOKEN": token} if token else {"RAY_AUTH_MODE": "disabled"})
    done = subprocess.run(["pm2gan", "submit", STUDY, "--address", two_nodes.dashboard, "--tracking-uri",
                           two_nodes.tracking_uri, "--storage", str(tmp_path)], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "refused this machine" in done.stderr and "RAY_AUTH_TOKEN" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
