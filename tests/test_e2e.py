"""`dvc repro` end to end: the README's quick start (`make smoke`) in a fresh clone, with the real
DVC, the real Ray (a local cluster) and the real MLflow server the pipeline starts."""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.orchestration.smoke import PROFILE as SMOKE
from pipeline.orchestration.smoke import SMOKE_DIR, smoke_params
from pipeline.settings.config import parse
from pipeline.settings.trials import expand
from pipeline.studies import STUDIES
from pipeline.tracking import mlflow_api as tracking
from pipeline.tracking import trial_runs
from tests.checkout import (
    NEW_METRIC,
    ROOT,
    STAGES,
    STUDY_STAGES,
    add_metric,
    distinct_trainings,
    dvc_env,
    edit_verdict,
    make_checkout,
    stages_run,
    work_done,
)

pytestmark = pytest.mark.e2e


def tiny_fashion(folder: Path) -> Path:
    """A small Fashion-MNIST-shaped folder of IDX files (600 train, 100 test images): the
    reference studies' data, made here so that CI needs neither Debian's package nor the network."""
    import numpy as np

    from tests.test_data import write_idx

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    labels = {"train": rng.integers(0, 10, 600), "t10k": rng.integers(0, 10, 100)}
    for split, y in labels.items():  # each class a bright stripe at its own rows: learnable, like a real class
        x = rng.integers(0, 60, (len(y), 28, 28))
        for i, c in enumerate(y):
            x[i, 2 + 2 * c:4 + 2 * c] = 230
        write_idx(folder / f"{split}-images-idx3-ubyte", x, gz=True)
        write_idx(folder / f"{split}-labels-idx1-ubyte", y, gz=True)
    return folder


def tiny_params(fashion_dir: Path | None = None) -> dict:
    """The smoke settings (`pm2gan smoke`), with Fashion-MNIST from a tiny folder made in
    `fashion_dir`: what the cluster, fault and interrupted-sweep tests run."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    return smoke_params(params, tiny_fashion(fashion_dir) if fashion_dir is not None else None)


def longer(params: dict, steps: int, checkpoint_every: int) -> dict:
    """`params` whose smoke trials run `steps` steps with a checkpoint every `checkpoint_every`
    (the smoke cap lifted to match): long enough to be cut off half-way. They are evaluated on
    validation data at the end only: what these tests cut off and take up is training, and at a
    checkpoint's every 250 steps the validation evaluations were most of a 3,000-step trial's time."""
    params["profiles"][SMOKE]["train"].update(steps=steps, checkpoint_every=checkpoint_every, eval_every=0)
    params["profiles"][SMOKE]["cap"]["steps"] = steps
    return params


def readme_quick_start() -> list[str]:
    """The commands the README's quick start gives for a first run, as written there."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"^## Quick start\n.*?^```sh\n(.*?)^```", text, re.S | re.M)
    assert block, "README.md: the quick start's first run is a ```sh block"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def trial_count(study: str, params: dict) -> int:
    return len(expand(parse(params), study))


def dvc(checkout: Path, *args: str, shared: bool = False) -> str:
    """`dvc ARGS` in the checkout; with `shared`, through `pm2gan dvc ARGS` (what `make repro` runs:
    one Ray instance and one MLflow server for every stage)."""
    command = [str(Path(sys.executable).parent / "pm2gan"), "dvc", *args] if shared else ["dvc", *args]
    done = subprocess.run(command, cwd=checkout, env=dvc_env(checkout), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout + done.stderr


def services_left(checkout: Path) -> list[str]:
    """Ray, MLflow or stage-server processes still running for `checkout` (Ray's run where they
    were started, an MLflow server names its store, the stage server and its children run there)."""
    import psutil

    from pipeline.orchestration.ray_reaper import is_ray

    left = []
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if ((is_ray(p) or "pipeline.stage_server" in p.cmdline()) and Path(p.cwd()).is_relative_to(checkout)) or (
                    "mlflow" in " ".join(p.cmdline()) and str(checkout) in " ".join(p.cmdline())):
                left.append(" ".join(p.cmdline())[:120])
    return left


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A fresh clone of the project: its files, committed, with this environment as its `.venv`."""
    clone = make_checkout(tmp_path_factory.mktemp("e2e") / "pm2gan")
    (clone / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    # That `.venv` is this environment: the clone's make must find it installed, never install
    # into it (from a pyproject.toml newer than the set-up's stamp, it did, and left the
    # developer's editable install pointing at this clone)
    stamp = clone / ".venv" / ".pm2gan-installed"
    if not stamp.exists():
        pytest.skip(f"{sys.prefix} was not set up by `make setup` (no .pm2gan-installed): the quick start's make "
                    "would install into it")
    installed = stamp.stat().st_mtime
    os.utime(clone / "pyproject.toml", (installed, installed))
    from tests.test_data import debian_reachable

    if not debian_reachable():  # Fashion-MNIST's one source here: a tiny stand-in where it cannot be had
        tiny_fashion(clone / ".cache" / "fashion-mnist")
    return clone


@pytest.fixture(scope="module")
def first_run(project) -> str:
    """The README's quick start, word for word, in the fresh clone: `make smoke`."""
    commands = readme_quick_start()
    assert commands == ["make smoke"]  # what the rest of this module reads the outputs of
    output = ""
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=project, env=dvc_env(), capture_output=True, text=True,
                              timeout=900)
        output += done.stdout + done.stderr
        assert done.returncode == 0, f"{command} failed:\n{output[-6000:]}"
    return output


@pytest.fixture(scope="module")
def checkout(project, first_run) -> Path:
    """The scratch checkout `make smoke` ran every stage in."""
    return project / SMOKE_DIR / "pm2gan"


def smoke(checkout: Path) -> dict:
    return yaml.safe_load((checkout / "params.yaml").read_text())


def mlflow_runs(where: Path | str) -> dict[str, list]:
    """experiment name -> runs, read back through a real server: `where` is a server's URI, or a
    checkout, on whose store a server is started for this one read."""
    if isinstance(where, Path):
        with tracking.tracking_server(where / "mlruns") as uri:
            return mlflow_runs(uri)
    client = tracking.client(where)
    return {e.name: client.search_runs([e.experiment_id], max_results=1000)
            for e in client.search_experiments() if e.name.startswith("pm2gan/")}


@pytest.fixture(scope="module")
def reader(checkout, first_run) -> str:
    """One MLflow server on the smoke run's store for every read of this module (each start costs
    seconds): it reads what the pipeline's own servers write there, run after run, as the UI would."""
    with tracking.tracking_server(checkout / "mlruns") as uri:
        yield uri


def saved_view(experiment, study: str) -> dict:
    """The study's saved MLflow view of the trials' experiment (plain JSON: it fits in a tag)."""
    return json.loads(json.loads(experiment.tags[tracking.view_tag(study)])["state"])


def reads(runs: list, study: str) -> list:
    """The trial runs `study` reads (tagged by it: what its saved view's filter selects)."""
    return [r for r in runs if trial_runs.study_tag(study) in r.data.tags]


def metric_of(column: str) -> str:
    return column[len("metrics.`"):-1]  # metrics.`eval/prior/modes` -> eval/prior/modes


def test_repro_runs_every_stage_and_writes_the_report(checkout, first_run):
    assert stages_run(first_run) == set(STAGES)
    # `pm2gan dvc repro`: one MLflow server and one Ray instance, joined by every study's sweep, gone after
    assert first_run.count("MLflow tracking server at") == 1 and first_run.count("shared by every stage") == 1
    # and one stage server, which forked every stage's `pm2gan` (none fell back to a process of its own)
    # and the local Ray's workers (pipeline/ray_worker.py)
    served = re.search(rf"the stage server ran {len(STAGES)} stage commands and forked (\d+) Ray workers", first_run)
    assert served and int(served.group(1)) >= 2 and first_run.count("the stage server ran") == 1
    assert "cannot run this stage" not in first_run
    # a study with something to train or evaluate joins Ray; one whose every trial an earlier study
    # trained and evaluated (inference, here) is replayed by its driver, without Ray
    work = work_done(first_run)
    assert set(work) == {s for s in STUDIES if STUDIES[s].kind != "analytic"}
    replayed = {s for s, (_, trains, evaluates) in work.items() if trains == evaluates == 0}
    assert first_run.count("Connecting to existing Ray cluster") == len(work) - len(replayed)
    assert {s for s in work if f"study {s}: every trial is in the trial store" in first_run} == replayed
    # each dataset from outside has stages of its own: Fashion-MNIST made, MNIST (no study of the
    # smoke profile reads it) marked unused, without a network
    assert (checkout / "data" / "fashion_mnist" / "fashion_mnist.npz").exists()
    assert (checkout / "data" / "mnist" / "unused.txt").read_text().startswith("mnist was not made: no study of profile")
    assert services_left(checkout) == []
    # the command it gives for the runs' UI works from there without an activated venv
    ui = re.search(r"the runs: `cd \.smoke/pm2gan && (\S+) ui`", first_run)
    assert ui and os.access(checkout / ui.group(1), os.X_OK), first_run[-1000:]
    generation = (checkout / "reports" / "generation.md").read_text()
    assert "### ring8" in generation and "### digits" in generation
    assert "| pm | shuffled_codes |" in generation and "| ae | shuffled_codes |" in generation  # PM and its control
    assert "n/a" in generation  # GAN cannot reconstruct: not applicable, not zero
    metrics = json.loads((checkout / "reports" / "metrics.json").read_text())
    assert metrics["factorial"]["ica/pm"]["total_correlation"] is not None
    assert metrics["generation"]["ring8/gan"]["prior/modes"] is not None
    figures = checkout / "reports" / "figures" / "generation"
    assert (figures / "comparison-ring8.png").exists() and (figures / "comparison-losses-digits.png").exists()
    assert "![comparison-ring8](figures/generation/comparison-ring8.png)" in generation
    assert (checkout / "reports" / "report-standalone.html").stat().st_size > 100_000  # the one-file page, figures inlined
    assert "data:image" not in (checkout / "reports" / "report.html").read_text()  # kept in git: figures beside it
    curves = {p.name for p in (checkout / "reports" / "curves" / "generation").glob("*.csv")}
    assert "ring8-gan--gen.csv" in curves and "ring8-gan--disc.csv" in curves  # for dvc plots
    drawn = json.loads(dvc(checkout, "plots", "show", "--json", "reports/curves/generation/ring8-gan--gen.csv"))
    (plot,) = drawn["data"]["reports/curves/generation/ring8-gan--gen.csv"]
    assert plot["content"]["encoding"]["x"]["field"] == "step" and len(plot["content"]["data"]["values"]) >= 3
    assert re.search(r"^\[1/\d+ +\d+s, ~\d+(m\d\ds|s) left\] ", first_run, re.M)  # progress with an estimate
    theory = (checkout / "reports" / "theory.md").read_text()
    assert "V(D*, G) = 2 JSD - log 4, pair 0 | holds" in theory  # exact at any budget
    index = (checkout / "reports" / "index.md").read_text()
    for study in STUDY_STAGES:  # every study's page opens with its claim and a verdict, and the index links it
        page = (checkout / "reports" / f"{study}.md").read_text()
        assert "**Claim.**" in page and "**Verdict.** **" in page, study
        assert f"[{study}]({study}.md)" in index
    assert "| **PM** |" in index and "| **InfoGAN** |" in index  # the talk's comparison, as measured
    assert (checkout / "reports" / "figures" / "theory" / "bilinear_game.png").exists()
    table = (checkout / "reports" / "published.md").read_text()  # every published number, none called reproduced
    assert "| PacGAN Table 1 | GAN | ring8 | modes | 6.3 ± 0.5 |" in table
    verdicts = {line.split(" | ")[6] for line in table.splitlines() if line.startswith("| ") and "**" in line}
    # a run of 1 trial is never "reproduced"; "not run": a published row whose dataset the smoke profile lacks
    assert verdicts - {"**not run**"} == {"**not comparable yet**"}
    assert "| PacGAN Table 1 | GAN | ring8 | modes | 6.3 ± 0.5 | 0.00 (1 runs) | **not comparable yet** | 1 of 10 trials" in table
    assert "| GAN paper (Goodfellow et al. 2014) Table 1 | GAN | fashion_mnist | parzen_ll | 225 ± 2 |" in table
    assert "fashion_mnist, published on mnist" in table and "[20 published numbers beside ours](published.md)" in index
    assert metrics["parzen"]["fashion_mnist/aae"]["prior/parzen_ll"] is not None
    trials = json.loads((checkout / "results" / "generation" / "trials.json").read_text())["trials"]
    assert len(trials) == trial_count("generation", smoke(checkout))  # every model (gan twice: 2 lr) on ring8 and digits, one seed
    assert all(t["provenance"]["code_version"] not in ("", "unknown") for t in trials)


def test_every_training_is_one_mlflow_run_tagged_with_each_study_that_reads_it(checkout, first_run, reader):
    runs = mlflow_runs(reader)
    trained = [s for s in STUDIES if STUDIES[s].kind != "analytic"]
    assert set(runs) == {f"pm2gan/{s}" for s in (*STUDY_STAGES, "report")} | {"pm2gan/trials"}
    trials = runs["pm2gan/trials"]
    assert len(trials) == distinct_trainings(smoke(checkout), trained)  # one run per training, however many read it
    assert all(r.info.status == "FINISHED" and r.data.tags["kind"] == "trial" for r in trials)
    assert max(sum(trial_runs.study_tag(s) in r.data.tags for s in trained) for r in trials) >= 3  # shared ones
    for study in ("factorial", "generation"):
        parents = [r for r in runs[f"pm2gan/{study}"] if r.data.tags.get("kind") == "sweep"]
        assert len(parents) == 1 and parents[0].info.status == "FINISHED"
        assert runs[f"pm2gan/{study}"] == parents  # the study's experiment holds its sweep; the trials are shared
        assert len(reads(trials, study)) == trial_count(study, smoke(checkout))
        for run in reads(trials, study):
            assert {"model", "dataset", "seed", "code_version", "data_version", "training_key",
                    "evaluation_key"} <= set(run.data.tags)
            assert run.data.params["train.steps"] == "60" and "study" not in run.data.params
            assert "perf/steps_per_s" in run.data.metrics
    generation = {r.data.tags["study.generation"] + "/" + r.data.tags["dataset"] + "/" + r.data.tags["model"]: r
                  for r in reads(trials, "generation")}
    assert generation["default/ring8/gan"].data.tags["outcome"] == "completed"
    assert "eval/prior/modes" in generation["default/ring8/gan"].data.metrics
    gen_costs = {r.data.tags["study.gen_costs"] + "/" + r.data.tags["dataset"]: r for r in reads(trials, "gen_costs")}
    assert gen_costs["gen_cost=kl/ring8"].data.params["hparams.gen_cost"] == "kl"  # a study's factor, as a param
    assert "eval/prior/frechet" in generation["default/digits/aae"].data.metrics
    assert "val/shuffled_codes/frechet" in generation["default/digits/pm"].data.metrics
    assert runs["pm2gan/report"][0].info.status == "FINISHED"


def test_mlflow_opens_the_experiments_as_model_training_with_datasets_and_the_comparison(checkout, first_run, reader):
    from pipeline.trial.train import load_from_mlflow

    c = tracking.client(reader)
    experiment = c.get_experiment_by_name("pm2gan/generation")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    parent = next(r for r in c.search_runs([experiment.experiment_id]) if r.data.tags.get("kind") == "sweep")
    figures = {a.path for a in c.list_artifacts(parent.info.run_id, "figures")}
    assert {"figures/comparison-ring8.png", "figures/comparison-losses-ring8.png"} <= figures
    shared = c.get_experiment_by_name("pm2gan/trials")
    assert shared.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = c.search_runs([shared.experiment_id], trial_runs.study_filter("generation"), max_results=1000)
    child = next(r for r in runs if r.info.run_name == "gan-ring8-s0")
    (used,) = child.inputs.dataset_inputs
    trials = json.loads((checkout / "results" / "generation" / "trials.json").read_text())["trials"]
    (result,) = [t for t in trials if t["run_name"] == child.info.run_name]
    assert used.dataset.name == "ring8" and used.dataset.digest == child.data.tags["data_version"]
    assert used.dataset.digest == result["provenance"]["data_version"]  # the version the result records
    assert json.loads(used.dataset.source)["uri"] == "data/ring8.npz"
    assert result["provenance"]["mlflow_run"] == child.info.run_id  # the result names its run
    assert {"checkpoint", "result.json", "samples-prior.png", "curves.png"} <= {
        a.path for a in c.list_artifacts(child.info.run_id)}
    model = load_from_mlflow(child.info.run_id, reader)  # the documented one call
    assert type(model).__name__ == "GAN" and sum(p.numel() for p in model.parameters()) > 0

    # the study's saved view of the trials: its runs, the dataset, the factor its rows vary, its
    # table's metrics as logged
    view = saved_view(shared, "generation")
    assert json.loads(shared.tags[tracking.view_tag("generation")])["name"] == "pm2gan: generation"
    assert view["searchFilter"] == trial_runs.study_filter("generation")
    columns = view["selectedColumns"]
    assert columns[0] == "attributes.`Dataset`"
    assert not any(c.startswith("params.") for c in columns)  # generation varies no factor
    assert "params.`hparams.gen_cost`" in saved_view(shared, "gen_costs")["selectedColumns"]  # gen_costs does
    metrics = [metric_of(c) for c in columns if c.startswith("metrics.")]
    assert "eval/prior/modes" in metrics and "eval/shuffled_codes/frechet" in metrics
    assert all(m.rsplit("/", 1)[-1] in STUDIES["generation"].columns for m in metrics)
    logged = {k for r in runs for k in r.data.metrics}
    assert set(metrics) <= logged  # under the keys the trials logged them


def test_the_report_and_the_mlflow_ui_in_a_browser(checkout, first_run, reader):
    """The HTML report opened from the file system and a study's runs in the MLflow UI, in
    headless Chromium: the verdicts, tables and figures are on the page, no image is broken."""
    from pipeline.cli import _links, ui_link
    from tests import browser

    if browser.skip_reason():
        pytest.skip(browser.skip_reason())
    studies = [s for s in STUDY_STAGES if (checkout / "reports" / f"{s}.md").exists()]
    with browser.page() as p:
        p.goto((checkout / "reports" / "report.html").as_uri())
        assert p.title() == "pm2gan report"
        assert browser.broken_images(p) == []
        assert p.locator("section").count() == 2 + len(studies)  # the summary, the published numbers, each study
        for study in studies:
            section = p.locator(f"section#{study}")
            assert section.locator("p.verdict").count() == 1 or study == "theory", study
            assert section.locator("table").count() >= 1, study
        assert p.locator("section#generation img[alt='comparison-ring8']").count() == 1
        assert p.locator("img").count() > 20
        browser.screenshot(p, "report-top")
        p.locator("section#generation h3", has_text="ring8: samples of every model").scroll_into_view_if_needed()
        browser.screenshot(p, "report-generation-ring8")

    uri = reader  # the module's server on the smoke run's store
    with browser.page(1500, 950) as p:
        c = tracking.client(uri)
        experiment = c.get_experiment_by_name("pm2gan/generation").experiment_id
        shared = c.get_experiment_by_name("pm2gan/trials").experiment_id
        parent = next(r for r in c.search_runs([experiment]) if r.data.tags.get("kind") == "sweep")
        links = {what: (i, view) for what, i, view in _links(checkout / "mlruns" / "mlflow.db")}
        assert links["generation trials"] == (shared, "generation") and links["generation"] == (experiment, None)
        p.goto(ui_link(uri, shared, "generation"))  # what `make ui` prints for a study that has run
        p.get_by_text("gan-ring8-s0").first.wait_for(timeout=60_000)
        # the view's filter: the study's trials alone, of the shared experiment's runs
        assert len(c.search_runs([shared], max_results=1000)) > trial_count("generation", smoke(checkout))
        p.get_by_text(f"{trial_count('generation', smoke(checkout))} matching runs").wait_for(timeout=30_000)
        assert p.get_by_text("Detect Issues").count() == 0  # the model-training view, not GenAI's
        if p.get_by_role("button", name="Close").count():  # MLflow's assistant panel covers a third of the table
            p.get_by_role("button", name="Close").first.click()
        # the saved view's columns: the study's key metrics (the first ones, left of the grid's fold), not
        # every metric a trial logged
        first = next(k for k in saved_view(c.get_experiment(shared), "generation")["selectedColumns"]
                     if k.startswith("metrics."))
        p.get_by_role("columnheader", name=metric_of(first), exact=True).first.wait_for(timeout=30_000)
        assert p.get_by_role("columnheader", name="perf/steps_per_s").count() == 0
        assert p.get_by_text(re.compile(r"ring8 \([0-9a-f]{12}\)")).count() >= 1  # the dataset column: name (digest)
        assert browser.broken_images(p) == []
        browser.screenshot(p, "mlflow-generation-runs")
        p.goto(f"{uri}/#/experiments/{experiment}/runs/{parent.info.run_id}/artifacts/figures/comparison-ring8.png"
               "?workflowType=machine_learning")
        p.get_by_text("figures/comparison-ring8.png").first.wait_for(timeout=60_000)
        # the artifact view shows the figure from a blob: URL once fetched; it is 1,500 px wide
        p.wait_for_function("[...document.images].some(i => i.complete && i.naturalWidth >= 1000)", timeout=30_000)
        assert browser.broken_images(p) == []
        for figure in c.list_artifacts(parent.info.run_id, "figures"):  # the tree lists every comparison figure
            p.get_by_text(Path(figure.path).name, exact=True).first.wait_for(timeout=30_000)
        if p.get_by_role("button", name="Close").count():
            p.get_by_role("button", name="Close").first.click()
        browser.screenshot(p, "mlflow-generation-comparison")


def test_one_study_in_the_fresh_clone_makes_its_own_data_only(project, first_run):
    """`dvc repro generation` on the clone (its default profile) runs generation's data stages
    alone, so never waits for Fashion-MNIST or fails for want of it. Its data stages are run here
    (the sweep itself, 81 trials at the default budget, is the smoke run's to check)."""
    dag = dvc(project, "dag", "--dot", "generation")
    assert set(re.findall(r'"([\w-]+)"', dag)) == {"params", "fetch", "evalnet", "fetch-mnist", "evalnet-mnist",
                                                   "generation"}
    output = dvc(project, "repro", "evalnet", "evalnet-mnist")
    assert stages_run(output) == {"params", "fetch", "evalnet", "fetch-mnist", "evalnet-mnist"}
    assert (project / "evalnets" / "digits.pt").exists() and (project / "data" / "mnist" / "unused.txt").exists()
    assert not (project / "data" / "fashion_mnist").exists()


def test_second_repro_trains_nothing(checkout, first_run, reader):
    before = sum(len(r) for r in mlflow_runs(reader).values())
    output = dvc(checkout, "repro")
    assert stages_run(output) == set()
    assert all(f"Stage '{s}' didn't change, skipping" in output for s in STAGES)
    assert sum(len(r) for r in mlflow_runs(reader).values()) == before


def test_a_cold_repro_trains_each_distinct_training_once(checkout, first_run):
    work = work_done(first_run)
    trained = [s for s in STUDIES if STUDIES[s].kind != "analytic"]
    assert sorted(work) == sorted(trained)
    assert {s: n for s, (n, _, _) in work.items()} == {s: trial_count(s, smoke(checkout)) for s in trained}
    distinct = distinct_trainings(smoke(checkout), trained)
    assert distinct < sum(n for n, _, _ in work.values())  # studies share trainings: the test means something
    assert sum(t for _, t, _ in work.values()) == distinct
    assert sum(e for _, _, e in work.values()) == distinct


def test_an_edit_to_a_verdict_rule_trains_and_evaluates_nothing(checkout, first_run):
    edit_verdict(checkout, "generation")
    # `make repro`'s way (plain `dvc repro` reruns a study in test_interrupt.py), the study alone: that
    # the report reruns after a study's is the family change's test below
    output = dvc(checkout, "repro", "generation", shared=True)
    assert stages_run(output) == {"generation"}
    (asked, trains, evaluates), = work_done(output).values()
    assert (asked, trains, evaluates) == (trial_count("generation", smoke(checkout)), 0, 0)


def test_changing_one_family_reruns_only_its_studies_and_trains_only_its_trials(checkout, first_run, reader):
    """EBGAN's defaults: two studies read them, generation among eight other families' trials, and
    the ebgan study's variant with the term is generation's EBGAN trial (one training, two readers)."""
    params = yaml.safe_load((checkout / "params.yaml").read_text())
    before = len(mlflow_runs(reader)["pm2gan/trials"])
    params["models"]["ebgan"]["defaults"]["margin"] = 2.0  # the studies that train an EBGAN, and only those
    (checkout / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    output = dvc(checkout, "repro", shared=True)  # several stages: their start-up once
    ebgan_studies = ["generation", "ebgan"]
    assert stages_run(output) == {"params", *ebgan_studies, "report"}  # params: any change is checked first
    assert "Data and pipelines are up to date" in dvc(checkout, "status")
    work = work_done(output)
    ebgan_trainings = distinct_trainings(params, ebgan_studies, model="ebgan")
    asked = sum(1 for s in ebgan_studies for t in expand(parse(params), s) if t.model == "ebgan")
    assert ebgan_trainings < asked  # a training two studies ask for: the test means something
    assert sum(t for _, t, _ in work.values()) == ebgan_trainings  # the EBGAN trials, each once; no other family's
    assert len(mlflow_runs(reader)["pm2gan/trials"]) == before + ebgan_trainings  # a run for each new training
    assert sum(e for _, _, e in work.values()) == ebgan_trainings


def test_a_new_metric_evaluates_every_trial_and_trains_none(checkout, first_run, reader):
    before = mlflow_runs(reader)["pm2gan/trials"]
    add_metric(checkout)
    output = dvc(checkout, "repro", "generation", shared=True)
    (asked, trains, evaluates), = work_done(output).values()
    assert (asked, trains, evaluates) == (trial_count("generation", smoke(checkout)),
                                          0, asked)
    # each trial's new evaluation goes into its training's run: no new run
    trial_runs_after = mlflow_runs(reader)["pm2gan/trials"]
    assert len(trial_runs_after) == len(before)
    assert {r.data.tags["evaluation_key"] for r in reads(trial_runs_after, "generation")}.isdisjoint(
        r.data.tags["evaluation_key"] for r in reads(before, "generation"))
    trials = json.loads((checkout / "results" / "generation" / "trials.json").read_text())["trials"]
    encoders = [t for t in trials if t["trial"]["model"] in ("ae", "pm", "aae") and t["outcome"] == "completed"]
    assert encoders and all(t["metrics"][f"eval/{NEW_METRIC}"] is not None for t in encoders)


def test_a_refused_change_is_refused_before_dvc_removes_any_output(checkout, first_run):
    """DVC removes a stage's outputs before it runs the stage; the `params` stage, upstream of all,
    refuses a bad value first, so the data and every study's results stay as they were."""
    good = (checkout / "params.yaml").read_text()
    kept = {path: path.read_bytes() for path in [*(checkout / "data").rglob("*.npz"),
                                                 checkout / "results" / "generation" / "trials.json"]}
    bad_lr = yaml.safe_load(good)
    bad_lr["models"]["gan"]["defaults"]["lr"] = -1.0  # read by five studies
    unknown_family = yaml.safe_load(good)
    unknown_family["studies"]["generation"]["models"].append("vaee")  # read by `fetch`
    for params, words in ((bad_lr, "models.gan.defaults.lr"), (unknown_family, "vaee")):
        (checkout / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        done = subprocess.run(["dvc", "repro"], cwd=checkout, env=dvc_env(checkout), capture_output=True, text=True,
                              timeout=600)
        assert done.returncode != 0 and words in done.stderr, done.stderr[-2000:]
        assert stages_run(done.stdout + done.stderr) == {"params"}
        assert all(path.exists() and path.read_bytes() == blob for path, blob in kept.items())
    (checkout / "params.yaml").write_text(good)
    # the check stage is as it was (earlier tests of this module leave other stages edited)
    assert "Data and pipelines are up to date" in dvc(checkout, "status", "params")
