"""The smoke run (`pm2gan smoke`: every stage of dvc.yaml through `pm2gan dvc repro`) with its
stages and its Ray workers forked from the stage server against each in a process of its own
(PM2GAN_STAGE_SERVER=0), alternately, in the same run: wall time, the whole run's and each
stage's. Both ways must write the same report numbers.

    python benchmarks/stage_server.py [--repeats 2]

Each run remakes the scratch checkout `.smoke/pm2gan` with an empty trial store, so every run
trains and evaluates every trial. Run it with nothing else running: it times the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVER_ENV = "PM2GAN_STAGE_SERVER"  # pipeline.orchestration.stage_server.SERVER_ENV
STAGE = re.compile(r"Running stage '([\w@.-]+)'")
TIMED = ("steps_per_s",)  # numbers that measure the machine, not the results


def smoke(served: bool) -> tuple[float, dict[str, float], dict]:
    """One `pm2gan smoke`: its wall time, each stage's, and the report's metrics.json."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop(SERVER_ENV, None)
    if not served:
        env[SERVER_ENV] = "0"
    marks: list[tuple[str, float]] = []
    started = time.monotonic()
    proc = subprocess.Popen(["pm2gan", "smoke"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    output = []
    for line in proc.stdout:
        output.append(line)
        if m := STAGE.search(line):
            marks.append((m.group(1), time.monotonic()))
    ended = time.monotonic()
    text = "".join(output)
    if proc.wait() != 0:
        sys.exit(f"pm2gan smoke failed ({proc.returncode}):\n{text[-4000:]}")
    forked = re.search(r"the stage server ran (\d+) stage command", text)
    if served != bool(forked) or "cannot run this stage" in text:
        sys.exit(f"pm2gan smoke {'with' if served else 'without'} the stage server: its output says otherwise")
    stages = {name: t1 - t0 for (name, t0), (_, t1) in zip(marks, [*marks[1:], ("", ended)])}
    metrics = json.loads((ROOT / ".smoke" / "pm2gan" / "reports" / "metrics.json").read_text())
    return ended - started, stages, metrics


def untimed(value):
    """`value` without the numbers that time the machine."""
    if isinstance(value, dict):
        return {k: untimed(v) for k, v in value.items() if k.rsplit("/", 1)[-1] not in TIMED}
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="runs each way, alternately (default 2)")
    args = parser.parse_args()
    walls: dict[bool, list[float]] = {True: [], False: []}
    stages: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    reports = []
    for _ in range(args.repeats):
        for served in (False, True):
            wall, per_stage, metrics = smoke(served)
            walls[served].append(wall)
            stages[served].append(per_stage)
            reports.append(untimed(metrics))
            print(f"pm2gan smoke, {'stages forked from the server' if served else 'a process per stage':30} "
                  f"{wall:6.1f} s", flush=True)
    same = all(r == reports[0] for r in reports)
    print(f"\nbest of {args.repeats}: a process per stage {min(walls[False]):.1f} s, forked from the stage server "
          f"{min(walls[True]):.1f} s; the reports' numbers {'the same' if same else 'DIFFER'} every run")
    print(f"{'stage':24} {'own process':>12} {'forked':>8}   (best of {args.repeats}, s)")
    for name in stages[False][0]:
        print(f"{name:24} {min(s[name] for s in stages[False]):12.1f} {min(s[name] for s in stages[True]):8.1f}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
