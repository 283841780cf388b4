"""params.yaml is parsed strictly: every mistake names the file and the key, before any compute."""
from __future__ import annotations

import copy

import pytest
import yaml

from pipeline.settings import config
from pipeline.settings.trials import expand
from tests.conftest import ROOT


@pytest.fixture()
def raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def error(raw) -> config.ConfigError:
    with pytest.raises(config.ConfigError) as info:
        config.parse(raw, "params.yaml")
    return info.value


def test_shipped_params_parse_and_expand(raw):
    cfg = config.parse(raw, "params.yaml")
    assert cfg.profile_name == "quick"
    trials = expand(cfg, "factorial")
    # models x datasets the quick profile allows x seeds
    assert len(trials) == len(cfg.studies["factorial"].models) * 3 * 3 == 6 * 3 * 3
    assert {t.dataset for t in trials} == {"ica", "bars", "digits"}  # mnist is not offline
    assert len({t.trial_id for t in trials}) == len(trials)


def test_paper_profile_expands_grid(raw):
    cfg = config.parse(raw, "params.yaml", profile="paper")
    trials = expand(cfg, "generation")
    gan = [t for t in trials if t.model == "gan"]
    assert {t.hparams["lr"] for t in gan} == {1e-4, 2e-4}
    # a profile's grid tunes (chosen on validation data); it is not one of the study's factors
    assert {t.tuned_label for t in gan} == {"lr=0.0001", "lr=0.0002"} and {t.variant_label for t in gan} == {"default"}
    assert "mnist" in {t.dataset for t in trials}


@pytest.mark.parametrize("mutate, key, words", [
    (lambda r: r.update(extra=1), "extra", "unknown key"),
    (lambda r: r["models"]["gan"]["defaults"].update(lrr=1e-3), "models.gan.defaults.lrr", "unknown key"),
    (lambda r: r["models"]["gan"]["defaults"].update(lr=-1e-3), "models.gan.defaults.lr", "must be > 0"),
    (lambda r: r["models"]["gan"]["defaults"].update(gen_cost="wasserstein"), "models.gan.defaults.gen_cost", "must be one of"),
    (lambda r: r["models"]["gan"]["defaults"].update(lr="fast"), "models.gan.defaults.lr", "must be float"),
    (lambda r: r["models"]["gan"].update(grid={"quick": {"lrr": [1e-3]}}), "models.gan.grid.quick.lrr", "unknown key"),
    (lambda r: r["models"]["gan"].update(grid={"quick": {"lr": []}}), "models.gan.grid.quick.lr", "non-empty list"),
    (lambda r: r["models"]["gan"].update(grid={"quick": {"lr": [1e-3, -1.0]}}), "models.gan.grid.quick.lr", "must be > 0"),
    (lambda r: r["models"]["gan"].update(grid={"quik": {"lr": [1e-3]}}), "models.gan.grid.quik", "unknown profile"),
    (lambda r: r["models"].update(vaee={}), "models.vaee", "unknown model family"),
    # an option the family does not have
    (lambda r: r["models"]["ae"]["defaults"].update(gen_cost="kl"), "models.ae.defaults.gen_cost", "unknown key"),
    (lambda r: r["models"]["infogan"]["defaults"].update(cat_dim=0), "models.infogan.defaults.cat_dim", "must be >= 2"),
    (lambda r: r["models"]["pm_gan"]["defaults"].update(prior="correlated"), "models.pm_gan.defaults.prior",
     "must be one of"),
    (lambda r: r["studies"]["generation"]["models"].append("vaee"), "studies.generation.models", "unknown model 'vaee'"),
    (lambda r: r["studies"]["generation"]["datasets"].append("cifar"), "studies.generation.datasets", "unknown dataset"),
    (lambda r: r["studies"]["generation"].update(models=[]), "studies.generation.models", "must not be empty"),
    (lambda r: r.update(profile="huge"), "profile", "unknown profile"),
    (lambda r: r["profiles"]["quick"].update(seeds=[]), "profiles.quick.seeds", "must not be empty"),
    (lambda r: r["profiles"]["quick"]["train"].update(steps=0), "profiles.quick.train.steps", ">= 1"),
    (lambda r: [p["datasets"].remove(d) for p in r["profiles"].values() for d in ("ica", "bars", "digits", "mnist")
                if d in p["datasets"]], "studies.factorial.datasets", "none of them is in any profile"),
    (lambda r: r["studies"]["parzen"].update(profile="huge"), "studies.parzen.profile", "unknown profile"),
    (lambda r: r["studies"]["infogan"]["train_by_profile"].update(huge={"steps": 5}),
     "studies.infogan.train_by_profile.huge", "unknown profile 'huge'"),
    # checked under the quick profile, though only the paper profile would read it
    (lambda r: r["studies"]["infogan"]["train_by_profile"].update(paper={"steps": 0}),
     "studies.infogan.train_by_profile.paper.steps", ">= 1"),
    (lambda r: r["profiles"]["reference"]["cap"].update(seeds=0), "profiles.reference.cap.seeds", ">= 1"),
    (lambda r: r["profiles"]["reference"]["cap"]["steps_by_dataset"].update(cifar=10),
     "profiles.reference.cap.steps_by_dataset", "unknown dataset"),
    (lambda r: r["datasets"].update(cifar={"code_dim": 8}), "datasets.cifar", "unknown dataset"),
    (lambda r: r["resources"].update(cpus_per_trial=0), "resources.cpus_per_trial", "must be > 0"),
    (lambda r: r["resources"].update(device="tpu"), "resources.device", "auto, cpu or cuda"),
])
def test_bad_params_name_file_and_key(raw, mutate, key, words):
    raw = copy.deepcopy(raw)
    mutate(raw)
    err = error(raw)
    assert err.key == key, str(err)
    assert words in str(err)
    assert str(err).startswith(f"params.yaml: {key}: ")


def test_a_studys_budget_for_one_profile_leaves_the_others_theirs(raw):
    """infogan's 10,000 steps are the quick profile's CPU budget (`train_by_profile`): the paper
    profile keeps its own 30,000, where a study's `train` would have cut it too."""
    def budgets(profile):
        cfg = config.parse(copy.deepcopy(raw), "params.yaml", profile=profile)
        return {(t.dataset, t.train.steps, t.train.eval_every) for t in config.trial_settings(cfg, "infogan")}

    assert budgets("quick") == {("digits", 10_000, 1_000)}
    paper = raw["profiles"]["paper"]["train"]
    assert budgets("paper") == {(d, paper["steps"], paper["eval_every"]) for d in ("digits", "mnist")}


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(config.ConfigError, match="file not found"):
        config.load(tmp_path / "params.yaml")


def test_cli_refuses_bad_params_before_any_compute(tmp_path, raw, capsys):
    from pipeline.cli import main

    raw["models"]["gan"]["defaults"]["lrr"] = 1.0
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["--params", str(path), "study", "generation"]) == 2
    err = capsys.readouterr().err
    assert "models.gan.defaults.lrr: unknown key" in err and str(path) in err


def test_an_ebgan_margin_the_energy_cannot_reach_is_refused_before_compute(raw):
    """On 8x8 images in [0, 1] the energy (an L2 norm) is at most 8: a margin of 10 keeps the
    hinge active forever. The error names the key, the bound and the dataset."""
    raw["models"]["ebgan"]["defaults"]["margin"] = 10.0
    err = error(raw)
    assert err.key == "models.ebgan.defaults.margin"
    assert "margin must be < 8, got 10" in str(err) and "digits" in str(err)
    raw["models"]["ebgan"]["defaults"]["margin"] = 1.0
    raw["models"]["ebgan"]["grid"] = {"quick": {"margin": [1.0, 9.0]}}
    assert error(raw).key == "models.ebgan.grid.quick.margin"


def test_a_per_dataset_budget_overrides_the_profile_and_is_checked(raw):
    cfg = config.parse(raw, "params.yaml")
    ring = [t for t in expand(cfg, "generation") if t.dataset == "ring8"]
    assert ring[0].train.steps == raw["profiles"]["quick"]["train_by_dataset"]["ring8"]["steps"]
    raw["profiles"]["quick"]["train_by_dataset"]["ring8"]["stepz"] = 5
    assert error(raw).key == "profiles.quick.train_by_dataset.ring8.stepz"


def test_explore_expands_settings_and_refuses_a_bad_one_before_training(raw):
    from pipeline.trial import explore

    cfg = config.parse(raw, "params.yaml")
    grid = explore.parse_sets(["lam=0.1,0.3", "steps=500"])
    assert grid == {"lam": [0.1, 0.3], "steps": [500]}
    planned = list(explore.trials(cfg, "pm", ["digits", "bars"], grid, [0, 1]))
    assert len(planned) == 2 * 2 * 2 and {t.train.steps for t in planned} == {500}
    assert {t.hparams["lam"] for t in planned} == {0.1, 0.3}
    with pytest.raises(config.ConfigError, match="lam must be >= 0, got -1"):
        list(explore.trials(cfg, "pm", ["digits"], explore.parse_sets(["lam=-1"]), [0]))
    with pytest.raises(config.ConfigError, match="unknown key"):
        list(explore.trials(cfg, "pm", ["digits"], explore.parse_sets(["lamda=1"]), [0]))


def test_check_writes_its_stamp_only_when_the_params_pass(tmp_path, raw, capsys):
    """The `params` stage's output: written on success, with the same text every time (so a
    passing check reruns no stage below it), and never on a refusal."""
    from pipeline.cli import STAMP_TEXT, main

    good, bad, stamp = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "params.checked"
    good.write_text(yaml.safe_dump(raw))
    assert main(["check", "--params", str(good), "--stamp", str(stamp)]) == 0
    assert stamp.read_text() == STAMP_TEXT
    stamp.unlink()
    raw["models"]["gan"]["defaults"]["lr"] = -1.0
    bad.write_text(yaml.safe_dump(raw))
    assert main(["check", "--params", str(bad), "--stamp", str(stamp)]) == 2
    assert not stamp.exists() and "models.gan.defaults.lr" in capsys.readouterr().err
