"""Studies: dvc.yaml is generated from them and params.yaml and cannot drift; each study's
verdict rule decides on tables with a known answer."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from pipeline.orchestration import stages
from pipeline.settings import config
from pipeline.studies import STUDIES, Table
from pipeline.studies.base import select_on_validation
from pipeline.trial.results import TrialResult
from tests.conftest import ROOT, small, trial


@pytest.fixture()
def raw():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_the_committed_dvc_yaml_is_what_the_studies_and_params_generate(raw, tmp_path, monkeypatch):
    cfg = config.parse(raw, "params.yaml")
    monkeypatch.chdir(tmp_path)  # generated from elsewhere too: no path is read relative to where it runs
    stages.check(cfg, ROOT / "dvc.yaml")  # raises when they differ
    generated = yaml.safe_load(stages.render(cfg))["stages"]
    assert set(STUDIES) <= set(generated)
    assert "models.gan" in generated["gen_costs"]["params"] and "models.pm" not in generated["gen_costs"]["params"]


def test_a_model_added_to_a_study_in_params_makes_dvc_yaml_stale(raw, tmp_path):
    """The drift the issue found: a family added to a study in params.yaml but not to its stage's
    params would silently leave stale results. Now the study refuses to run until regenerated."""
    raw = copy.deepcopy(raw)
    raw["studies"]["ebgan"]["models"].append("gan")
    with pytest.raises(config.ConfigError, match="out of date with params.yaml.*pm2gan stages"):
        stages.check(config.parse(raw, "params.yaml"), ROOT / "dvc.yaml")
    (tmp_path / "dvc.yaml").write_text(stages.render(config.parse(raw, "params.yaml")))
    stages.check(config.parse(raw, "params.yaml"), tmp_path / "dvc.yaml")


def test_every_stage_runs_after_the_params_check(raw):
    """DVC removes a stage's outputs before running it: the `params` stage (pm2gan check, on the
    whole params.yaml) must come first on every path, so a bad value is refused before any output
    is gone. Its output is constant: a passing check reruns nothing below it."""
    generated = stages.stages(config.parse(raw, "params.yaml"))
    made_by = {next(iter(out)) if isinstance(out, dict) else out: name
               for name, stage in generated.items() for out in stage.get("outs", [])}

    def upstream(name: str) -> set[str]:
        found = set()
        for dep in generated[name].get("deps", []):
            if dep in made_by:
                found |= {made_by[dep], *upstream(made_by[dep])}
        return found

    assert generated["params"]["params"] == [{"params.yaml": None}]  # every key of the file
    assert [name for name in generated if "params" not in upstream(name)] == ["params"]


def test_a_study_without_a_module_is_refused(raw):
    raw["studies"]["mystery"] = {"models": ["ae"], "datasets": ["digits"]}
    with pytest.raises(config.ConfigError, match="studies.mystery: no such study"):
        stages.stages(config.parse(raw, "params.yaml"))


def result(model: str, dataset: str, seed: int, variant: dict | None = None, tuned: dict | None = None, **metrics):
    """A TrialResult with the given test ('eval/...') and validation ('val/...') metrics."""
    ds = small(dataset) if dataset in ("digits", "ica", "ring8") else small("ica")
    cfg = trial(model, ds, seed=seed).model_copy(update={"dataset": dataset, "variant": variant or {},
                                                         "tuned": tuned or {}})
    return TrialResult(trial=cfg, outcome="completed", steps=1, curves={},
                       metrics={k.replace("__", "/"): v for k, v in metrics.items()})


def rows(model, dataset, values: dict[str, list[float]], variant=None):
    n = len(next(iter(values.values())))
    return [result(model, dataset, s, variant, **{f"eval__{k.replace('/', '__')}": v[s] for k, v in values.items()})
            for s in range(n)]


def test_factorial_verdict_holds_when_both_codes_beat_the_control_and_pca():
    study = STUDIES["factorial"]
    control = rows("ae", "ica", {"total_correlation_knn": [1.1, 1.2, 1.0]})
    good = rows("pm", "ica", {"total_correlation_knn": [0.1, 0.12, 0.11]})
    aae_good = rows("aae", "ica", {"total_correlation_knn": [0.2, 0.21, 0.19]})
    aae_spread = rows("aae", "ica", {"total_correlation_knn": [0.3, 1.3, 0.8]})
    pca = {"ica": {"PCA (4 components)": {"total_correlation_knn": 0.5}}}
    assert study.verdict(Table(control + good + aae_good, pca)).outcome == "holds"
    assert study.verdict(Table(control + good + aae_spread, pca)).outcome == "inconclusive"  # never a refutation
    worse = rows("pm", "ica", {"total_correlation_knn": [2.0, 2.1, 2.2]})
    assert study.verdict(Table(control + aae_good + worse, pca)).outcome == "does not hold"
    beaten_by_pca = {"ica": {"PCA (4 components)": {"total_correlation_knn": 0.05}}}
    verdict = study.verdict(Table(control + good + aae_good, beaten_by_pca))
    assert verdict.outcome == "does not hold" and any("PCA" in line and "[does not hold]" in line for line in verdict.because)


def test_pm1992_verdict_counts_successes_against_the_paper():
    study = STUDIES["pm1992"]
    many = rows("pm", "pm92", {"success": [1, 1, 1, 1, 1, 1, 1, 0, 0, 1]})
    few = rows("pm", "pm92_nonuniform", {"success": [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]})
    verdict = study.verdict(Table(many + few))
    assert verdict.outcome == "does not hold"
    assert any("[inconclusive] pm92: " in line and "8 of 10 runs" in line for line in verdict.because)
    assert any("[does not hold] pm92_nonuniform: " in line for line in verdict.because)
    all_ten = rows("pm", "pm92_nonuniform", {"success": [1] * 10})
    assert study.verdict(Table(rows("pm", "pm92", {"success": [1] * 10}) + all_ten)).outcome == "holds"


def test_infogan_verdict_against_its_control_and_its_bar():
    study = STUDIES["infogan"]
    control = rows("infogan", "digits", {"cluster_accuracy": [0.2, 0.22, 0.21]}, {"lambda_cat": 0.0})
    strong = rows("infogan", "digits", {"cluster_accuracy": [0.95, 0.96, 0.955]}, {"lambda_cat": 1.0})
    weak = rows("infogan", "digits", {"cluster_accuracy": [0.6, 0.62, 0.65]}, {"lambda_cat": 1.0})
    near = rows("infogan", "digits", {"cluster_accuracy": [0.85, 0.95, 0.9]}, {"lambda_cat": 1.0})
    assert study.verdict(Table(control + strong)).outcome == "holds"
    assert study.verdict(Table(control + weak)).outcome == "does not hold"  # far below the 90% bar
    assert study.verdict(Table(control + near)).outcome == "inconclusive"


def test_generation_asks_every_generator_to_beat_the_trivial_ones():
    """A GAN whose high-quality share is noise's does not generate, whatever its mode count."""
    study = STUDIES["generation"]
    noise = {"grid25": {"uniform noise over the box": {"prior/high_quality": [0.02, 0.025, 0.018, 0.022],
                                                       "prior/modes": [22.0, 21.0, 23.0, 20.0]}}}
    ae = rows("ae", "grid25", {"shuffled_codes/high_quality": [0.1, 0.12, 0.11]})
    pm = rows("pm", "grid25", {"shuffled_codes/high_quality": [0.6, 0.62, 0.65]})
    good_gan = rows("gan", "grid25", {"prior/high_quality": [0.9, 0.85, 0.95], "prior/modes": [17.0, 18.0, 16.0]})
    noisy_gan = rows("gan", "grid25", {"prior/high_quality": [0.01, 0.012, 0.011], "prior/modes": [23.0, 24.0, 22.0]})
    assert study.verdict(Table(ae + pm + good_gan, noise)).outcome == "holds"
    verdict = study.verdict(Table(ae + pm + noisy_gan, noise))
    assert verdict.outcome == "does not hold" and "the GAN generates (beats the trivial generators): 0 of 1" in verdict.because[1]


def test_inference_asks_codes_to_beat_a_random_projection():
    study = STUDIES["inference"]
    refs = {"digits": {"mean image": {"recon_mse": 10.0}, "pixels": {"knn_accuracy": 0.98},
                       "random projection (8 units)": {"knn_accuracy": [0.78, 0.8, 0.79, 0.77, 0.81]}}}
    useful = rows("pm", "digits", {"recon_mse": [1.0, 1.1, 0.9], "knn_accuracy": [0.95, 0.94, 0.96]})
    assert study.verdict(Table(useful, refs)).outcome == "holds"
    trivial = rows("pm", "digits", {"recon_mse": [1.0, 1.1, 0.9], "knn_accuracy": [0.78, 0.81, 0.8]})
    assert study.verdict(Table(trivial, refs)).outcome == "inconclusive"


def test_a_row_with_an_undefined_seed_shows_it_in_the_table_and_the_verdict_alike():
    from pipeline.reporting.report import study_table

    results = rows("gan", "ring8", {"prior/reverse_kl": [0.4, float("nan"), 0.5]})
    row = Table(results).row("ring8", "gan")
    assert row.get("prior/reverse_kl") == [0.4, 0.5] and row.undefined == {"prior/reverse_kl": 1}
    assert "0.450 ± 0.071 (n=2 of 3)" in study_table("", results, columns=("reverse_kl",))


def test_a_diverged_seed_is_counted_in_its_row_and_left_out_of_its_numbers():
    from pipeline.reporting.report import aggregate, study_table

    results = rows("gan", "ring8", {"prior/modes": [6.0, 7.0, 8.0]}, variant={"lr": 5.0})
    results[2] = results[2].model_copy(update={"outcome": "diverged", "metrics": {}})  # NaN at a step: no metrics
    entry = aggregate(results)["ring8/gan[lr=5.0]"]
    assert (entry["seeds"], entry["diverged"]) == (3, 1) and entry["prior/modes"]["n"] == 2
    assert "| gan[lr=5.0] | prior | 3 | 1 | 0 | 6.500 ± 0.707 |" in study_table("", results, columns=("modes",))


def test_a_table_marks_each_metric_s_better_direction_and_its_best_trained_row():
    from pipeline.reporting.report import study_table

    results = (rows("gan", "ring8", {"prior/reverse_kl": [0.4, 0.5], "prior/modes": [6.0, 7.0]}) +
               rows("bigan", "ring8", {"prior/reverse_kl": [0.2, 0.3], "prior/modes": [6.0, 7.0]}))
    noise = {"ring8": {"noise": {"prior/reverse_kl": 0.01, "prior/modes": 8.0}}}  # better than both: not marked
    table = study_table("", results, noise, columns=("reverse_kl", "modes"))
    assert "| reverse_kl ↓ | modes ↑ |" in table
    lines = {line.split(" | ")[0]: line for line in table.splitlines() if line.startswith("| ")}
    assert "**0.250 ± 0.071**" in lines["| bigan"] and "**0.450" not in lines["| gan"]  # lower is better
    assert lines["| gan"].endswith("| **6.500 ± 0.707** |") and lines["| bigan"].endswith("| **6.500 ± 0.707** |")  # a tie
    assert "**" not in lines["| *noise (baseline)*"]


def test_a_tuning_grid_point_is_chosen_on_validation_data_never_on_test():
    """Two tuning points: the one with the better validation score is kept even though its
    test score is worse."""
    good_val = [result("ae", "ica", s, tuned={"lr": 0.001}, eval__recon_mse=0.9, val__recon_mse=0.1) for s in range(2)]
    good_test = [result("ae", "ica", s, tuned={"lr": 0.01}, eval__recon_mse=0.1, val__recon_mse=0.9) for s in range(2)]
    kept = select_on_validation(good_val + good_test)
    assert {r.trial.tuned_label for r in kept} == {"lr=0.001"}


def test_rows_still_improving_put_a_budget_caveat_under_the_verdict():
    from pipeline.reporting.report import budget_caveat

    settled = [result("ae", "ica", s, eval__recon_mse=0.1) for s in range(2)]
    assert budget_caveat(Table(settled)) == []
    rising = [r.model_copy(update={"improving": ["val/recon_mse"]}) for r in settled[:1]] + settled[1:]
    (line, _) = budget_caveat(Table(rising + [result("pm", "ica", 0, eval__recon_mse=0.2)]))
    assert line.startswith("**Budget.** 1 of 2 rows had seeds still improving")


def test_a_saved_study_keeps_samples_for_figures_and_a_traversal_whole(tmp_path):
    from pipeline.trial.results import MAX_SAVED_IMAGES, StudyResults, read_study, write_study

    r = result("infogan", "digits", 0)
    r = r.model_copy(update={"samples": {"prior": np.zeros((200, 1, 8, 8)), "traversal": np.zeros((80, 1, 8, 8))}})
    write_study(StudyResults(study="infogan", claim="c", profile="quick", provenance={}, trials=[r]), tmp_path)
    (back,) = read_study(tmp_path / "infogan").trials
    assert len(back.samples["prior"]) == MAX_SAVED_IMAGES and len(back.samples["traversal"]) == 80


def test_a_studys_saved_mlflow_view_shows_its_factors_and_its_tables_metrics_as_logged():
    from pipeline.tracking.study_log import view_columns

    results = (rows("pm", "ica", {"recon_mse": [0.1, 0.2], "total_correlation": [1.0, 2.0], "prior/modes": [3, 4],
                                  "dead_units": [0, 0]}, {"lam": 0.1}) +
               rows("ae", "ica", {"total_correlation": [3.0, 3.1]}))
    assert view_columns(results, ("total_correlation", "modes", "recon_mse")) == [
        "attributes.`Dataset`", "params.`hparams.lam`", "metrics.`eval/total_correlation`",
        "metrics.`eval/prior/modes`", "metrics.`eval/recon_mse`"]  # the table's order; dead_units is not in it


def test_metrics_against_a_factor_are_drawn_for_each_model_run_at_two_values_of_it(tmp_path):
    from PIL import Image

    from pipeline.reporting import report

    results = (rows("pm", "ica", {"total_correlation": [1.0, 1.2]}, {"lam": 0.0}) +
               rows("pm", "ica", {"total_correlation": [0.5, 0.6]}, {"lam": 0.3}) +
               rows("ae", "ica", {"total_correlation": [2.0, 2.1]}))  # one value only: no figure
    written = report._factor_figures("roles", "ica", results, tmp_path, ("total_correlation",))
    assert [p.name for p in written] == ["factor-ica-pm.png"]
    assert min(Image.open(written[0]).size) > 100


def test_prior_verdict_reads_the_match_and_the_work_per_step_never_steps_per_second():
    study = STUDIES["prior"]
    g = {"prior": "gaussian"}
    aae = rows("aae", "digits", {"ks_prior": [0.10, 0.11, 0.12], "mmd_prior": [0.02, 0.021, 0.019],
                                 "flops_per_step": [9e7] * 3, "steps_per_s": [300.0] * 3}, g)
    cheap = {"ks_prior": [0.10, 0.105, 0.11], "mmd_prior": [0.02, 0.02, 0.021], "flops_per_step": [4e7] * 3,
             "steps_per_s": [100.0] * 3}  # slower on this machine, yet less work per step
    alternatives = rows("mmd_ae", "digits", cheap, g) + rows("pm_gan", "digits", cheap, g)
    assert study.verdict(Table(aae + alternatives)).outcome == "holds"
    dear = dict(cheap, flops_per_step=[2e8] * 3)
    assert study.verdict(Table(aae + rows("mmd_ae", "digits", cheap, g) + rows("pm_gan", "digits", dear, g))
                         ).outcome == "does not hold"


def test_a_study_with_nothing_to_run_gets_a_page_that_says_so(tmp_path):
    """DVC lists every study's page as an output of `report`: a profile where a study has no
    dataset (`roles` under `reference`) must still write it, or the stage fails."""
    from pipeline.reporting.report import build
    from pipeline.studies.convergence import Rule
    from pipeline.trial.results import StudyResults, write_study

    write_study(StudyResults(study="roles", claim=STUDIES["roles"].claim, profile="reference", provenance={}, trials=[]),
                tmp_path / "results")
    written = build(tmp_path / "results", Rule(3, 0.05), tmp_path / "reports", tmp_path / "data")
    page = (tmp_path / "reports" / "roles.md").read_text()
    assert written["roles"] == tmp_path / "reports" / "roles.md" and "**Not run** in profile `reference`" in page
    assert "not run in profile `reference`" in (tmp_path / "reports" / "index.md").read_text()


def _three(study: str, build) -> dict[str, str]:
    """The outcome of `study` on results `build(kind)` made to hold, to be reversed, and to be
    too spread to tell."""
    return {kind: STUDIES[study].verdict(Table(*build(kind))).outcome for kind in ("good", "bad", "spread")}


def test_roles_reaches_each_of_its_three_outcomes():
    def build(kind):
        tc = {"good": [0.2, 0.21, 0.19], "bad": [3.0, 3.1, 2.9], "spread": [0.1, 2.5, 1.0]}[kind]
        plain = rows("pm", "bars", {"total_correlation": [1.0, 1.05, 0.95], "recon_mse": [1.0] * 3}, {"lam": 0.0})
        game = rows("pm", "bars", {"total_correlation": tc, "recon_mse": [1.1] * 3}, {"lam": 1.0})
        gauss = rows("gan", "digits", {"prior/frechet": [40.0, 41.0, 39.0]}, {"prior": "gaussian"})
        other = rows("gan", "digits", {"prior/frechet": {"good": [40.0, 40.5, 39.5], "bad": [90.0, 91.0, 89.0],
                                                         "spread": [20.0, 80.0, 45.0]}[kind]}, {"prior": "uniform"})
        return (plain + game + gauss + other,)

    assert _three("roles", build) == {"good": "holds", "bad": "does not hold", "spread": "inconclusive"}


def test_gen_costs_reaches_each_of_its_three_outcomes():
    noise = {"ring8": {"uniform noise over the box": {"prior/high_quality": [0.005, 0.006, 0.004, 0.005]}}}

    def build(kind):
        grad = {"good": [0.01, 0.011, 0.009], "bad": [0.9, 0.91, 0.89], "spread": [0.01, 0.9, 0.4]}[kind]
        results = (rows("gan", "ring8", {"gen_grad_early": grad}, {"gen_cost": "minimax"})
                   + rows("gan", "ring8", {"gen_grad_early": [0.5, 0.51, 0.49]}, {"gen_cost": "nonsaturating"})
                   + rows("gan", "ring8", {"prior/modes": [2.0, 2.0, 3.0], "prior/high_quality": [0.9, 0.92, 0.91]},
                          {"gen_cost": "kl"})
                   + rows("gan", "ring8", {"prior/modes": [7.0, 8.0, 8.0], "prior/high_quality": [0.8, 0.82, 0.81]},
                          {"gen_cost": "ml"}))
        return results, noise

    assert _three("gen_costs", build) == {"good": "holds", "bad": "does not hold", "spread": "inconclusive"}


def test_ebgan_reaches_each_of_its_three_outcomes_and_reads_toy_modes_beside_noise():
    noise = {"ring8": {"uniform on the ring's circle": {"prior/high_quality": [0.078, 0.08, 0.075, 0.077]}}}

    def build(kind):
        cosine = {"good": [0.1, 0.11, 0.09], "bad": [0.6, 0.61, 0.59], "spread": [0.05, 0.6, 0.3]}[kind]
        off = rows("ebgan", "ring8", {"prior/code_cosine": [0.3, 0.31, 0.29], "prior/modes": [3.0, 3.0, 4.0],
                                      "prior/high_quality": [0.9, 0.91, 0.92]}, {"pt_weight": 0.0})
        on = rows("ebgan", "ring8", {"prior/code_cosine": cosine, "prior/modes": [8.0, 7.0, 8.0],
                                     "prior/high_quality": [0.9, 0.91, 0.92]}, {"pt_weight": 0.1})
        return off + on, noise

    assert _three("ebgan", build) == {"good": "holds", "bad": "does not hold", "spread": "inconclusive"}
    # modes gained, but the samples are no better than points on the circle: not a finding
    off, _ = build("good")
    at_noise = [r.model_copy(update={"metrics": {**r.metrics, "eval/prior/high_quality": 0.07}}) for r in off]
    assert STUDIES["ebgan"].verdict(Table(at_noise, noise)).outcome == "does not hold"


def test_every_study_takes_what_its_stage_hands_its_baselines():
    """The study stage calls `references(cfg, datasets, trials, classifiers)` on every study."""
    cfg = config.load(ROOT / "params.yaml")
    for name, study in STUDIES.items():
        if study.kind != "analytic":
            assert study.references(cfg, {}, [], {}) == {}, name


def test_a_generator_with_no_trivial_generator_to_beat_is_not_said_to_generate():
    ae = rows("ae", "grid25", {"shuffled_codes/high_quality": [0.1, 0.12, 0.11]})
    pm = rows("pm", "grid25", {"shuffled_codes/high_quality": [0.6, 0.62, 0.65]})
    gan = rows("gan", "grid25", {"prior/high_quality": [0.9, 0.85, 0.95]})
    verdict = STUDIES["generation"].verdict(Table(ae + pm + gan))  # no baselines stored
    assert verdict.outcome == "inconclusive" and any("no trivial generator" in b for b in verdict.because)


def test_the_index_says_how_many_rows_were_still_improving_and_how_many_seeds_stopped():
    from pipeline.studies.base import Verdict
    from pipeline.studies.summary import Budget, index_page

    page = index_page({"factorial": Verdict("inconclusive", ["a test"]), "prior": Verdict("holds", ["b"])},
                      budgets={"factorial": Budget(5, 18, 20, 54), "prior": Budget(0, 9, 27, 27)})
    assert "| rows still improving on what it decides | seeds stopped at a plateau |" in page
    factorial = next(line for line in page.splitlines() if line.startswith("| [factorial]"))
    assert factorial.endswith("| 5 of 18 | 20 of 54 |")
    assert "| — |" in next(line for line in page.splitlines() if line.startswith("| [pm1992]"))  # not run here
    assert "**Budget.** Of the 27 rows the verdicts read, 5 had seeds still improving" in page
    assert "47 of those rows' 81 seeds stopped at a plateau" in page
