"""`python -m pipeline.stage_server SOCKET`: the stage server that `pm2gan dvc` starts
(pipeline/orchestration/stage_server.py). It imports, once, what the stages' `pm2gan` commands
import, then forks a child that runs `pm2gan` for each stage. It sits above the CLI, whose
`main` its children run."""
from __future__ import annotations

import importlib
import sys

from pipeline.orchestration import stage_server

# What the stage commands import, the ones inside functions included (a study's driver scores
# baselines with scikit-learn, Fréchet distances with torchmetrics; Adam loads torch._dynamo).
PRELOAD = ("pipeline.cli", "pipeline.orchestration.sweep", "pipeline.orchestration.theory_run",
           "pipeline.reporting.report", "pipeline.evaluation.evalnet", "pipeline.orchestration.shared_services",
           "ray", "ray.tune", "mlflow", "torch._dynamo", "torchvision", "torchmetrics.image.fid",
           "sklearn.decomposition", "sklearn.cluster")


def main(path: str) -> int:
    listener = stage_server.listen(path)  # first: a stage that starts meanwhile waits in its queue
    for module in PRELOAD:
        importlib.import_module(module)
    from pipeline import cli

    served = stage_server.serve(listener, cli.main)
    print(f"pm2gan: the stage server ran {served} stage command{'s' * (served != 1)}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
