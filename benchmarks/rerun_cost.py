"""What a rerun costs: a cold `dvc repro` in a scratch checkout, then three edits, each followed
by `dvc repro`, with for each the stages DVC ran, the trials the studies asked for, the
trainings and evaluations actually run (each study prints them before its sweep), and the wall
time:

1. cold: every distinct training once (the trials the studies ask for, counted once each);
2. an edit to a verdict rule (pipeline/studies/generation.py): trains and evaluates nothing;
3. a new metric (pipeline/evaluation/metrics.py): evaluates every trial again, trains none;
4. `dvc exp run -S models.gan.defaults.lr=2e-3`: trains only the GAN trials (their config changed).

Each runs as `make repro` runs it, through `pm2gan dvc` (one Ray instance and one MLflow server
for all the stages of a run); `--per-stage` runs plain `dvc` instead, each study stage starting
its own.

    python benchmarks/rerun_cost.py            # the committed params.yaml (the default profile: about 100 min here)
    python benchmarks/rerun_cost.py --tiny     # the end-to-end tests' tiny profile (minutes)
    python benchmarks/rerun_cost.py --from-store DIR   # the edits only: the first run reads a trial store that a
                                                       # cold run of the same code filled (a linked copy: DIR is not written)
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.checkout import add_metric, distinct_trainings, dvc_env, edit_verdict, make_checkout, stages_run, work_done  # noqa: E402


PM2GAN = str(Path(sys.executable).parent / "pm2gan")


def run(checkout: Path, shared: bool, *args: str) -> tuple[float, str]:
    """`dvc ARGS` in the checkout, through `pm2gan dvc` when `shared` (what make repro runs)."""
    start = time.monotonic()
    command = [PM2GAN, "dvc", *args] if shared else ["dvc", *args]
    done = subprocess.run(command, cwd=checkout, env=dvc_env(checkout), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"dvc {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.monotonic() - start, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="the end-to-end tests' tiny profile")
    parser.add_argument("--from-store", type=Path, metavar="DIR",
                        help="start from this trial store (filled by a cold `dvc repro` of the same code and params): "
                             "the first run then trains nothing, and the edits are measured from there")
    parser.add_argument("--per-stage", action="store_true",
                        help="plain dvc: each study stage starts its own Ray and MLflow server (default: pm2gan dvc)")
    args = parser.parse_args()
    if args.from_store is not None and not (args.from_store / "trained").is_dir():
        parser.error(f"--from-store {args.from_store}: not a trial store (no trained/ in it)")
    if args.tiny:
        from tests.test_e2e import tiny_params

        with tempfile.TemporaryDirectory() as fashion:
            params = tiny_params(Path(fashion))
            measure(params, yaml.safe_dump(params, sort_keys=False), args.from_store, not args.per_stage)
    else:
        measure(yaml.safe_load((ROOT / "params.yaml").read_text()), None, args.from_store, not args.per_stage)


def seed_store(checkout: Path, store: Path) -> None:
    """The checkout's trial store as hard links to `store`'s files: entries are only ever added
    (renamed into place whole), never rewritten, so the runs here leave `store` as it was."""
    subprocess.run(["cp", "-al", str(store.resolve()), str(checkout / ".pm2gan" / "store")], check=True)


def link_fashion_mnist(checkout: Path) -> None:
    """The default profile reads Fashion-MNIST from .cache/fashion-mnist (what `make repro` unpacks)."""
    source = ROOT / ".cache" / "fashion-mnist"
    if source.exists():
        (checkout / ".cache").mkdir(exist_ok=True)
        os.symlink(source.resolve(), checkout / ".cache" / "fashion-mnist")


def measure(params: dict, params_text: str | None, from_store: Path | None = None, shared: bool = True) -> None:
    from pipeline.studies import STUDIES

    studies = [s for s in STUDIES if s in params["studies"] and STUDIES[s].kind != "analytic"]
    print(f"distinct trainings the studies ask for: {distinct_trainings(params, studies)}; each run through "
          f"{'pm2gan dvc (one Ray and one MLflow server per run)' if shared else 'plain dvc (each stage its own)'}",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        checkout = make_checkout(Path(tmp) / "pm2gan", params_text)
        link_fashion_mnist(checkout)
        if from_store is not None:
            (checkout / ".pm2gan").mkdir()
            seed_store(checkout, from_store)
        first = "dvc repro, store filled" if from_store is not None else "cold dvc repro"
        steps = [(first, lambda: None, ("repro",)),
                 ("verdict rule edited", lambda: edit_verdict(checkout), ("repro",)),
                 ("metric added", lambda: add_metric(checkout), ("repro",)),
                 ("-S models.gan.defaults.lr=2e-3", lambda: None, ("exp", "run", "-S", "models.gan.defaults.lr=2e-3"))]
        print(f"{'run':32} {'wall':>8} {'asked':>6} {'trained':>8} {'evaluated':>10}  stages", flush=True)
        for name, edit, command in steps:
            edit()
            wall, output = run(checkout, shared, *command)
            work = work_done(output).values()
            print(f"{name:32} {wall:7.0f}s {sum(w[0] for w in work):6d} {sum(w[1] for w in work):8d} "
                  f"{sum(w[2] for w in work):10d}  {', '.join(sorted(stages_run(output))) or '-'}", flush=True)


if __name__ == "__main__":
    main()
