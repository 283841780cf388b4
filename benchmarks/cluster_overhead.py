"""What going multi-node costs: one study's trials per minute on one Ray node against two
nodes of the same total cores, and the start-up time of a cluster job.

In the same run, on fresh clones of the project with the same smoke settings:
  local     `dvc repro STUDY` on this machine, Ray started by the study itself (no job)
  1 node    `pm2gan submit STUDY` to a one-node cluster (head with 2 CPUs)
  2 nodes   `pm2gan submit STUDY` to a two-node cluster (head 1 CPU + one node 1 CPU)
Each cluster is real Ray processes on this machine (tests/cluster.py), token auth on, with its
own MLflow server, DVC remote and Tune storage, so nothing is reused between the three.

Figures: sweep seconds (Tune's clock from the sweep's start to its last trial) and trials per
minute over the sweep; for the jobs, start-up (`submit` called -> the job's entrypoint prints
its first line: packaging, upload, runtime env on the head) and the whole submit, restore
included.

    python benchmarks/cluster_overhead.py [--study factorial] [--steps 3000]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.checkout import dvc_env, make_checkout  # noqa: E402
from tests.cluster import LocalCluster  # noqa: E402
from tests.test_e2e import longer, tiny_params  # noqa: E402

PROGRESS = re.compile(r"^\[(\d+)/(\d+)\s+(\d+)s[,\]]")  # '[5/12   62s, ~1m27s left] ...' 


def params_for(root: Path, study: str, steps: int) -> dict:
    params = tiny_params(root / "fashion")
    params = longer(params, steps=steps, checkpoint_every=0)
    return params


def clone(root: Path, study: str, steps: int) -> Path:
    return make_checkout(root / "pm2gan", yaml.safe_dump(params_for(root, study, steps), sort_keys=False))


def run_timed(cmd: list[str], cwd: Path, env: dict) -> tuple[str, float, float | None]:
    """(output, seconds in all, seconds until the job's entrypoint printed its first line)"""
    start = time.monotonic()
    first = None
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if first is None and line.startswith("pm2gan job:"):
            first = time.monotonic() - start
    if proc.wait() != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{''.join(lines)[-4000:]}")
    return "".join(lines), time.monotonic() - start, first


def sweep_figures(output: str) -> tuple[int, float]:
    """(trials, sweep seconds) from the progress lines: Tune's elapsed time at the last trial."""
    done = [PROGRESS.match(line) for line in output.splitlines()]
    done = [m for m in done if m]
    if not done:
        raise SystemExit("no progress lines in the output")
    return int(done[-1].group(2)), float(done[-1].group(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", default="factorial")
    parser.add_argument("--steps", type=int, default=3000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="pm2gan-bench-") as tmp:
        tmp = Path(tmp)
        repo = clone(tmp / "local", args.study, args.steps)
        subprocess.run(["dvc", "repro", "evalnet"], cwd=repo, env=dvc_env(), check=True, capture_output=True)
        out, total, _ = run_timed(["dvc", "repro", args.study], repo, dvc_env())
        rows.append(("local dvc repro (2 CPUs)", *sweep_figures(out), None, total))
        for label, head, workers in (("1 node x 2 CPUs", 2, []), ("2 nodes x 1 CPU", 1, [1])):
            root = tmp / label.replace(" ", "")
            with LocalCluster(head_cpus=head, workers=workers, mlflow_store=root / "mlruns") as c:
                repo = clone(root, args.study, args.steps)
                subprocess.run(["dvc", "remote", "add", "--local", "-d", "shared", str(root / "remote")], cwd=repo,
                               env=dvc_env(), check=True, capture_output=True)
                out, total, first = run_timed(
                    ["pm2gan", "submit", args.study, "--address", c.dashboard, "--tracking-uri", c.tracking_uri,
                     "--storage", str(root / "storage")], repo, c.env())
                rows.append((f"job, {label}", *sweep_figures(out), first, total))
    print(f"study {args.study}, tiny profile, {args.steps} steps per trial, 1 CPU per trial, this machine's 2 cores")
    print(f"{'':28} {'trials':>6} {'sweep s':>8} {'trials/min':>10} {'start-up s':>10} {'all s':>7}")
    for label, trials, sweep, first, total in rows:
        start = f"{first:10.1f}" if first is not None else f"{'-':>10}"
        print(f"{label:28} {trials:6d} {sweep:8.0f} {60 * trials / sweep:10.1f} {start} {total:7.0f}")
    print("start-up: `pm2gan submit` called -> the job's entrypoint on the head prints its first line; "
          "all: the whole submit (fetch, evalnet, the sweep, dvc push, and the restore here)")


if __name__ == "__main__":
    main()
