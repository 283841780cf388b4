"""Train once, evaluate apart: a trial is trained once under the key of what determines its
training, kept in the trial store, and every study that asks for the same training reads that
model (evaluating it again, training nothing)."""
from __future__ import annotations

import ast
import copy
import json
import shutil

import numpy as np
import pytest
import yaml

from models import FAMILIES
from pipeline.data import datasets as data
from pipeline.evaluation import evalnet
from pipeline.evaluation.evaluate import EVALUATION_SOURCES, evaluation_code_version
from pipeline.settings import config
from pipeline.tracking import mlflow_api as tracking
from pipeline.training import fit
from pipeline.trial.store import TrialStore, training_key
from pipeline.trial.train import train
from tests.conftest import ROOT, trial
from tests.test_imports import import_graph


def test_the_key_is_the_training_not_the_study_that_asks(datasets):
    ds = datasets["ica"]
    base = trial("ae", ds, steps=20)
    relabelled = type(base).from_dict({**base.to_dict(), "study": "other", "variant": {"lr": 0.001}})
    assert training_key(base, "v1", "c1") == training_key(relabelled, "v1", "c1")
    other_lr = trial("ae", ds, steps=20, lr=2e-3)
    other_seed = trial("ae", ds, steps=20, seed=1)
    longer = trial("ae", ds, steps=21)
    keys = {training_key(t, "v1", "c1") for t in (base, other_lr, other_seed, longer)}
    assert len(keys) == 4
    budget = base.to_dict()["train"]
    scored_apart = type(base).from_dict({**base.to_dict(), "train": {**budget, "eval_samples": 99, "checkpoint_every": 5}})
    assert training_key(scored_apart, "v1", "c1") == training_key(base, "v1", "c1")  # neither changes the weights
    assert training_key(base, "v2", "c1") != training_key(base, "v1", "c1")  # new data
    assert training_key(base, "v1", "c2") != training_key(base, "v1", "c1")  # new training code


def _copy_code(root, sources=("models", "pipeline/training/fit.py", "pipeline/evaluation/metrics.py")):
    for source in sources:
        target = root / source
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (ROOT / source).is_dir() else shutil.copyfile)(ROOT / source, target)


def _append(path, text):
    path.write_text(path.read_text() + text)


def test_the_training_code_version_reads_the_family_s_training_code_and_nothing_else(tmp_path):
    _copy_code(tmp_path)
    versions = {name: fit.training_code_version(name, tmp_path) for name in ("gan", "ae", "pm_gan")}
    assert versions == {name: fit.training_code_version(name, ROOT) for name in versions}
    assert len(set(versions.values())) == 3

    (tmp_path / "pipeline/evaluation/metrics.py").write_text("# a new metric\n")  # evaluation: no retraining
    assert {name: fit.training_code_version(name, tmp_path) for name in versions} == versions

    _append(tmp_path / "models/gan.py", "\n# changed\n")  # one family's module: that family only
    assert fit.training_code_version("gan", tmp_path) != versions["gan"]
    assert fit.training_code_version("ae", tmp_path) == versions["ae"]

    _append(tmp_path / "models/pm.py", "\n# changed\n")  # pm_gan builds on PM's predictors
    assert fit.training_code_version("pm_gan", tmp_path) != versions["pm_gan"]
    assert fit.training_code_version("ae", tmp_path) == versions["ae"]

    _append(tmp_path / "models/nets.py", "\n# changed\n")  # shared nets: every family
    assert fit.training_code_version("ae", tmp_path) != versions["ae"]


def test_a_new_family_retrains_no_other(tmp_path):
    _copy_code(tmp_path)
    before = {name: fit.training_code_version(name, tmp_path) for name in ("gan", "ae")}
    (tmp_path / "models/extra.py").write_text("from .ae import AE\n\n\nclass Extra(AE):\n    name = 'extra'\n")
    _append(tmp_path / "models/registry.py", "\nfrom .extra import Extra  # noqa: E402\n")
    assert {name: fit.training_code_version(name, tmp_path) for name in before} == before


def _closure(module: str) -> set[str]:
    """The modules of models/ and pipeline/ that `module` imports, however indirectly (any import
    counts: a function-level one runs too)."""
    edges = import_graph(ROOT)
    found, todo = {module}, [module]
    while todo:
        here = todo.pop()
        for source, target in edges:
            if source == here and target not in found:
                found.add(target)
                todo.append(target)
    return found


def _inert(path: Path) -> bool:
    """A module that only names things (a docstring, assignments of literals: pipeline's layer
    packages' __init__.py): importing it runs nothing that could change a result."""
    body = ast.parse(path.read_text()).body
    return all(isinstance(node, (ast.Expr, ast.Assign)) and _literal(node.value) for node in body)


def _literal(node: ast.AST) -> bool:
    try:
        ast.literal_eval(node)
        return True
    except ValueError:
        return False


def _covered(module: str, sources: tuple[str, ...]) -> bool:
    path = module.replace(".", "/")
    if (ROOT / path / "__init__.py").exists():
        path += "/__init__"  # a package is its __init__.py
        if module.startswith("pipeline") and _inert(ROOT / f"{path}.py"):
            return True  # pipeline/__init__.py and its layers' own: a docstring and the layers' names
    return any(path == s.removesuffix(".py") or path.startswith(s + "/") or path == s for s in sources)


def _trains_with(name: str, entry: tuple[str, ...]) -> set[str]:
    """What a trial of family `name` runs: the entry modules' imports outside models/, the zoo's
    package file, and the family's module with what it imports. The registry, which imports every
    family, only picks the class (fit.REGISTRY)."""
    outside = {m for e in entry for m in _closure(e) if m.split(".")[0] != "models"}
    return outside | {"models"} | _closure(FAMILIES[name].__module__)


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("entry, sources, version", [
    (("pipeline.training.fit",), fit.TRAINING_SOURCES, fit.training_code_version),
    (("pipeline.evaluation.evaluate", "pipeline.evaluation.evalnet"), EVALUATION_SOURCES, evaluation_code_version)])
def test_a_code_version_reads_every_module_its_code_imports(name, entry, sources, version):
    """Training and evaluation are keyed by a digest of their source files: a module they import
    but the digest does not read could change their results without changing their keys."""
    read = sources + fit.family_sources(name)
    assert sorted(m for m in _trains_with(name, entry) if not _covered(m, read)) == []
    # and the digest reads the family's own module and exactly those files
    assert FAMILIES[name].__module__.replace(".", "/") + ".py" in fit.family_sources(name)
    assert version(name) == fit.source_digest(read)


class Keep:
    """train.Hooks that keeps the final checkpoint and every logged point."""

    def __init__(self, folder):
        self.folder, self.logged, self.final = folder, [], None

    def log(self, step, values):
        self.logged.append((step, dict(values)))

    def checkpoint(self, step, checkpoint):
        pass

    def finish(self, result, checkpoint):
        self.final = self.folder / "trained.pt"
        self.final.write_bytes(checkpoint.read_bytes())


@pytest.mark.parametrize("name", ["gan", "aae"])
def test_a_stored_training_evaluates_exactly_as_straight_after_training(name, datasets, tmp_path):
    ds = datasets["ring8"]
    cfg = trial(name, ds, steps=60, log_every=10, eval_every=20)
    hooks = Keep(tmp_path)
    straight = train(cfg, ds, hooks=hooks)
    assert sorted({s for k, curve in straight.curves.items() if k.startswith("val/") for s, _ in curve}) == [20, 40, 60]
    replayed = Keep(tmp_path / "again")
    (tmp_path / "again").mkdir()
    reused = train(cfg, ds, hooks=replayed, trained=hooks.final)
    assert reused.metrics == straight.metrics  # steps/s included: the training's own pace travels with it
    # as text: an undefined value (NaN, a reverse KL with no high-quality sample) must match too
    assert json.dumps(reused.curves, sort_keys=True) == json.dumps(straight.curves, sort_keys=True)
    assert reused.samples.keys() == straight.samples.keys()
    for sampler in straight.samples:
        np.testing.assert_array_equal(reused.samples[sampler], straight.samples[sampler])
    logged = lambda h: sorted((s, k) for s, values in h.logged for k in values if not k.startswith("perf/"))  # noqa: E731
    assert logged(replayed) == logged(hooks)  # its tracking run shows the same curves


def test_a_stored_training_is_refused_for_another_config(datasets, tmp_path):
    ds = datasets["ica"]
    hooks = Keep(tmp_path)
    train(trial("ae", ds, steps=20), ds, hooks=hooks)
    with pytest.raises(ValueError, match="another config"):
        train(trial("ae", ds, steps=20, seed=1), ds, trained=hooks.final)


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A working folder with the shipped params.yaml and its own MLflow server."""
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("PM2GAN_TRIAL_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    with tracking.tracking_server(tmp_path / "mlruns") as uri:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        raw = yaml.safe_load((ROOT / "params.yaml").read_text())
        raw["resources"]["storage_path"] = str(tmp_path / "ray_results")
        yield tmp_path, raw, uri


@pytest.mark.service
def test_two_studies_that_ask_for_one_training_train_it_once(project, monkeypatch, capfd):
    """`generation` and `inference` both ask for the AE on digits, seed 0: the second study
    evaluates the model the first one trained, and says so in its results and its MLflow run.
    (With the heartbeat at 0 s, each trial's step lines show too.)"""
    import ray

    from pipeline.orchestration import sweep
    from pipeline.orchestration.sweep import run_study
    from pipeline.trial.results import read_study

    monkeypatch.setattr(sweep, "HEARTBEAT_S", 0.0)
    folder, raw, uri = project
    raw = copy.deepcopy(raw)
    raw["profiles"]["quick"].update(seeds=[0], train={"steps": 30, "batch_size": 32, "log_every": 10,
                                                       "checkpoint_every": 0, "eval_samples": 64, "eval_every": 10},
                                    train_by_dataset={})  # the quick profile's longer digits budget is not this test's
    raw["studies"]["generation"].update(models=["ae", "pm"], datasets=["digits"])
    raw["studies"]["inference"].update(models=["ae"], datasets=["digits"])
    cfg = config.parse(raw, "params.yaml")
    data.save(data.make_digits(0, 0.1, 0.2), folder / "data")
    # an untrained evaluation classifier: its scores mean nothing, but are the same in both studies
    evalnet.save(evalnet.Classifier(64, 8, 10), {"dataset": "digits"}, "digits", folder / "evalnets")
    try:
        run_study(cfg, "generation", results_dir=folder / "results")
        assert "  ... ae-digits-s0: step 30 of 30" in capfd.readouterr().out  # a trial's heartbeat, through Tune
        store = TrialStore()
        assert store.root == (folder / ".pm2gan" / "store").resolve()
        assert len(list(store.trained.glob("*/record.json"))) == 2  # both trainings kept
        assert len(list(store.evaluated.glob("*/record.json"))) == 2  # and their evaluations
        # the finished sweep's Tune folders go: its trials are in the store, its results written
        assert (folder / "ray_results").is_dir() and list((folder / "ray_results").iterdir()) == []
        ray.shutdown()
        capfd.readouterr()
        run_study(cfg, "inference", results_dir=folder / "results")  # its one trial stored: replayed here
        assert "every trial is in the trial store, trained and evaluated: replayed here" in capfd.readouterr().out
        assert not ray.is_initialized()  # no Ray for a study with nothing to train or evaluate
        monkeypatch.setenv(sweep.REPLAY_ENV, "0")  # the same study through Tune: the same result
        run_study(cfg, "inference", results_dir=folder / "through-tune")
        assert ray.is_initialized()
    finally:
        ray.shutdown()
    replayed, = read_study(folder / "results" / "inference").trials
    tuned, = read_study(folder / "through-tune" / "inference").trials
    assert replayed.model_dump(exclude={"provenance", "samples"}) == tuned.model_dump(exclude={"provenance", "samples"})
    assert replayed.samples.keys() == tuned.samples.keys()
    assert all((replayed.samples[k] == tuned.samples[k]).all() for k in tuned.samples)
    where = {"ray_node"}  # the driver's host for the replay, the Ray node for Tune's
    assert {k: v for k, v in replayed.provenance.items() if k not in where} == \
        {k: v for k, v in tuned.provenance.items() if k not in where}
    assert len(list(store.trained.glob("*/record.json"))) == 2  # nothing new trained
    assert len(list(store.evaluated.glob("*/record.json"))) == 2  # nor evaluated
    first = {r.trial.model: r for r in read_study(folder / "results" / "generation").trials}["ae"]
    (second,) = read_study(folder / "results" / "inference").trials
    assert first.provenance["reused_training"] is False and second.provenance["reused_training"] is True
    assert first.provenance["reused_evaluation"] is False and second.provenance["reused_evaluation"] is True
    assert first.provenance["training_key"] == second.provenance["training_key"]
    assert first.provenance["evaluation_key"] == second.provenance["evaluation_key"]
    assert store.record(second.provenance["training_key"])["trained_by_study"] == "generation"
    assert second.metrics == first.metrics and second.curves == first.curves

    # one MLflow run per training: the AE's, read by both studies, tagged with both, recorded once
    client = tracking.client(uri)
    trials = client.get_experiment_by_name("pm2gan/trials").experiment_id
    (ae,) = client.search_runs([trials], "tags.model = 'ae'")
    assert ae.info.run_id == first.provenance["mlflow_run"] == second.provenance["mlflow_run"]
    assert ae.data.tags["study.generation"] == ae.data.tags["study.inference"] == "default"
    assert ae.data.tags["training_key"] == second.provenance["training_key"]
    assert ae.data.tags["evaluation_key"] == second.provenance["evaluation_key"]
    history = client.get_metric_history(ae.info.run_id, "loss/recon")
    assert [m.step for m in history] == [10, 20, 30]  # its training curves, once: the second study logged nothing
    assert [a.path for a in client.list_artifacts(ae.info.run_id, "checkpoint")] == ["checkpoint/checkpoint.pt"]
    assert len(client.search_runs([trials])) == 2  # ae and pm, nothing more


def test_a_module_moved_unchanged_keeps_its_code_version(tmp_path):
    """The version is what the files say, not where they lie: moving training's loop into
    another package retrains nothing; changing one byte of it does."""
    (tmp_path / "old").mkdir()
    (tmp_path / "new" / "deeper").mkdir(parents=True)
    loop = (ROOT / "pipeline" / "training" / "fit.py").read_text()
    (tmp_path / "old" / "fit.py").write_text(loop)
    (tmp_path / "new" / "deeper" / "fit.py").write_text(loop)
    assert fit.source_digest(("old/fit.py",), tmp_path) == fit.source_digest(("new/deeper/fit.py",), tmp_path)
    (tmp_path / "new" / "deeper" / "fit.py").write_text(loop + "\n")
    assert fit.source_digest(("old/fit.py",), tmp_path) != fit.source_digest(("new/deeper/fit.py",), tmp_path)
