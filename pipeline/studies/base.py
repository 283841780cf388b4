"""What every study is: a claim from the talk, the trials that test it (params.yaml's
`studies.<name>`: models, datasets, factors), the columns that show it, the rule that turns
the numbers into a verdict, and the figures. One module per study declares all of that.

Verdict rules compare rows with one procedure (pipeline/studies/stats.py): Welch's one-sided
t-test at a stated 5% false-positive rate, each comparison with its effect, 95% interval and the
effect it could have detected; a verdict is *holds*, *does not hold* (only where an effect is
reversed beyond chance) or *inconclusive*. Rows are compared with the trivial baselines a
study computes without training (noise, PCA, random projections: pipeline/evaluation/baselines.py).
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from pipeline import LAYERS

from . import stats

Outcome = Literal["holds", "does not hold", "inconclusive"]
OUTCOMES: tuple[str, ...] = ("holds", "does not hold", "inconclusive")


@dataclasses.dataclass
class Verdict:
    outcome: Outcome
    because: list[str]  # the numbers that decide it, one sentence each

    def line(self) -> str:
        return f"**{self.outcome}** — " + "; ".join(self.because)

    @classmethod
    def of(cls, parts: list[stats.Part], summary: list[str] | None = None, notes: list[str] | None = None) -> Verdict:
        """The conjunction of tested parts (stats.conclude): its `summary` sentences (each
        sub-claim's tally), each part's sentence with its outcome, then `notes` (numbers shown,
        not tested)."""
        return cls(stats.conclude(parts), (summary or []) + stats.describe(parts) + (notes or []))

    def summary(self) -> list[str]:
        """The sentences before the first test: what the index shows (the first sentence when
        the verdict starts with a test)."""
        lines = []
        for line in self.because:
            if line.startswith("["):
                break
            lines.append(line)
        return lines or self.because[:1]


# What a verdict rule reads, while `reading()` records it: (dataset, model, variant, baseline?, metric).
Read = tuple[str, str, str, bool, str]
_READS: contextvars.ContextVar[set[Read] | None] = contextvars.ContextVar("reads", default=None)


@contextlib.contextmanager
def reading() -> Iterator[set[Read]]:
    """Records every metric of every row that is read inside the block (`Row.get`): which numbers
    a verdict rule decided on, taken from the rule itself rather than declared beside it."""
    reads: set[Read] = set()
    token = _READS.set(reads)
    try:
        yield reads
    finally:
        _READS.reset(token)


@dataclasses.dataclass
class Row:
    """One row of a study's table: a model (with its factor values) on a dataset, over seeds; or a
    baseline computed without training (`baseline`: noise, PCA), over its draws, `fixed` when it
    is one deterministic number."""

    dataset: str
    model: str
    variant: str  # 'lam=0.3' or 'default'
    seeds: int
    diverged: int
    improving: int  # completed seeds whose validation metrics were still improving at the end
    values: dict[str, list[float]]  # 'recon_mse', 'prior/modes' -> one finite value per completed seed
    steps: int = 0  # training steps of its trials (the fewest, if they differ)
    code_dim: int = 0  # units of the family's code on this dataset
    undefined: dict[str, int] = dataclasses.field(default_factory=dict)  # metric -> completed seeds with NaN/inf
    reported: tuple[str, ...] = ()  # every metric its trials report, with a value or n/a
    baseline: bool = False
    fixed: bool = False

    def code_note(self) -> str:
        """'' for a live code; else how much of it is dead. A collapsed code (every unit dead in
        every seed) makes the row's code and sample metrics no result at all."""
        dead = self.get("dead_units")
        if not dead or not self.code_dim or max(dead) == 0:
            return ""
        if min(dead) >= self.code_dim:
            return f"all {self.code_dim} code units dead in every run: a collapsed code"
        return f"{np.mean(dead):.1f} of {self.code_dim} code units dead on average"

    def get(self, metric: str) -> list[float]:
        reads = _READS.get()
        if reads is not None:
            reads.add((self.dataset, self.model, self.variant, self.baseline, metric))
        return self.values.get(metric, [])

    def mean(self, metric: str) -> float:
        v = self.get(metric)
        return float(np.mean(v)) if v else math.nan

    def std(self, metric: str) -> float:
        """The sample standard deviation over seeds (ddof 1); 0 for a fixed baseline, nan below two values."""
        v = self.get(metric)
        if self.fixed and v:
            return 0.0
        return float(np.std(v, ddof=1)) if len(v) > 1 else math.nan

    def label(self) -> str:
        return self.model + ("" if self.variant == "default" else f"[{self.variant}]")

    def fmt(self, metric: str, digits: int = 3) -> str:
        """'mean ± sd', with '(n=2 of 3)' when some completed seeds gave no finite value."""
        if self.fixed:
            return f"{self.mean(metric):.{digits}f}"
        missing = self.undefined.get(metric, 0)
        std = self.std(metric)
        text = f"{self.mean(metric):.{digits}f}" + (f" ± {std:.{digits}f}" if math.isfinite(std) else "")
        return text + (f" (n={len(self.get(metric))} of {len(self.get(metric)) + missing})" if missing else "")


# Trial metric keys a table shows, and under which name: every test-split metric ('eval/…'),
# then speed and size.
EXTRA = {"perf/steps_per_s": "steps_per_s", "model/parameters": "parameters", "model/flops_per_step": "flops_per_step"}


def table_key(key: str) -> str | None:
    """'eval/recon_mse' -> 'recon_mse', 'eval/prior/modes' -> 'prior/modes', perf -> short; the
    validation split and bookkeeping stay out of the tables."""
    if key.startswith("eval/"):
        return key[len("eval/"):]
    return EXTRA.get(key)


class Table:
    """A study's results as rows, keyed by (dataset, model, variant): the one aggregation of
    trials that the verdicts, the report's tables and figures and metrics.json all read. The
    study's baselines (results' `references`: dataset -> name -> metric -> a value, or one value
    per draw) are rows too, apart (`baseline`)."""

    def __init__(self, results: list, references: dict[str, dict[str, dict[str, Any]]] | None = None):
        groups: dict[tuple[str, str, str], list] = {}
        for r in results:
            groups.setdefault((r.trial.dataset, r.trial.model, r.variant), []).append(r)
        self.rows: dict[tuple[str, str, str], Row] = {}
        for (dataset, model, variant), group in sorted(groups.items()):
            done = [r for r in group if r.outcome == "completed"]
            values: dict[str, list[float]] = {}
            undefined: dict[str, int] = {}
            reported = dict.fromkeys(name for r in group for k in r.metrics if (name := table_key(k)))
            for r in done:
                for key, value in r.metrics.items():
                    name = table_key(key)
                    if name is None or value is None:
                        continue
                    if math.isfinite(value):
                        values.setdefault(name, []).append(float(value))
                    else:
                        undefined[name] = undefined.get(name, 0) + 1
            self.rows[(dataset, model, variant)] = Row(
                dataset, model, variant, len(group), len(group) - len(done), sum(bool(r.improving) for r in done),
                values, min(r.trial.train.steps for r in group), group[0].trial.code_dim, undefined, tuple(reported))
        self.references = references or {}  # as stored in the results
        self.baselines: dict[tuple[str, str], Row] = {}
        for dataset, named in self.references.items():
            for name, metrics in named.items():
                fixed = all(not isinstance(v, list) for v in metrics.values())
                values = {m: ([float(x) for x in v] if isinstance(v, list) else [float(v)]) for m, v in metrics.items()}
                draws = max((len(v) for v in values.values()), default=0)
                self.baselines[(dataset, name)] = Row(dataset, name, "default", draws, 0, 0, values,
                                                      reported=tuple(values), baseline=True, fixed=fixed)
        self.provenance: dict[str, Any] = {}  # the sweep's profile, cap and uncapped budgets (results' provenance)

    def row(self, dataset: str, model: str, variant: str = "default") -> Row | None:
        return self.rows.get((dataset, model, variant))

    def baseline(self, dataset: str, name: str) -> Row | None:
        return self.baselines.get((dataset, name))

    def datasets(self) -> list[str]:
        return sorted({d for d, _, _ in self.rows})

    def variants(self, model: str, dataset: str | None = None) -> list[str]:
        return sorted({v for d, m, v in self.rows if m == model and (dataset is None or d == dataset)})


def compare(a: Row | None, b: Row | None, metric: str, better: str, metric_b: str | None = None) -> stats.Comparison:
    """a better than b on `metric` by the studies' one test (stats.compare)."""
    return stats.compare(a, b, metric, better, metric_b)


def code_dims(trials: list) -> dict[str, int]:
    """dataset -> the code size of its trials (every family's on a dataset is the same)."""
    return {t.dataset: t.code_dim for t in trials}


def trivial_generators(dataset: str, table: Table) -> list[Row]:
    """The baselines a generator must beat on `dataset` (pipeline/baselines.generator_baselines):
    the noise rows on a 2-D toy, the Gaussian fit to the pixels on images; not the real-image floor."""
    return [b for (d, name), b in sorted(table.baselines.items())
            if d == dataset and (name.startswith("uniform") or name == "Gaussian fit to the pixels")]


def generates(row: Row | None, sampler: str, dataset: str, table: Table) -> list[stats.Part]:
    """Parts: `row`'s samples from `sampler` beat each trivial generator of the dataset, on the
    high-quality share of a toy, the Fréchet distance of images (one-sided Welch at 5%)."""
    if row is None:
        return []
    bases = trivial_generators(dataset, table)
    if not bases:  # a claim with nothing to beat is not tested: it cannot hold
        return [stats.Part(f"{dataset}: {row.label()}: no trivial generator was computed to compare with", 1.0, 1.0)]
    parts = []
    for base in bases:
        metric, better = (("high_quality", "higher") if base.get("prior/high_quality") else ("frechet", "lower"))
        parts.append(compare(row, base, f"{sampler}/{metric}", better, f"prior/{metric}").part())
    return parts


def all_still_improving(*rows: Row | None) -> bool:
    """Every completed seed of every given row was still improving at the end of training."""
    present = [r for r in rows if r is not None]
    return bool(present) and all(r.improving == r.seeds - r.diverged and r.improving > 0 for r in present)


# How a tuning grid's point is chosen on validation data when a profile tunes a family: the
# first of these that the trials report on the validation split (lower or higher is better).
SELECTION = (("recon_mse", "lower"), ("frechet", "lower"), ("sample_loglik", "higher"))


def _selection_score(results: list) -> tuple[str, float] | None:
    for name, better in SELECTION:
        values = []
        for r in results:
            key = next((k for k in r.metrics if k.startswith("val/") and k.endswith("/" + name)), None)
            if key is not None and r.metrics[key] is not None and math.isfinite(r.metrics[key]):
                values.append(r.metrics[key])
        if values:
            mean = float(np.mean(values))
            return name, (mean if better == "lower" else -mean)
    return None


def select_on_validation(results: list) -> list:
    """Where a profile tunes a family (`models.<f>.grid.<profile>`), keep, for each study row
    (dataset, model, factor values), the trials of the tuning point with the best validation
    score (SELECTION), never a test-split number. Rows with one tuning point pass unchanged."""
    groups: dict[tuple, dict[str, list]] = {}
    for r in results:
        groups.setdefault((r.trial.dataset, r.trial.model, r.variant), {}).setdefault(r.trial.tuned_label, []).append(r)
    kept = []
    for points in groups.values():
        if len(points) == 1:
            kept += next(iter(points.values()))
            continue
        scored = {label: _selection_score(trials) for label, trials in points.items()}
        best = min((label for label in scored if scored[label]), key=lambda label: scored[label][1], default=None)
        kept += points[best] if best is not None else [t for trials in points.values() for t in trials]
    return kept


PIPELINE_ROOT = Path(__file__).resolve().parent.parent.parent


# The layers a study's stage runs besides the studies' package: all of them (pipeline/__init__.py).
STAGE_LAYERS = tuple(layer for layer in LAYERS if layer != "studies")
# Of the studies' own package, what every study reads; each study adds its own module.
STUDIES_SHARED = ("__init__", "base", "stats", "published")


def top_modules() -> list[str]:
    """pipeline's top-level modules (the CLI), as paths from the project's root, wherever it runs."""
    return [p.relative_to(PIPELINE_ROOT).as_posix() for p in sorted((PIPELINE_ROOT / "pipeline").glob("*.py"))]


def shared_sources() -> list[str]:
    """The code every study stage runs: pipeline's top-level modules (the CLI), every layer's
    package as a folder, and the study registry's shared modules; not the other studies'
    modules (a module added at the top level makes dvc.yaml stale until `pm2gan stages` lists it)."""
    top = [PIPELINE_ROOT / p for p in top_modules()]
    studies = [PIPELINE_ROOT / f"pipeline/studies/{name}.py" for name in STUDIES_SHARED]
    layers = [PIPELINE_ROOT / "pipeline" / layer for layer in STAGE_LAYERS]
    return [p.relative_to(PIPELINE_ROOT).as_posix() for p in (*top, *layers, *studies)]


class Study:
    """Base of every study. Subclasses set the class attributes and `verdict`."""

    name: ClassVar[str]
    claim: ClassVar[str]  # the talk's claim, in its words (docs/talk.md)
    columns: ClassVar[tuple[str, ...]]  # the metrics its table shows, in order (registry names)
    kind: ClassVar[str] = "sweep"  # a Ray Tune sweep of trials; "analytic" for one that trains no family

    def references(self, cfg, datasets: dict, trials: list, classifiers: dict) -> dict[str, dict[str, dict[str, Any]]]:
        """Rows computed without training, beside the trials (trivial baselines, FastICA on `ica`,
        raw pixels): dataset -> row name -> metric -> a value, or one value per draw. None by
        default. `trials` are the study's trial configs; `classifiers` the evaluation
        classifiers (dataset -> state) that score samples."""
        return {}

    def verdict(self, table: Table) -> Verdict:
        raise NotImplementedError

    def figures(self, table: Table, results: list, out_dir: Path, data_dir: Path) -> list[Path]:
        """Figures beyond the sample grids and curves every sweep gets (pipeline/reporting/report.py)."""
        return []

    # -- what the stage reads (dvc.yaml is generated from this: `pm2gan stages`) ---------
    def stage(self, spec: Any, inputs: list[str]) -> dict[str, Any]:
        """Its dvc.yaml stage; `inputs`: the data stages' outputs it reads (orchestration/stages.py)."""
        own = Path(type(self).__module__.replace(".", "/") + ".py").as_posix()
        return {
            "cmd": f"pm2gan study {self.name}",
            # The pipeline's shared code and this study's own module, not the other studies': an
            # edit to one study's verdict or figures reruns that study (which trains and evaluates
            # nothing it did before: pipeline/trial/store.py), not all of them.
            "deps": [*inputs, "models", *shared_sources(), own],
            # a study pinned to a profile (`studies.<name>.profile`) reads that profile, not the top-level one
            "params": [*([f"profiles.{spec.profile}"] if spec.profile else ["profile", "profiles.${profile}"]),
                       "datasets", f"studies.{self.name}",
                       *[f"models.{m}" for m in spec.models], "resources", "convergence"],
            "outs": [f"results/{self.name}"],
        }
