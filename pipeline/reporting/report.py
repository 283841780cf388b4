"""Tables and figures of the studies: per study a markdown table (mean ± std
over seeds for each model, grid point and dataset), sample figures and
training curves, and `reports/metrics.json` for `dvc metrics show`."""
from __future__ import annotations

import json
import math
import shutil
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.data import places
from pipeline.evaluation import metrics
from pipeline.evaluation.evaluate import progress_curves
from pipeline.evaluation.samplers import SAMPLERS
from pipeline.files import figures
from pipeline.reporting import over_training
from pipeline.studies import trajectory as trajectories
from pipeline.studies.convergence import Rule
from pipeline.studies.convergence import describe as describe_convergence
from pipeline.studies.convergence import rows as rows_converged
from pipeline.studies.base import Row, Table, Verdict
from pipeline.studies.summary import Budget
from pipeline.trial.results import StudyResults, TheoryResults, TrialResult, read_study

REPORTS_DIR = Path("reports")
NOT_APPLICABLE = "n/a"
NO_SAMPLER = "—"

# Columns in the registry's order (pipeline/evaluation/metrics.py), then speed and size.
COLUMNS = [*metrics.DESCRIPTIONS, "steps_per_s", "flops_per_step", "parameters"]
metrics.DESCRIPTIONS.setdefault("steps_per_s", "training steps per second over the loop, validation evaluations excluded "
                                               "(moves with the machine and its load: shown, never tested)")
metrics.DESCRIPTIONS.setdefault("flops_per_step", "floating-point operations of one training step, inner loops included "
                                                  "(PyTorch's FlopCounterMode: matrix products and convolutions; "
                                                  "pipeline/training/cost.py): the work a step costs on any machine")


def _stat(row: Row, name: str) -> dict | None:
    """{mean, std, n, undefined} of a row's metric: std the sample standard deviation (ddof 1;
    None below two values), `undefined` the completed seeds where it was NaN/inf (counted apart,
    never averaged); None when no trial could compute it (not applicable)."""
    values, undefined = row.get(name), row.undefined.get(name, 0)
    if not values and not undefined:
        return None
    std = row.std(name) if values else math.nan
    return {"mean": row.mean(name) if values else None, "std": std if math.isfinite(std) else None,
            "n": len(values), "undefined": undefined}


def aggregate(results: list[TrialResult]) -> dict[str, dict[str, Any]]:
    """'dataset/model[variant]' -> {seeds, diverged, improving, samplers, metric: {mean, std, n,
    undefined}} over completed trials, read from the studies' one aggregation (studies.base.Table);
    metrics of samples are '<sampler>/<name>'. A metric no trial of the group could compute is
    None (not applicable)."""
    out = {}
    for (dataset, model, variant), row in Table(results).rows.items():
        entry: dict[str, Any] = {"seeds": row.seeds, "diverged": row.diverged, "improving": row.improving,
                                 "samplers": sorted({n.split("/")[0] for n in row.reported if "/" in n})}
        for name in sorted(row.reported):
            entry[name] = _stat(row, name)
        out[f"{dataset}/{model}" + ("" if variant == "default" else f"[{variant}]")] = entry
    return out


def _fmt(stat: dict | None) -> str:
    if stat is None:
        return NOT_APPLICABLE
    mean, std, n, undefined = stat["mean"], stat["std"], stat["n"], stat.get("undefined", 0)
    if mean is None:
        return f"undefined ({undefined} of {undefined})"
    digits = 0 if abs(mean) >= 1000 else 3
    text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")
    return text + (f" (n={n} of {n + undefined})" if undefined else "")


def _baseline_cell(value: Any) -> str:
    """A baseline's value: one number, or mean ± sample std over its draws."""
    if isinstance(value, list):
        v = np.asarray(value, dtype=np.float64)
        v = v[np.isfinite(v)]
        if not len(v):
            return "undefined"
        return f"{v.mean():.3f}" + (f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else "") + f" ({len(v)} draws)"
    return f"{value:.3f}" if value is not None else ""


def study_table(claim: str, results: list[TrialResult], references: dict | None = None,
                columns: tuple[str, ...] | None = None) -> str:
    """Markdown: one table per dataset, a row per model (factor values) and sampler, a column per
    metric (`columns`, else every one the trials report), rows computed without training
    (`references`: FastICA, raw pixels) below them; then what each column measures."""
    agg = aggregate(results)
    references = references or {}
    lines = [f"**Claim.** {claim}", ""] if claim else []
    by_dataset: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for key, entry in agg.items():
        dataset, rest = key.split("/", 1)
        by_dataset[dataset].append((rest, entry))
    shown: set[str] = set()
    for dataset, rows in by_dataset.items():
        names = {k.split("/")[-1] for _, e in rows for k in e if isinstance(e[k], dict) or e[k] is None}
        names |= {m.split("/")[-1] for row in references.get(dataset, {}).values() for m in row}
        wanted = columns if columns else [c for c in COLUMNS if c not in ("steps_per_s", "flops_per_step", "parameters")]
        cols = [c for c in wanted if c in names]
        shown.update(cols)
        lines += [f"### {dataset}", "", "| model | sampler | seeds | diverged | still improving | "
                  + " | ".join(f"{c} {ARROWS.get(metrics.BETTER.get(c), '')}".rstrip() for c in cols) + " |",
                  "|---" * (len(cols) + 5) + "|"]
        table = [(model, entry, sampler, [entry.get(c, entry.get(f"{sampler}/{c}")) for c in cols])
                 for model, entry in rows
                 for sampler in ([s for s in entry["samplers"] if any(f"{s}/{c}" in entry for c in cols)] or [NO_SAMPLER])]
        best = _best_rows([stats for _, _, _, stats in table], [metrics.BETTER.get(c) for c in cols])
        for i, (model, entry, sampler, stats) in enumerate(table):
            cells = [f"**{_fmt(stat)}**" if i in best[j] else _fmt(stat) for j, stat in enumerate(stats)]
            improving = f"{entry['improving']}/{entry['seeds'] - entry['diverged']}" if entry["improving"] else "0"
            lines.append(f"| {model} | {sampler} | {entry['seeds']} | {entry['diverged']} | {improving} | "
                         + " | ".join(cells) + " |")
        for name, values in references.get(dataset, {}).items():
            cells = [_baseline_cell(values.get(c, values.get(f"prior/{c}"))) for c in cols]
            lines.append(f"| *{name} (baseline)* | {'prior' if any('/' in m for m in values) else NO_SAMPLER} | | | | "
                         + " | ".join(cells) + " |")
        lines.append("")
    lines += ["↑: higher is better, ↓: lower is better (the metric registry's direction; no arrow: a count or a "
              "diagnostic). **Bold**: the best mean of the trained rows in its column, a marker for the eye and not a "
              "test (the verdict's tests are below the table).",
              f"Mean ± sample std (ddof 1) over completed seeds, on the test split; `{NOT_APPLICABLE}`: the model cannot "
              "provide what the metric needs; *(n=2 of 3)*: the metric was undefined (NaN) in the other seeds, which are "
              "counted apart, never averaged. Diverged trials (loss NaN/inf) are counted, not averaged. *still improving*: seeds "
              "whose validation progress metrics were still improving at the last evaluation (their numbers are "
              "lower bounds of what the model reaches, not results). *sampler*: how the samples of the sample "
              "metrics were drawn (pipeline/evaluation/samplers.py). *baseline* rows are computed without training, under the same protocol (pipeline/evaluation/baselines.py: noise, PCA, "
              "random projections, a Gaussian fit to the pixels, real images; FastICA, raw pixels), mean ± std over their "
              "draws where they draw.", "",
              "**Columns.**", ""]
    lines += [f"- `{c}`: {metrics.DESCRIPTIONS[c]}" for c in COLUMNS if c in shown and c in metrics.DESCRIPTIONS]
    lines += _nodes_line(results)
    return "\n".join(lines) + "\n"


ARROWS = {"higher": "↑", "lower": "↓"}


def _best_rows(stats: list[list[dict | None]], better: list[str | None]) -> list[set[int]]:
    """Per column, the rows whose mean is the best of the column (ties all marked): none where
    the column has no direction or fewer than two rows have a mean."""
    best: list[set[int]] = []
    for j, direction in enumerate(better):
        means = {i: row[j]["mean"] for i, row in enumerate(stats) if row[j] is not None and row[j]["mean"] is not None}
        if direction not in ARROWS or len(means) < 2:
            best.append(set())
            continue
        top = (max if direction == "higher" else min)(means.values())
        best.append({i for i, m in means.items() if m == top})
    return best


def _nodes_line(results: list[TrialResult]) -> list[str]:
    """Where the trials ran, when that was more than one Ray node (each MLflow run's `ray_node` tag
    says it per trial, also on one node). Results written before the node was recorded have none."""
    nodes = Counter(r.provenance["ray_node"] for r in results if r.provenance.get("ray_node"))
    if len(nodes) < 2:
        return []
    return ["", f"**Ray nodes.** {sum(nodes.values())} trials ran on {len(nodes)} node{'s' * (len(nodes) > 1)} "
                "(address/node id): " + ", ".join(f"`{n}` {k}" for n, k in sorted(nodes.items())) + "."]


def _reference(dataset: str, data_dir: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(data points, true modes' centres) of a 2-D toy, drawn under its samples; (None, None) else."""
    path = places.data_file(dataset, data_dir)
    if not path.exists():
        return None, None
    with np.load(path) as z:
        x = z["x_train"]
        centres = json.loads(str(z["meta"])).get("centres") if "meta" in z else None
    if not (x.ndim == 2 and x.shape[1] == 2):
        return None, None
    return x[:2000], (np.asarray(centres) if centres else None)


def _real_images(dataset: str, data_dir: Path, n: int = 36) -> list[tuple[str, np.ndarray]]:
    """For an image dataset, a first panel of real test images to hold the samples against (a 2-D
    toy's data is drawn under every panel instead); none else."""
    path = places.data_file(dataset, data_dir)
    if not path.exists():
        return []
    with np.load(path) as z:
        x = z["x_test"][:n]
    return [("data (test images)", x)] if x.ndim == 4 else []


def _label(r: TrialResult) -> str:
    return r.trial.model + ("" if r.variant == "default" else f" [{r.variant}]")


def _first_seeds(results: list[TrialResult]) -> dict[tuple[str, str, str], TrialResult]:
    """(dataset, model, variant) -> its first seed's result: what a row's figures show."""
    first: dict[tuple[str, str, str], TrialResult] = {}
    for r in results:
        first.setdefault((r.trial.dataset, r.trial.model, r.variant), r)
    return first


def _every_seed(results: list[TrialResult], dataset: str) -> tuple[list[tuple[str, np.ndarray]], int]:
    """One panel per seed of each row on `dataset` (its first sampler's samples), a row's seeds side
    by side (the panels, and the seeds per line); a missing seed is an empty panel, so that each
    row keeps its line. No panels where no row has more than one seed."""
    rows: dict[tuple[str, str], dict[int, TrialResult]] = {}
    for r in results:
        if r.trial.dataset == dataset and any(s in SAMPLERS for s in r.samples):
            rows.setdefault((r.trial.model, r.variant), {})[r.trial.seed] = r
    seeds = sorted({s for by_seed in rows.values() for s in by_seed})
    if len(seeds) < 2:
        return [], 0
    panels = []
    for by_seed in rows.values():
        for seed in seeds:
            r = by_seed.get(seed)
            if r is None:
                panels.append((f"seed {seed}: none", np.zeros((0, 2))))
                continue
            sampler = next(s for s in r.samples if s in SAMPLERS)  # rows hold only trials that have one
            panels.append((f"{_label(r)} s{seed}" + ("" if r.outcome == "completed" else f", {r.outcome}"),
                           r.samples[sampler]))
    return panels, len(seeds)


def _stem(key: tuple[str, str, str]) -> str:
    """A row's file name part: 'ring8-gan-lr0.0002' for (ring8, gan, lr=0.0002)."""
    return "-".join(p for p in key if p != "default").replace("=", "").replace(",", "-")


def study_figures(study: str, results: list[TrialResult], out_dir: Path, data_dir: Path,
                  columns: tuple[str, ...] | None = None, every_curve: bool = True) -> list[tuple[str, list[Path]]]:
    """The figures for comparison, in rows (a heading and its figures), per dataset: every model's
    samples side by side in one figure (a toy's on one scale, over the data, its true modes
    marked), the players' losses of every model side by side, with `every_curve` each model's
    own curves figure, then each model's metrics against the factor the study varies. The first
    seed of each row stands for it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    first = _first_seeds(results)
    rows: list[tuple[str, list[Path]]] = []
    for dataset in dict.fromkeys(d for d, _, _ in first):
        here = [r for (d, _, _), r in first.items() if d == dataset]
        reference, modes = _reference(dataset, data_dir)
        panels = [(f"{_label(r)} ({sampler})" + ("" if r.outcome == "completed" else f", {r.outcome}"), drawn)
                  for r in here for sampler, drawn in r.samples.items()
                  if sampler in SAMPLERS]  # others (InfoGAN's traversal) are drawn by their study
        if panels:
            panels = _real_images(dataset, data_dir) + panels
            path = out_dir / f"comparison-{dataset}.png"
            figures.save(figures.comparison_figure(panels, f"{study}: samples on {dataset} (first seed of each row)",
                                                   reference, modes), path)
            rows.append((f"{dataset}: samples of every model", [path]))
            every_seed, per_line = _every_seed(results, dataset)
            if every_seed:
                path = out_dir / f"comparison-seeds-{dataset}.png"
                figures.save(figures.comparison_figure(
                    every_seed, f"{study}: samples on {dataset}, every seed of each row (a row per model, a column "
                                "per seed)", reference, modes, per_row=per_line, max_images=16), path)
                rows.append((f"{dataset}: every seed's samples (do the seeds agree?)", [path]))
        losses = [(_label(r), {k: v for k, v in r.curves.items() if k.startswith("loss/")}) for r in here]
        losses = [(label, c) for label, c in losses if c]
        if losses:
            path = out_dir / f"comparison-losses-{dataset}.png"
            figures.save(figures.losses_figure(losses, f"{study}: the players' losses on {dataset} (first seed of "
                                                       "each row)"), path)
            rows.append((f"{dataset}: the players' losses, side by side", [path]))
        curves = []
        for key, r in first.items():
            if every_curve and key[0] == dataset and r.curves:
                curves.append(out_dir / f"curves-{_stem(key)}.png")
                figures.save(figures.curves_figure(progress_curves(r.curves), r.run_name), curves[-1])
        if curves:
            rows.append((f"{dataset}: every curve of each model (losses, validation metrics)", curves))
        factors = _factor_figures(study, dataset, results, out_dir, columns)
        if factors:
            rows.append((f"{dataset}: metrics against the study's factor", factors))
    return rows


def curve_files(results: list[TrialResult], out_dir: Path) -> list[Path]:
    """The players' loss curves as data (`step,value` CSV, one file per curve, the first seed of
    each row) for `dvc plots show` and `dvc plots diff`, which draw them with DVC's templates."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    written = []
    for key, r in _first_seeds(results).items():
        for name, points in sorted(r.curves.items()):
            if not name.startswith("loss/") or not points:
                continue
            path = out_dir / f"{_stem(key)}--{name.split('/', 1)[1].replace('/', '_')}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("step,value\n" + "".join(f"{s},{v:.6g}\n" for s, v in points))
            written.append(path)
    return written


def _factor_figures(study: str, dataset: str, results: list[TrialResult], out_dir: Path,
                    columns: tuple[str, ...] | None) -> list[Path]:
    """For each model the study runs at two or more values of a factor: its table's metrics
    (mean ± std over seeds) against the factor's values."""
    agg = aggregate([r for r in results if r.trial.dataset == dataset])
    by_model: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for key, entry in agg.items():
        model, _, variant = key.split("/", 1)[1].partition("[")
        if variant:
            by_model[model].append((variant.rstrip("]"), entry))
    written = []
    for model, variants in by_model.items():
        if len(variants) < 2:
            continue
        wanted = columns or [c for c in COLUMNS if c not in ("steps_per_s", "flops_per_step", "parameters")]
        points: dict[str, list[tuple[str, float, float]]] = {}
        for name in wanted:
            for full in sorted({k for _, e in variants for k in e if k == name or k.endswith(f"/{name}")}):
                series = [(v, e[full]["mean"], e[full]["std"] or 0.0) for v, e in variants
                          if isinstance(e.get(full), dict) and e[full]["mean"] is not None]
                if len(series) >= 2:
                    points[full] = series
        if points:
            shown = dict(list(points.items())[:4])
            path = out_dir / f"factor-{dataset}-{model}.png"
            figures.save(figures.factor_figure(shown, f"{study}: {model} on {dataset}, mean ± std over seeds"), path)
            written.append(path)
    return written


def draw_study(name: str, results: list[TrialResult], table: Table, trajectory: trajectories.Trajectory,
               reports_dir: Path, data_dir: Path) -> list[tuple[str, list[Path]]]:
    """Every figure of study `name`'s page under reports_dir/figures/<name>/ and its curves' data
    under reports_dir/curves/<name>/: the page's rows (a heading and its figures)."""
    from pipeline.studies import STUDIES

    study = STUDIES[name]
    fig_dir = reports_dir / "figures" / name
    if fig_dir.exists():  # figures of an earlier layout must not linger beside the new ones
        shutil.rmtree(fig_dir)
    rows = study_figures(name, results, fig_dir, data_dir, study.columns)
    fig_dir.mkdir(parents=True, exist_ok=True)
    if drawn := over_training.draw(trajectory, name, fig_dir / "over-training.png"):
        rows.insert(0, ("the verdict over training", [drawn]))
    curve_files(results, reports_dir / "curves" / name)
    own = study.figures(table, results, fig_dir, data_dir)
    if own:
        rows.append(("the study's own figures", own))
    return rows


def draw_studies(jobs: dict[str, tuple], workers: int | None = None) -> dict[str, list[tuple[str, list[Path]]]]:
    """Each study's figures (`jobs`: study -> draw_study's other arguments): its page's rows. Drawing
    is most of the report's time and matplotlib keeps to one core, so the studies are drawn in
    parallel, in processes started afresh (spawn: no matplotlib or torch state copied into a fork),
    at most `workers` (None: one per core); with 1, here, one after another.
    benchmarks/report_time.py measures the two."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if workers <= 1:
        return {name: draw_study(name, *args) for name, args in jobs.items()}
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        drawn = {name: pool.submit(draw_study, name, *args) for name, args in jobs.items()}
        return {name: future.result() for name, future in drawn.items()}


def build(results_dir: Path, convergence: Rule, reports_dir: Path = REPORTS_DIR,
          data_dir: Path = Path("data"), workers: int | None = None) -> dict[str, Path]:
    """reports/<study>.md (claim, verdict, table, figures) for every study with results,
    reports/figures/<study>/*.png, reports/metrics.json and reports/index.md (the talk's
    comparison as measured, then every study's verdict)."""
    from pipeline.studies import STUDIES
    from pipeline.studies.base import select_on_validation

    reports_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    all_metrics, verdicts = {}, {}
    tables: dict[str, Table] = {}  # study -> its table (provenance attached), for the published numbers
    budgets: dict[str, Budget] = {}  # study -> what its budget left behind, over the rows its verdict reads
    settled: dict[str, trajectories.Trajectory] = {}  # study -> its verdict over training
    not_run: dict[str, str] = {}  # study -> the profile that has none of its datasets
    pages: dict[str, list[str]] = {}  # study -> its page's lines before the figures
    jobs: dict[str, tuple] = {}  # study -> what draw_study needs to draw its figures
    for name, study in STUDIES.items():
        folder = Path(results_dir) / name
        if study.kind == "analytic":
            if not (folder / "summary.json").exists():
                continue
            summary = TheoryResults.model_validate_json((folder / "summary.json").read_text())
            verdicts[name] = study.verdict(summary)
            written[name] = theory_report(study, summary, verdicts[name], folder, reports_dir)
            all_metrics[name] = {**summary.metrics, "verdict": verdicts[name].outcome}
            continue
        if not (folder / "trials.json").exists():
            continue
        summary: StudyResults = read_study(folder)
        if not summary.trials:  # none of its datasets is in the profile it ran under: a page that says so
            not_run[name] = summary.profile
            written[name] = reports_dir / f"{name}.md"
            written[name].write_text(f"# Study `{name}`\n\n**Claim.** {study.claim}\n\n**Not run** in profile "
                                     f"`{summary.profile}`: none of its datasets is in that profile, so there is no verdict "
                                     "(`studies.{name}.datasets` in params.yaml lists them).\n")
            continue
        results = select_on_validation(summary.trials)
        table = Table(results, summary.references)
        table.provenance = summary.provenance
        tables[name] = table
        verdicts[name] = study.verdict(table)
        trajectory = trajectories.trace(study, results, summary.val_references, table)
        settled[name] = trajectory
        converged = rows_converged(results, trajectory.reads, convergence)
        budgets[name] = Budget(improving=sum(1 for c in converged if c.improving), rows=len(converged),
                               stopped=sum(c.stopped for c in converged), seeds=sum(c.seeds for c in converged))
        jobs[name] = (results, table, trajectory, reports_dir, data_dir)
        md = [f"# Study `{name}`", "", f"**Claim.** {study.claim}", "", *verdict_lines(verdicts[name]),
              *budget_caveat(table),
              trajectories.describe(trajectory, verdicts[name], _budgets(results)), "",
              *describe_convergence(converged, convergence),
              f"*The rule that decides it is in `pipeline/studies/{name}.py`.* Profile `{summary.profile}`, code "
              f"`{summary.provenance.get('code_version')}`, {len(results)} trials.", "",
              study_table("", results, summary.references, study.columns), "## Figures", ""]
        pages[name] = md
        all_metrics[name] = {k: {m: (v["mean"] if isinstance(v, dict) else v) for m, v in e.items()}
                             for k, e in aggregate(results).items()}
        all_metrics[name]["verdict"] = verdicts[name].outcome
        all_metrics[name]["settled_from"] = trajectory.settled_from()  # fraction of the budget; null: not settled
    drawn = draw_studies(jobs, workers)
    for name, md in pages.items():
        for heading, paths in drawn[name]:  # one paragraph per row: the HTML report shows it as a row
            md += [f"### {heading}", "", *[f"![{p.stem}](figures/{name}/{p.name})" for p in paths], ""]
        written[name] = reports_dir / f"{name}.md"
        written[name].write_text("\n".join(md) + "\n")
    from pipeline.studies import published

    comparisons = published.compare(tables)
    written["published"] = reports_dir / "published.md"
    written["published"].write_text(published.markdown(comparisons, orderings(verdicts)))
    all_metrics["published"] = {f"{c.entry.source} / {c.entry.name} / {c.entry.dataset} / {c.entry.metric}":
                                {"published": c.entry.value, "ours": c.ours, "verdict": c.verdict} for c in comparisons}
    (reports_dir / "metrics.json").write_text(json.dumps(all_metrics, indent=1, sort_keys=True))
    from pipeline.studies.summary import index_page

    (reports_dir / "index.md").write_text(index_page(verdicts, comparisons, not_run, budgets, settled))
    written["index"] = reports_dir / "index.md"
    from pipeline.reporting import html_report

    pages = {"summary": written["index"], "published": written["published"],
             **{n: w for n, w in written.items() if n not in ("index", "published")}}
    written["html"] = html_report.write(reports_dir, pages, reports_dir / "report.html", inline=False)
    written["standalone"] = html_report.write(reports_dir, pages, reports_dir / "report-standalone.html")
    return written


def orderings(verdicts: dict[str, Verdict]) -> list[str]:
    """What a smaller or different run can still check of the published numbers: the ordering
    AAE > GMMN+AE > GAN of the Parzen log-likelihood (340, 282, 225 on MNIST), as the `parzen` study's
    verdict judges it. Here, above both, not in published.py: the studies judge by the published
    numbers (modes2d, features), so those cannot ask a study in return."""
    if "parzen" not in verdicts:  # no parzen trials in this report
        return []
    verdict = verdicts["parzen"]
    return [f"Parzen ordering (published AAE > GMMN+AE > GAN on MNIST), `parzen` study: **{verdict.outcome}**; "
            + "; ".join(verdict.because)]


def verdict_lines(verdict) -> list[str]:
    """The verdict, then each sentence behind it as a bullet: the tests with their outcome in the
    conjunction ([holds], [does not hold], [inconclusive]), effect, 95% interval and p-value."""
    return [f"**Verdict.** **{verdict.outcome}**", "", *[f"- {line}" for line in verdict.because], "",
            "*Each test: one-sided Welch t-test at 5% (a false positive in 5% of studies with no difference), "
            "effect in the claimed direction with its 95% interval, and the effect it could have detected with 80% "
            "power; the verdict holds when every test does, does not hold when one is reversed at 5% / k (k tests), "
            "and is inconclusive otherwise (pipeline/studies/stats.py).*", ""]


def _budgets(results: list[TrialResult]) -> dict[str, int]:
    """dataset -> the most steps a trial on it trained for."""
    out: dict[str, int] = {}
    for r in results:
        out[r.trial.dataset] = max(out.get(r.trial.dataset, 0), r.trial.train.steps)
    return out


def budget_caveat(table: Table) -> list[str]:
    """A line under the verdict when rows were still improving: their numbers are lower bounds."""
    rows = list(table.rows.values())
    improving = [r for r in rows if r.improving]
    if not improving:
        return []
    return [f"**Budget.** {len(improving)} of {len(rows)} rows had seeds still improving on validation data at "
            "their last evaluation: their numbers are lower bounds of what the models reach, and a verdict that "
            "rests on them may change at a longer budget (the `paper` profile; the `reference` profile without its CPU cap).", ""]


def theory_report(study, summary: TheoryResults, verdict, theory_dir: Path, reports_dir: Path) -> Path:
    """reports/theory.md: the claim, the verdict, every identity with its measured error and tolerance."""
    fig_dir = reports_dir / "figures" / "theory"
    fig_dir.mkdir(parents=True, exist_ok=True)
    for png in sorted(theory_dir.glob("*.png")):
        shutil.copy(png, fig_dir / png.name)
    lines = ["# Study `theory`", "", f"**Claim.** {study.claim}", "", f"**Verdict.** {verdict.line()}", "",
             "The identities as exact experiments (pipeline/evaluation/theory.py), each against its tolerance in params.yaml.", "",
             "| identity | verdict | measured error | tolerance | detail |", "|---|---|---|---|---|"]
    for c in summary.checks:
        lines.append(f"| {c.identity} | {'holds' if c.holds else '**fails**'} | {c.measured_error:.3g} | "
                     f"{c.tolerance:g} | {c.detail} |")
    lines += ["", f"Run time: {summary.seconds:.0f} s.", "", "## Figures", ""]
    lines += [f"![{p.stem}](figures/theory/{p.name})" for p in sorted(fig_dir.glob("*.png"))]
    path = reports_dir / "theory.md"
    path.write_text("\n".join(lines) + "\n")
    return path
