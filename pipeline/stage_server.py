"""`python -m pipeline.stage_server SOCKET`: the stage server that `pm2gan dvc` starts
(pipeline/orchestration/stage_server.py). It imports, once, what the stages' `pm2gan` commands
and their trials import, then forks a child that runs `pm2gan` for each stage, and one that runs
Ray's worker script for each worker the local Ray starts (pipeline/ray_worker.py). It sits above
the CLI, whose `main` its children run."""
from __future__ import annotations

import importlib
import sys

from pipeline import ray_worker
from pipeline.orchestration import stage_server

# What the stage commands and the trials import, the ones inside functions included (a study's
# driver scores baselines with scikit-learn, Fréchet distances with torchmetrics; Adam loads
# torch._dynamo). Not Ray: its C++ core reads some of its settings from the environment once, as
# it loads (a worker's job id among them), so a Ray worker forked from here must load it itself.
PRELOAD = ("pipeline.cli", "pipeline.orchestration.sweep", "pipeline.orchestration.theory_run",
           "pipeline.orchestration.trainable", "pipeline.orchestration.recovery", "pipeline.reporting.report",
           "pipeline.evaluation.evalnet", "pipeline.orchestration.shared_services", "mlflow", "torch._dynamo",
           "torchvision", "torchmetrics.image.fid", "sklearn.decomposition", "sklearn.cluster")


def main(path: str) -> int:
    listener = stage_server.listen(path)  # first: a stage that starts meanwhile waits in its queue
    for module in PRELOAD:
        importlib.import_module(module)
    if "ray" in sys.modules:  # a worker forked from here would fail in Ray's core: see PRELOAD
        raise RuntimeError(f"the stage server imported Ray (through one of {PRELOAD})")
    served = stage_server.serve(listener, run)
    workers = served[ray_worker.REQUEST]
    commands = sum(served.values()) - workers
    print(f"pm2gan: the stage server ran {commands} stage command{'s' * (commands != 1)} and forked {workers} "
          f"Ray worker{'s' * (workers != 1)}", file=sys.stderr, flush=True)
    return 0


def run(argv: list[str]) -> int | None:
    """In a forked child: a stage's `pm2gan ARGV`, or Ray's worker (pipeline/ray_worker.py)."""
    if argv[:1] == [ray_worker.REQUEST]:
        return ray_worker.become(argv[1:])
    from pipeline import cli

    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
