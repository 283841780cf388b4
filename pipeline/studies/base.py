"""What every study is: a claim from the talk, the trials that test it (params.yaml's
`studies.<name>`: models, datasets, factors), the columns that show it, the rule that turns
the numbers into a verdict, and the figures. One module per study declares all of that.

Verdict rules compare rows with one test, `clearly`: A beats B when the difference of their
means over seeds exceeds the sum of their standard deviations. With three seeds that is a
conservative test; a difference it does not call clear is reported as such, not as a win.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

Outcome = Literal["holds", "does not hold", "mixed", "not testable at this budget"]


@dataclasses.dataclass
class Verdict:
    outcome: Outcome
    because: list[str]  # the numbers that decide it, one sentence each

    def line(self) -> str:
        return f"**{self.outcome}** — " + "; ".join(self.because)


@dataclasses.dataclass
class Row:
    """One row of a study's table: a model (with its factor values) on a dataset, over seeds."""

    dataset: str
    model: str
    variant: str  # 'lam=0.3' or 'default'
    seeds: int
    diverged: int
    improving: int  # completed seeds whose validation metrics were still improving at the end
    values: dict[str, list[float]]  # 'recon_mse', 'prior/modes' -> one value per completed seed
    steps: int = 0  # training steps of its trials (the fewest, if they differ)
    code_dim: int = 0  # units of the family's code on this dataset

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
        return self.values.get(metric, [])

    def mean(self, metric: str) -> float:
        v = self.get(metric)
        return float(np.mean(v)) if v else math.nan

    def std(self, metric: str) -> float:
        v = self.get(metric)
        return float(np.std(v)) if v else math.nan

    def label(self) -> str:
        return self.model + ("" if self.variant == "default" else f"[{self.variant}]")

    def fmt(self, metric: str, digits: int = 3) -> str:
        return f"{self.mean(metric):.{digits}f} ± {self.std(metric):.{digits}f}"


class Table:
    """A study's results as rows, keyed by (dataset, model, variant)."""

    def __init__(self, results: list, references: dict[str, dict[str, dict[str, float]]] | None = None):
        groups: dict[tuple[str, str, str], list] = {}
        for r in results:
            groups.setdefault((r.trial.dataset, r.trial.model, r.variant), []).append(r)
        self.rows: dict[tuple[str, str, str], Row] = {}
        for (dataset, model, variant), group in sorted(groups.items()):
            done = [r for r in group if r.outcome == "completed"]
            values: dict[str, list[float]] = {}
            for r in done:
                for key, value in r.metrics.items():
                    if key.startswith("eval/") and value is not None and math.isfinite(value):
                        values.setdefault(key[len("eval/"):], []).append(float(value))
                    elif key == "perf/steps_per_s" and value is not None:
                        values.setdefault("steps_per_s", []).append(float(value))
            self.rows[(dataset, model, variant)] = Row(dataset, model, variant, len(group), len(group) - len(done),
                                                       sum(bool(r.improving) for r in done), values,
                                                       min(r.trial.train.steps for r in group), group[0].trial.code_dim)
        self.references = references or {}  # dataset -> row name -> metric -> value (e.g. FastICA)
        self.provenance: dict[str, Any] = {}  # the sweep's profile, cap and uncapped budgets (results' provenance)

    def row(self, dataset: str, model: str, variant: str = "default") -> Row | None:
        return self.rows.get((dataset, model, variant))

    def datasets(self) -> list[str]:
        return sorted({d for d, _, _ in self.rows})

    def variants(self, model: str, dataset: str | None = None) -> list[str]:
        return sorted({v for d, m, v in self.rows if m == model and (dataset is None or d == dataset)})


def clearly(a: Row | None, b: Row | None, metric: str, better: str) -> bool:
    """A's metric beats B's beyond the spread over seeds: |mean difference| > std(A) + std(B),
    in the `better` direction ('lower' or 'higher'). False when either has no value."""
    if a is None or b is None or not a.get(metric) or not b.get(metric):
        return False
    diff = a.mean(metric) - b.mean(metric)
    margin = a.std(metric) + b.std(metric)
    return diff < -margin if better == "lower" else diff > margin


def compare(a: Row | None, b: Row | None, metric: str, better: str) -> str:
    """'lower', 'higher' or 'within the spread' for a's metric against b's, with both values."""
    if a is None or b is None or not a.get(metric) or not b.get(metric):
        return f"{metric}: n/a"
    opposite = "higher" if better == "lower" else "lower"
    if clearly(a, b, metric, better):
        word = "clearly " + better
    elif clearly(a, b, metric, opposite):
        word = "clearly " + opposite
    else:
        word = "within the spread of"
    return f"{a.label()} {a.fmt(metric)} {word} {'than' if word.startswith('clearly') else ''} {b.label()} {b.fmt(metric)}".replace("  ", " ")


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


def shared_sources() -> list[str]:
    """The code every study stage runs: the pipeline's modules and the study registry's base,
    each listed (a module added later makes dvc.yaml stale until `pm2gan stages` lists it)."""
    shared = sorted((PIPELINE_ROOT / "pipeline").glob("*.py")) + [PIPELINE_ROOT / "pipeline/studies/__init__.py",
                                                                    PIPELINE_ROOT / "pipeline/studies/base.py"]
    return [p.relative_to(PIPELINE_ROOT).as_posix() for p in shared]


class Study:
    """Base of every study. Subclasses set the class attributes and `verdict`."""

    name: ClassVar[str]
    claim: ClassVar[str]  # the talk's claim, in its words (../shared/talk.md)
    columns: ClassVar[tuple[str, ...]]  # the metrics its table shows, in order (registry names)
    kind: ClassVar[str] = "sweep"  # a Ray Tune sweep of trials; "analytic" for one that trains no family

    def references(self, cfg, datasets: dict) -> dict[str, dict[str, dict[str, float]]]:
        """Rows computed without training, beside the trials (FastICA on `ica`, raw pixels):
        dataset -> row name -> metric -> value. None by default."""
        return {}

    def verdict(self, table: Table) -> Verdict:
        raise NotImplementedError

    def figures(self, table: Table, results: list, out_dir: Path, data_dir: Path) -> list[Path]:
        """Figures beyond the sample grids and curves every sweep gets (pipeline/report.py)."""
        return []

    # -- what the stage reads (dvc.yaml is generated from this: `pm2gan stages`) ---------
    def stage(self, spec: Any) -> dict[str, Any]:
        own = Path(type(self).__module__.replace(".", "/") + ".py").as_posix()
        return {
            "cmd": f"pm2gan study {self.name}",
            # The pipeline's shared code and this study's own module, not the other studies': an
            # edit to one study's verdict or figures reruns that study (which trains and evaluates
            # nothing it did before: pipeline/store.py), not all of them.
            "deps": ["data", "evalnets", "models", *shared_sources(), own],
            # a study pinned to a profile (`studies.<name>.profile`) reads that profile, not the top-level one
            "params": [*([f"profiles.{spec.profile}"] if spec.profile else ["profile", "profiles.${profile}"]),
                       "datasets", f"studies.{self.name}",
                       *[f"models.{m}" for m in spec.models], "resources"],
            "outs": [f"results/{self.name}"],
        }
