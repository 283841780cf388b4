"""A study's comparison in MLflow: its table and side-by-side figures on the sweep's parent run,
and the saved view of its experiment (the runs table's columns)."""
from __future__ import annotations

from pathlib import Path

from pipeline.data import datasets as datamod
from pipeline.reporting import report
from pipeline.studies.base import select_on_validation
from pipeline.tracking import mlflow_api as tracking
from pipeline.trial.results import TrialResult


def log_comparison(uri: str, parent_id: str, study: str, claim: str, results: list[TrialResult], references: dict,
                    columns: tuple[str, ...] | None) -> None:
    """The sweep's parent run holds the comparison: the study's table, and the report's figures
    that set the models side by side (samples, the players' losses, metrics against a factor)."""
    import tempfile

    selected = select_on_validation(results)
    with tempfile.TemporaryDirectory() as tmp:
        rows = report.study_figures(study, selected, Path(tmp), datamod.DATA_DIR, columns, every_curve=False)
        side_by_side = {p.name: p for _, paths in rows for p in paths}  # each trial's own curves are in its run
        tracking.log_files(uri, parent_id, side_by_side, "figures")
    tracking.log_files(uri, parent_id, {"comparison.md": report.study_table(claim, selected, references, columns)})


def view_columns(results: list[TrialResult], columns: tuple[str, ...]) -> list[str]:
    """The runs-table columns of a study's saved MLflow view: the dataset, the factors its rows
    vary, and its table's metrics under the keys the trials logged them (`eval/<name>`,
    `eval/<sampler>/<name>`), in the table's order."""
    factors = sorted({k for r in results for k in {**r.trial.variant, **r.trial.tuned}})
    logged = {k for r in results for k, v in r.metrics.items() if v is not None and k.startswith("eval/")}
    order = {name: i for i, name in enumerate(columns)}
    metrics = sorted((k for k in logged if k.rsplit("/", 1)[-1] in order), key=lambda k: (order[k.rsplit("/", 1)[-1]], k))
    return ["attributes.`Dataset`", *(f"params.`hparams.{k}`" for k in factors), *(f"metrics.`{k}`" for k in metrics)]
