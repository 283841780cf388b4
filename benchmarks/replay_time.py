"""A study whose every trial the store holds, trained and evaluated: replayed in the driver against
run through Ray Tune (pipeline/orchestration/sweep.py, PM2GAN_REPLAY_WITHOUT_RAY=0), the same
stage command on the same stored trials, alternately, in the same run. Needs the smoke checkout
(`make smoke` leaves `.smoke/pm2gan`, its every trial stored).

    python benchmarks/replay_time.py [--study generation] [--repeats 2]

Each run is `pm2gan study STUDY` as DVC runs it there, with its own Ray instance and MLflow
server (as a bare `dvc repro` stage has; `pm2gan dvc` shares one of each between stages). The
two ways must write the same results: every field of every trial but where it ran.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKOUT = ROOT / ".smoke" / "pm2gan"
REPLAY_ENV = "PM2GAN_REPLAY_WITHOUT_RAY"  # pipeline.orchestration.sweep.REPLAY_ENV, not imported: it imports torch


def run(study: str, replay: bool) -> tuple[float, list[dict]]:
    env = {**os.environ, REPLAY_ENV: "1" if replay else "0", "PYTHONPATH": str(ROOT),  # this project's code
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for shared in ("RAY_ADDRESS", "MLFLOW_TRACKING_URI"):
        env.pop(shared, None)
    started = time.monotonic()
    done = subprocess.run(["pm2gan", "study", study], cwd=CHECKOUT, env=env, capture_output=True, text=True)
    took = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"pm2gan study {study} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    said = "replayed here, without Ray" in done.stdout
    if said != replay:
        sys.exit(f"pm2gan study {study}: expected {'a replay' if replay else 'a Tune run'}, the output says otherwise:\n"
                 f"{done.stdout[-2000:]}")
    trials = json.loads((CHECKOUT / "results" / study / "trials.json").read_text())["trials"]
    for t in trials:
        t["provenance"].pop("ray_node", None)  # where it ran: the driver's host, or a Ray node
    return took, trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="generation", help="a trained study (generation has the most trials)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not (CHECKOUT / "results" / args.study).is_dir():
        parser.error(f"no {CHECKOUT}/results/{args.study}: run `make smoke` first")
    times: dict[str, list[float]] = {"replayed in the driver": [], "through Ray Tune": []}
    results = {}
    for _ in range(args.repeats):
        for name, replay in (("through Ray Tune", False), ("replayed in the driver", True)):
            took, results[name] = run(args.study, replay)
            times[name].append(took)
    same = results["replayed in the driver"] == results["through Ray Tune"]
    print(f"study {args.study}: {len(results['through Ray Tune'])} stored trials, `pm2gan study {args.study}` "
          f"on {os.cpu_count()} cores")
    for name, values in times.items():
        print(f"  {name}: {min(values):.1f} s (best of {len(values)}: {', '.join(f'{v:.1f}' for v in values)})")
    print(f"  saved: {min(times['through Ray Tune']) - min(times['replayed in the driver']):.1f} s a study; "
          f"the same results: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
