"""The maintained list of bad inputs: each one is refused with a one-line `pm2gan: error:`
that names the file or key and what to do, before any compute, and nothing is written or
deleted. One case per item of the robustness issue's finding 5 (config, data files, the CLI);
the cases that need a Ray cluster's resources are at the end."""
from __future__ import annotations

import gzip
import os
import socket
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.cli import main
from pipeline.data import datasets as data
from pipeline.evaluation import evalnet
from tests.conftest import ROOT

CONFIG_CASES = [  # (change to params.yaml, what the error line must say)
    (lambda r: r["models"]["gan"]["defaults"].update(lr=float("nan")),
     "models.gan.defaults.lr: lr must be a finite number"),
    (lambda r: r["models"]["gan"]["defaults"].update(lr=float("inf")),
     "models.gan.defaults.lr: lr must be a finite number"),
    (lambda r: r["profiles"]["quick"].update(seeds=[-1]), "profiles.quick.seeds[0]: seeds must be >= 0"),
    (lambda r: r.update(profile=["quick"]), "profile: must be str"),
    (lambda r: r.update(profile="huge"), "profile: unknown profile 'huge'"),
    (lambda r: r["theory"]["tolerances"].update(d_star_1d="small"), "theory.tolerances.d_star_1d: must be float"),
    (lambda r: r["tracking"].update(host="0.0.0.0"), "tracking: host '0.0.0.0' would serve the unauthenticated"),
    (lambda r: r["datasets"]["ring8"].update(size=3), "datasets.ring8.size: size 3 gives splits train/val/test = 2/0/1"),
    (lambda r: r["resources"].update(device="tpu"), "resources.device: device must be one of"),
    (lambda r: r["resources"].update(cpus_per_trial=0), "resources.cpus_per_trial: cpus_per_trial must be > 0"),
    # upper bounds: a typo with three extra zeros is an error, not a sweep that never starts
    (lambda r: r["profiles"]["quick"].update(seeds=list(range(10_000))),
     "profiles.quick.seeds: seeds has 10,000 entries; at most 1,000"),
    (lambda r: r["profiles"]["quick"]["train"].update(steps=10**12), "profiles.quick.train.steps: steps must be <= 1e+08"),
    (lambda r: r["profiles"]["quick"]["train"].update(batch_size=10**9),
     "profiles.quick.train.batch_size: batch_size must be <= 65536"),
    (lambda r: r["profiles"]["quick"]["train"].update(batch_size=1), "profiles.quick.train.batch_size: batch_size must be >= 2"),
    (lambda r: r["profiles"]["quick"]["train"].update(eval_samples=10**9),
     "profiles.quick.train.eval_samples: eval_samples must be <= 1e+06"),
    (lambda r: r["profiles"]["quick"]["nets"].update(hidden=10**7), "profiles.quick: hidden must be <= 65,536"),
    (lambda r: r["studies"]["generation"].update(nets={"depth": 1000}), "studies.generation.nets: depth must be <= 64"),
]


@pytest.fixture()
def workdir(tmp_path, monkeypatch):
    """An empty project folder: whatever a refused command writes would show up here."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def shipped() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def refused(argv: list[str], capsys, code: int = 2) -> str:
    """Run the CLI; it must exit `code` (2: what was given is wrong; 1: the work failed) with
    exactly one line on stderr, which is returned."""
    assert main(argv) == code
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("pm2gan: error: "), lines
    return lines[0]


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("mutate, words", CONFIG_CASES, ids=[w.split(":")[0] for _, w in CONFIG_CASES])
def test_bad_params_are_refused_with_one_line_naming_the_key(workdir, capsys, mutate, words):
    raw = shipped()
    mutate(raw)
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    line = refused(["study", "generation"], capsys)
    assert words in line and "params.yaml" in line
    assert files_under(workdir) == {"params.yaml"}


def test_yaml_aliases_and_huge_files_are_refused_at_once(workdir, capsys):
    """A 'billion laughs' of nested aliases would expand beyond memory; a huge value would be
    echoed whole into the error line."""
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(10))
    (workdir / "params.yaml").write_text(bomb)
    assert "takes no YAML aliases" in refused(["check"], capsys)
    (workdir / "params.yaml").write_text("profile: quick\n" + "# padding\n" * 200_000)
    assert "a params file is at most 1,000,000" in refused(["check"], capsys)
    raw = shipped()
    raw["profile"] = "q" * 5_000_000
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw, width=10**8))
    assert "a params file is at most" in refused(["check"], capsys)
    raw["profile"] = ["q" * 400_000]
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw, width=10**8))
    line = refused(["check"], capsys)
    assert "profile: must be str" in line and len(line) < 600


def test_a_file_where_a_folder_belongs_is_refused_before_ray_starts(workdir, capsys):
    raw = shipped()
    raw["resources"]["storage_path"] = "taken"
    (workdir / "taken").write_text("a file")
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    line = refused(["study", "generation"], capsys)
    assert "resources.storage_path" in line and "is a file" in line
    raw["tracking"]["store"] = "taken"
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    line = refused(["report"], capsys)
    assert "tracking.store" in line and "is a file" in line
    assert files_under(workdir) == {"params.yaml", "taken"} and (workdir / "taken").read_text() == "a file"


def _saved(workdir: Path, name: str = "ring8") -> Path:
    ds = data.make_synthetic(name, 500, seed=0, val=0.2, test=0.2)
    (workdir / "data").mkdir(exist_ok=True)
    return data.save(ds, workdir / "data")


@pytest.mark.parametrize("damage", ["zero bytes", "truncated", "not a zip", "nan"])
def test_a_damaged_data_file_is_one_line_naming_it_and_what_to_run(workdir, capsys, damage):
    path = _saved(workdir)
    raw = path.read_bytes()
    if damage == "zero bytes":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "not a zip":
        path.write_text("hello")
    else:
        ds = data.load("ring8", workdir / "data")
        ds.x["val"][3, 0] = np.nan
        data.save(ds, workdir / "data")
    before = path.read_bytes()
    with pytest.raises(data.DataError) as err:
        data.load("ring8", workdir / "data")
    message = str(err.value)
    assert str(path) in message and "pm2gan fetch" in message and "\n" not in message
    assert path.read_bytes() == before  # diagnosed, not deleted or rewritten


def test_a_damaged_study_input_stops_the_cli_with_one_line(workdir, capsys):
    raw = shipped()
    raw["studies"] = {"generation": {**raw["studies"]["generation"], "models": ["gan"], "datasets": ["ring8"]}}
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    _saved(workdir).write_bytes(b"")
    line = refused(["study", "generation"], capsys, code=1)  # the data broke, not the command
    assert "data/ring8.npz: cannot be read" in line
    assert not (workdir / "results").exists() and not (workdir / ".ray_results").exists()


def test_an_output_that_cannot_be_written_stops_a_study_before_any_work(workdir, capsys):
    """Issue 22, finding 6: an unwritable results/ was found after the whole sweep had trained."""
    raw = shipped()
    raw["studies"] = {"generation": {**raw["studies"]["generation"], "models": ["gan"], "datasets": ["ring8"]}}
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    _saved(workdir)
    (workdir / "results").write_text("a file where the results folder belongs")
    line = refused(["study", "generation"], capsys, code=1)
    assert f"the results folder {workdir / 'results'}/ cannot be written" in line and "nothing was run" in line
    assert not (workdir / "mlruns").exists() and not (workdir / ".ray_results").exists()  # no server, no Ray
    assert not (workdir / ".pm2gan").exists()


@pytest.mark.parametrize("store", ["zero bytes beside artifacts", "not sqlite", "another program's sqlite"])
def test_a_tracking_store_that_is_not_mlflow_s_is_refused_not_replaced(tmp_path, store):
    """Issue 22, finding 6: a zero-byte mlflow.db was taken for a new store, and the earlier runs
    vanished from MLflow with their artifacts left behind."""
    import sqlite3

    from pipeline.tracking import mlflow_api as tracking

    db = tmp_path / "mlflow.db"
    (tmp_path / "artifacts" / "1" / "run").mkdir(parents=True)
    (tmp_path / "artifacts" / "1" / "run" / "checkpoint.pt").write_bytes(b"weights")
    if store == "zero bytes beside artifacts":
        db.write_bytes(b"")
    elif store == "not sqlite":
        db.write_text("hello")
    else:
        with sqlite3.connect(db) as con:
            con.execute("CREATE TABLE notes (text)")
    before = db.read_bytes()
    with pytest.raises(tracking.TrackingError, match="pm2gan will not start a new store over it"), \
            tracking.tracking_server(tmp_path):
        pass
    assert db.read_bytes() == before and not (tmp_path / "server.log").exists()  # nothing started, nothing written


HALF_WRITTEN = """
import os, signal, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size=1")  # pages spill to the file mid-transaction, the originals kept in the journal
con.execute("BEGIN")
con.execute("CREATE TABLE half_written (x)")
con.executemany("INSERT INTO half_written VALUES (?)", [("x" * 200,)] * 2000)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.service
def test_a_store_whose_server_was_killed_mid_write_is_taken_up_with_its_runs(tmp_path, monkeypatch):
    """What CI saw once: a server SIGKILLed while it wrote left SQLite's journal of the unfinished
    transaction; read-only, the file cannot be read before that is rolled back, and the next start
    refused the store as "not an SQLite database". The server's own start rolls it back."""
    import sqlite3
    import subprocess
    import sys

    from pipeline.tracking import mlflow_api as tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with tracking.tracking_server(tmp_path) as uri:
        with tracking.run(uri, tracking.experiment_id(uri, "kept"), "before the kill") as run_id:
            pass
    killed = subprocess.run([sys.executable, "-c", HALF_WRITTEN, str(tmp_path / "mlflow.db")])
    assert killed.returncode == -9 and (tmp_path / "mlflow.db-journal").stat().st_size > 0
    with pytest.raises(sqlite3.OperationalError, match="readonly"):  # what the check met
        with sqlite3.connect(f"file:{tmp_path / 'mlflow.db'}?mode=ro", uri=True) as con:
            con.execute("SELECT name FROM sqlite_master").fetchall()
    with tracking.tracking_server(tmp_path) as uri:
        assert tracking.client(uri).get_run(run_id).info.run_name == "before the kill"
    with sqlite3.connect(tmp_path / "mlflow.db") as con:  # the unfinished transaction was rolled back
        assert "half_written" not in {row[0] for row in con.execute("SELECT name FROM sqlite_master")}


def test_an_empty_store_file_with_nothing_beside_it_is_a_new_store(tmp_path):
    """What a first start cut off leaves: nothing to lose, so the server may make its store there."""
    from pipeline.tracking import mlflow_api as tracking

    (tmp_path / "mlflow.db").write_bytes(b"")
    tracking.refuse_foreign_store(tmp_path)  # no error


def test_a_damaged_evaluation_classifier_names_the_stage_to_rerun(workdir):
    (workdir / "evalnets").mkdir()
    (workdir / "evalnets" / "digits.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(data.DataError, match=r"evalnets/digits.pt: cannot be read .*dvc repro evalnet"):
        evalnet.load_state("digits", workdir / "evalnets")


def _idx(path: Path, array: np.ndarray, header_dims: tuple[int, ...] | None = None) -> None:
    dims = header_dims or array.shape
    raw = bytes([0, 0, 0x08, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


@pytest.mark.parametrize("fault, words", [
    ("empty", "holds no examples"),
    ("header", "header says"),
    ("labels", "labels must be 0-9"),
    ("counts", "holds 20 images, .* 19 labels"),
])
def test_malformed_idx_files_are_one_line_errors(tmp_path, fault, words):
    rng = np.random.default_rng(0)
    for split, (images, labels) in data.IDX_FILES.items():
        n = 0 if fault == "empty" else 20
        _idx(tmp_path / images, rng.integers(0, 255, (n, 28, 28)))
        _idx(tmp_path / labels, rng.integers(0, 10, n))
    images, labels = data.IDX_FILES["train"]
    if fault == "header":
        _idx(tmp_path / images, rng.integers(0, 255, (20, 28, 28)), header_dims=(30, 28, 28))
    elif fault == "labels":
        _idx(tmp_path / labels, np.full(20, 254))
    elif fault == "counts":
        _idx(tmp_path / labels, rng.integers(0, 10, 19))
    with pytest.raises(data.DataError, match=words) as err:
        data.make_mnist_like("mnist", str(tmp_path), False, 0, 0.1, tmp_path / "cache")
    assert "\n" not in str(err.value) and str(tmp_path) in str(err.value)  # one line, naming where


def test_the_ui_on_a_taken_port_exits_nonzero(workdir, capsys):
    (workdir / "params.yaml").write_text(yaml.safe_dump(shipped()))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = refused(["ui", "--port", str(port)], capsys, code=1)  # the machine's state is the problem
    assert f"127.0.0.1:{port} is not free" in line


# --------------------------------------------------------------------------- what the cluster has


@pytest.fixture()
def two_cpu_cluster():
    """A real local Ray instance with 2 CPUs and no GPU, as on this machine."""
    import ray

    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False)
    yield
    ray.shutdown()


def _resources(**changes):
    from pipeline.settings import config

    raw = shipped()
    raw["resources"].update(changes)
    return config.parse(raw, "params.yaml")


@pytest.mark.parametrize("changes, words", [
    ({"cpus_per_trial": 8}, "resources.cpus_per_trial: 8 CPUs per trial, but the largest node of the Ray cluster has 2"),
    ({"device": "cuda"}, "resources.device: cuda, but the Ray cluster has no GPU"),
])
@pytest.mark.service
def test_requests_no_node_can_meet_are_refused_before_any_trial(two_cpu_cluster, changes, words):
    from pipeline.orchestration.resources import trial_resources
    from pipeline.settings.config import ConfigError

    with pytest.raises(ConfigError) as err:
        trial_resources(_resources(**changes))
    assert words in str(err.value)


@pytest.mark.service
def test_gpus_per_trial_without_a_gpu_says_the_trials_run_on_cpu(two_cpu_cluster, capsys):
    from pipeline.orchestration.resources import trial_resources

    assert trial_resources(_resources(gpus_per_trial=8)) == {"cpu": 1}
    assert "the Ray cluster has no GPU: trials run on CPU" in capsys.readouterr().out


@pytest.mark.service
def test_more_gpus_per_trial_than_a_node_has_is_refused():
    """Ray's logical resources: a node declared with one GPU, as a one-GPU machine would be."""
    import ray

    from pipeline.orchestration.resources import trial_resources
    from pipeline.settings.config import ConfigError

    ray.init(num_cpus=1, num_gpus=1, include_dashboard=False)
    try:
        with pytest.raises(ConfigError, match="8 GPUs per trial, but the largest node of the Ray cluster has 1"):
            trial_resources(_resources(gpus_per_trial=8))
        assert trial_resources(_resources(gpus_per_trial=0.25)) == {"cpu": 1, "gpu": 0.25}
    finally:
        ray.shutdown()


def test_evaluation_classifier_files_are_identical_for_identical_weights(tmp_path):
    """Its DVC hash must not change when nothing changed (it embedded a random temp name)."""
    from pipeline.settings.config import EvalNet

    ds = data.make_synthetic("bars", 600, seed=0, val=0.2, test=0.2)
    ds.y = {s: (ds.factors[s][:, 0] > 0).astype(np.int64) for s in data.SPLITS}
    spec = EvalNet(steps=5, batch_size=16, lr=1e-3, hidden=8, seed=0)
    digests = []
    for run in ("a", "b"):
        net, summary = evalnet.train_classifier(ds, spec)
        (tmp_path / run).mkdir()
        digests.append(data.file_digest(evalnet.save(net, summary, "bars", tmp_path / run)))
    assert digests[0] == digests[1]
    assert os.path.getsize(tmp_path / "a" / "bars.pt") > 0


class _Payload:
    """What a writer of shared checkpoint storage could plant: unpickling it runs a command."""

    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_checkpoint_that_carries_code_is_refused_without_running_it(workdir):
    import pickle

    import torch

    from pipeline.trial.train import load_checkpoint

    torch.save({"config": _Payload(), "state": {}}, workdir / "checkpoint.pt")
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(workdir / "checkpoint.pt", None)
    assert not (workdir / "pwned").exists()


def test_two_mistakes_are_both_named_on_the_one_line(workdir, capsys):
    raw = shipped()
    raw["resources"]["cpus_per_trial"] = 0
    raw["resources"]["device"] = "tpu"
    (workdir / "params.yaml").write_text(yaml.safe_dump(raw))
    line = refused(["check"], capsys)
    assert "resources.cpus_per_trial: cpus_per_trial must be > 0" in line
    assert "(and 1 more: resources.device: device must be one of" in line


def test_the_cli_explains_itself_without_loading_torch(capsys):
    """`--help` and usage errors answer before the heavy imports; options go after the command
    too; an unknown study is one error line naming the studies."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import sys; from pipeline.cli import main\n"
                          "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
                          "print('torch' in sys.modules)"], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip().endswith("False") and "validate params.yaml" in out.stdout
    assert "job" not in out.stdout.split("positional arguments")[1].split("\n")[1]  # the head's command is hidden
    assert "studies.nope: no such study" in refused(["--params", str(ROOT / "params.yaml"), "study", "nope"], capsys)
    # the smoke run has its own profile: one asked for is refused, not ignored
    assert "pm2gan smoke runs its own profile (smoke)" in refused(
        ["smoke", "--profile", "paper", "--params", str(ROOT / "params.yaml")], capsys)
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("pm2gan ")
    assert main(["check", "--profile", "reference", "--params", str(ROOT / "params.yaml")]) == 0
    assert "profile reference" in capsys.readouterr().out
    # a profile the command line names wrongly is the option's fault, not the file's
    line = refused(["check", "--profile", "nope", "--params", str(ROOT / "params.yaml")], capsys)
    assert line.startswith("pm2gan: error: --profile: unknown profile 'nope' (profiles in ") and "quick" in line
    # every option of every command says what it is; the names to choose from are listed
    from pipeline.cli import HIDDEN, build_parser, family_names

    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    silent = [f"{name} {action.dest}" for name, sub in commands.items() if name not in HIDDEN
              for action in sub._actions if not action.help]
    assert silent == []
    from models.registry import FAMILIES

    assert family_names() == sorted(FAMILIES)  # read from the files, as the registry knows them
    # an unknown command lists the commands --help shows, not the head's hidden one
    with pytest.raises(SystemExit) as usage:
        main(["nope"])
    err = capsys.readouterr().err
    assert usage.value.code == 2 and "invalid choice: 'nope' (choose from 'check'," in err and "'submit', 'dvc', 'smoke')" in err
    assert "job" not in err


@pytest.mark.parametrize("error, code", [
    ("pipeline.tracking.mlflow_api:TrackingError", 1), ("pipeline.data.datasets:DataError", 1), ("pipeline.orchestration.cluster:ClusterError", 1),
    ("pipeline.orchestration.cluster:ClusterSetupError", 2), ("pipeline.files.schema:ConfigError", 2), ("pipeline.orchestration.sweep:SweepInterrupted", 130)])
def test_the_exit_code_tells_a_failure_from_a_usage_error(error, code, monkeypatch, capsys):
    """1: the work was tried and failed; 2: what was given is wrong; 130: interrupted, resumable
    (as `pm2gan --help` states). The real failures behind each class are in the service tests."""
    import importlib

    from pipeline import cli

    module, name = error.split(":")
    cls = getattr(importlib.import_module(module), name)
    exc = cls("params.yaml", "key", "what is wrong") if name == "ConfigError" else cls("what is wrong")

    def fails(cfg, args):
        raise exc

    monkeypatch.setitem(cli.COMMANDS, "check", fails)
    assert main(["check", "--params", str(ROOT / "params.yaml")]) == code
    assert capsys.readouterr().err.startswith("pm2gan: error: ")
    assert "Exit codes: 0 done; 1 the work failed" in cli.__doc__
