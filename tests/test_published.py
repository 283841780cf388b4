"""The published-numbers table: a row is "reproduced" only for a run as large as the paper's, on
its dataset, within the two numbers' errors; anything smaller says what it falls short of."""
from __future__ import annotations

import pytest
import yaml

from pipeline.orchestration import stages
from pipeline.settings import config
from pipeline.studies import STUDIES, Table, published
from tests.conftest import ROOT
from tests.test_studies import rows


def modes_table(gan_ring_modes: list[float], uncapped: int) -> dict:
    t = Table(rows("gan", "ring8", {"prior/modes": gan_ring_modes}))  # each trial trained 20 steps
    t.provenance = {"uncapped_steps": {"ring8": uncapped}}
    return {"modes2d": t}


def row_for(comparisons, source: str, dataset: str, metric: str):
    return next(c for c in comparisons if c.entry.source.startswith(source) and c.entry.dataset == dataset
                and c.entry.metric == metric)


@pytest.fixture()
def papers_nets(monkeypatch):
    """As if our nets were the papers': what the comparison makes of the numbers alone."""
    import dataclasses

    monkeypatch.setattr(published, "PUBLISHED", tuple(dataclasses.replace(e, nets_differ="") for e in published.PUBLISHED))


def test_a_full_run_within_the_errors_is_reproduced_and_one_outside_is_not(papers_nets):
    near = [6.0, 7.0, 6.0, 5.0, 7.0, 6.0, 7.0, 6.0, 7.0, 6.0]  # 6.3 ± 0.21: the paper's 6.3 ± 0.5
    c = row_for(published.compare(modes_table(near, uncapped=20)), "PacGAN", "ring8", "prior/modes")
    assert c.verdict == "reproduced" and c.ours.startswith("6.30 ± 0.21 (10 runs)")
    far = [1.0] * 10
    c = row_for(published.compare(modes_table(far, uncapped=20)), "PacGAN", "ring8", "prior/modes")
    assert c.verdict == "not reproduced" and "outside" in c.why


def test_other_nets_or_another_latent_size_keep_a_full_run_not_comparable():
    near = [6.0, 7.0, 6.0, 5.0, 7.0, 6.0, 7.0, 6.0, 7.0, 6.0]
    c = row_for(published.compare(modes_table(near, uncapped=20)), "PacGAN", "ring8", "prior/modes")
    assert c.verdict == "not comparable yet" and "maxout" in c.why
    t = Table(rows("bigan", "fashion_mnist", {"knn_accuracy": [0.9] * 3}))  # the test rows' code: 4-D
    c = row_for(published.compare({"features": t}), "BiGAN", "fashion_mnist", "knn_accuracy")
    assert c.verdict == "not comparable yet" and "a 4-D latent, the paper's 50-D" in c.why


def test_a_capped_or_smaller_run_is_never_reproduced_and_says_why(papers_nets):
    near = [6.0, 7.0, 6.0, 5.0, 7.0, 6.0, 7.0, 6.0, 7.0, 6.0]
    c = row_for(published.compare(modes_table(near, uncapped=400_000)), "PacGAN", "ring8", "prior/modes")
    assert c.verdict == "not comparable yet" and "20 of 400,000 training steps" in c.why
    c = row_for(published.compare(modes_table(near[:3], uncapped=20)), "PacGAN", "ring8", "prior/modes")
    assert c.verdict == "not comparable yet" and c.why == "3 of 10 trials"


def test_rows_without_runs_an_undefined_metric_and_another_dataset_are_labelled():
    comparisons = published.compare(modes_table([6.0] * 10, uncapped=20))
    kl = row_for(comparisons, "PacGAN", "ring8", "prior/reverse_kl")  # the GAN row exists, its KL does not
    assert kl.verdict == "not comparable yet" and kl.ours == "undefined"
    assert row_for(comparisons, "PacGAN", "grid25", "prior/modes").verdict == "not run"
    assert row_for(comparisons, "VEEGAN", "ring8", "prior/modes").verdict == "not comparable yet"
    gmmn = next(c for c in comparisons if c.entry.model == "gmmn_ae")
    assert gmmn.verdict == "not run" and "no `parzen` trials of gmmn_ae" in gmmn.why
    t = Table(rows("gan", "fashion_mnist", {"prior/parzen_ll": [230.0] * 10, "prior/parzen_se": [2.0] * 10}))
    c = row_for(published.compare({"parzen": t}), "GAN paper", "fashion_mnist", "prior/parzen_ll")
    assert c.verdict == "not comparable yet" and c.why.startswith("fashion_mnist, published on mnist")
    assert "± 2.0" in c.ours  # the paper's kind of error bar: over test images


def test_the_pm1992_shares_use_the_studys_rule():
    t = Table(rows("pm", "pm92", {"success": [1, 1, 1, 1, 1, 1, 0, 0, 0, 1]}))  # 7/10 against 8/10
    c = row_for(published.compare({"pm1992": t}), "Schmidhuber", "pm92", "success")
    assert c.verdict == "reproduced" and "7/10 runs" in c.ours


def test_the_parzen_study_checks_the_published_ordering():
    study = STUDIES["parzen"]
    aae = rows("aae", "fashion_mnist", {"prior/parzen_ll": [300.0, 302.0, 301.0]})
    gan = rows("gan", "fashion_mnist", {"prior/parzen_ll": [200.0, 210.0, 205.0]})
    assert study.verdict(Table(aae + gan)).outcome == "holds"
    worse = rows("aae", "fashion_mnist", {"prior/parzen_ll": [100.0, 101.0, 99.0]})
    assert study.verdict(Table(worse + gan)).outcome == "does not hold"
    # with a GMMN+AE row, the whole published ordering: AAE above GMMN+AE above GAN
    between = rows("gmmn_ae", "fashion_mnist", {"prior/parzen_ll": [250.0, 252.0, 251.0]})
    assert study.verdict(Table(aae + between + gan)).outcome == "holds"
    above = rows("gmmn_ae", "fashion_mnist", {"prior/parzen_ll": [400.0, 402.0, 401.0]})
    held = study.verdict(Table(aae + above + gan))
    assert held.outcome == "does not hold" and "1 of 2 tests significant, 1 reversed" in " ".join(held.because)


@pytest.fixture()
def raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_the_cap_bounds_steps_and_seeds_and_scales_evaluation(raw):
    from pipeline.settings.trials import expand

    cfg = config.parse(raw, "params.yaml")
    trials = expand(cfg, "modes2d")
    cap = raw["profiles"]["reference"]["cap"]
    ring = [t for t in trials if t.dataset == "ring8"]
    assert {t.seed for t in ring} == set(raw["profiles"]["reference"]["seeds"][:cap["seeds"]])
    assert {t.train.steps for t in ring} == {cap["steps"]}
    paper = raw["profiles"]["reference"]["train_by_dataset"]["ring8"]
    assert {t.train.eval_every for t in ring} == {paper["eval_every"] * cap["steps"] // paper["steps"]}
    raw["profiles"]["reference"]["cap"] = None  # the GPU door: the papers' budgets
    full = expand(config.parse(raw, "params.yaml"), "modes2d")
    assert {t.train.steps for t in full if t.dataset == "ring8"} == {paper["steps"]}
    assert len({t.seed for t in full}) == 10


def test_a_pinned_study_runs_its_profile_whatever_the_top_level_one(raw):
    from pipeline.settings.trials import expand

    quick, reference = config.parse(raw, "params.yaml"), config.parse(raw, "params.yaml", profile="reference")
    assert [t.trial_id for t in expand(quick, "parzen")] == [t.trial_id for t in expand(reference, "parzen")]
    assert expand(quick, "parzen")[0].nets.conv_channels == 0  # the papers' MLPs on 28x28
    stage = stages.stages(quick)["parzen"]
    assert "profiles.reference" in stage["params"] and "profiles.${profile}" not in stage["params"]
    assert reference.study_datasets("roles") == ()  # the talk's `roles` has nothing to run there


def test_a_study_with_nothing_to_run_in_the_profile_says_so_and_leaves_an_empty_result(tmp_path, raw, capsys):
    from pipeline.orchestration.sweep import run_study
    from pipeline.trial.results import read_study

    cfg = config.parse(raw, "params.yaml", profile="reference")
    out = run_study(cfg, "roles", tmp_path)
    assert read_study(out).trials == [] and read_study(out).profile == "reference"
    assert "none of its datasets (bars, digits) is in profile 'reference': nothing to run" in capsys.readouterr().out
    assert read_study(out).provenance["uncapped_steps"] == {}


def test_an_ordering_of_rows_still_improving_in_every_seed_is_not_settled():
    study = STUDIES["parzen"]
    aae = rows("aae", "fashion_mnist", {"prior/parzen_ll": [300.0, 302.0, 301.0]})
    gan = [r.model_copy(update={"improving": ["val/prior/frechet"]})
           for r in rows("gan", "fashion_mnist", {"prior/parzen_ll": [200.0, 210.0, 205.0]})]
    verdict = study.verdict(Table(aae + gan))
    assert verdict.outcome == "inconclusive" and "still improving in every seed" in verdict.because[0]
    assert "the test alone: holds" in verdict.because[0]


def test_a_collapsed_code_is_named_beside_the_published_number():
    t = Table(rows("bigan", "fashion_mnist", {"knn_accuracy": [0.1] * 3, "dead_units": [4.0] * 3}))  # a 4-unit code
    c = row_for(published.compare({"features": t}), "BiGAN", "fashion_mnist", "knn_accuracy")
    assert "all 4 code units dead in every run: a collapsed code" in c.why
    half = Table(rows("bigan", "fashion_mnist", {"knn_accuracy": [0.5] * 3, "dead_units": [0.0, 1.0, 2.0]}))
    assert half.row("fashion_mnist", "bigan").code_note() == "1.0 of 4 code units dead on average"
    live = Table(rows("bigan", "fashion_mnist", {"knn_accuracy": [0.9] * 3, "dead_units": [0.0] * 3}))
    assert live.row("fashion_mnist", "bigan").code_note() == ""


def test_a_published_number_study_reaches_each_of_its_three_outcomes(papers_nets):
    near = [6.0, 7.0, 6.0, 5.0, 7.0, 6.0, 7.0, 6.0, 7.0, 6.0]
    study = STUDIES["modes2d"]

    def outcome(modes, uncapped):
        table = modes_table(modes, uncapped)["modes2d"]
        return study.verdict(table).outcome

    assert outcome(near, uncapped=20) == "inconclusive"  # the GAN's other numbers (reverse KL, ...) are undefined here
    assert outcome([1.0] * 10, uncapped=20) == "does not hold"  # a number outside the paper's error
    assert outcome(near, uncapped=400_000) == "inconclusive"  # a capped run


def test_an_ordering_of_a_generator_below_the_mean_image_is_no_result():
    study = STUDIES["parzen"]
    refs = {"fashion_mnist": {"mean training image": {"prior/parzen_ll": -156.0}}}
    aae = rows("aae", "fashion_mnist", {"prior/parzen_ll": [300.0, 302.0, 301.0]})
    broken = rows("gan", "fashion_mnist", {"prior/parzen_ll": [-300.0, -290.0, -310.0]})
    working = rows("gan", "fashion_mnist", {"prior/parzen_ll": [200.0, 210.0, 205.0]})
    verdict = study.verdict(Table(aae + broken, refs))
    assert verdict.outcome == "inconclusive" and any("precondition, gan beats the mean" in b for b in verdict.because)
    assert study.verdict(Table(aae + working, refs)).outcome == "holds"
