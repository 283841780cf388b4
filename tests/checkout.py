"""What the end-to-end, cluster and fault tests and the rerun benchmarks share: a scratch
checkout of the project (pipeline/orchestration/scratch.py) and readings of what a run did."""
from __future__ import annotations

import re
from pathlib import Path


from pipeline.orchestration.scratch import PROJECT as ROOT
from pipeline.orchestration.scratch import checkout_env as dvc_env
from pipeline.orchestration.scratch import make_checkout  # noqa: F401 - the tests import it from here


def _stages() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(every stage of dvc.yaml, the studies' stages)."""
    from pipeline.data import places
    from pipeline.data.datasets import DATASETS
    from pipeline.studies import STUDIES

    outside = sorted(d for d in DATASETS if places.from_outside(d))
    data = ("fetch", "evalnet", *(stage(d) for d in outside for stage in (places.fetch_stage, places.evalnet_stage)))
    return ("params", *data, *STUDIES, "report"), tuple(STUDIES)


STAGES, STUDY_STAGES = _stages()


def checkpointed_unfinished(storage: Path, sweep_glob: str) -> int:
    """Trials of the sweeps matching `sweep_glob` in Tune's storage with an intermediate checkpoint
    (its checkpoint.pt written) and no final one (which holds the trial's result.json): running
    trials that a resume can take up from their files (pipeline/orchestration/recovery.py)."""
    folders = [d for d in storage.glob(f"{sweep_glob}/*") if d.is_dir() and any(d.glob("checkpoint_*/checkpoint.pt"))]
    return sum(1 for d in folders if not any((c / "result.json").exists() for c in d.glob("checkpoint_*")))


def stages_run(output: str) -> set[str]:
    return {s for s in STAGES if f"Running stage '{s}'" in output}


# --------------------------------------------------------------------------- what a rerun does (tests, benchmarks)

WORK = re.compile(r"pm2gan: study (\w+): of its (\d+) trials, .*: trains (\d+), evaluates (\d+)")


def work_done(output: str) -> dict[str, tuple[int, int, int]]:
    """study -> (trials it asks for, trainings it runs, evaluations it runs), from the line each
    study prints before its sweep."""
    return {m.group(1): (int(m.group(2)), int(m.group(3)), int(m.group(4))) for m in WORK.finditer(output)}


def distinct_trainings(params: dict, studies: list[str], model: str | None = None) -> int:
    """How many different trainings `studies` ask for (of `model`'s trials only, if given)."""
    import json

    from pipeline.settings.config import parse
    from pipeline.settings.trials import expand
    from pipeline.trial.store import training_config

    cfg = parse(params)
    return len({json.dumps(training_config(t), sort_keys=True) for s in studies for t in expand(cfg, s)
                if model is None or t.model == model})


def edit_verdict(checkout: Path, study: str = "generation") -> None:
    """An edit to a study's verdict rule (its module): what a report-only change looks like to DVC."""
    rule = checkout / "pipeline" / "studies" / f"{study}.py"
    rule.write_text(rule.read_text() + "\n# an edit to the verdict rule's module\n")


NEW_METRIC = "code_abs_mean"


def add_metric(checkout: Path) -> None:
    """A metric registered after the models were trained (the registry is pipeline/evaluation/metrics.py)."""
    metrics = checkout / "pipeline" / "evaluation" / "metrics.py"
    metrics.write_text(metrics.read_text() + f"""

# a metric added after the models were trained: every trial is evaluated again, none trained
METRICS = METRICS + (Metric(("{NEW_METRIC}",), {{"{NEW_METRIC}": "mean absolute code value"}},
                            {{"{NEW_METRIC}": "none"}}, _always, lambda p: p.can("encode"),
                            lambda p: {{"{NEW_METRIC}": float(abs(p.codes).mean())}}),)
DESCRIPTIONS["{NEW_METRIC}"], BETTER["{NEW_METRIC}"] = "mean absolute code value", "none"
""")
