"""How busy the cores are while a command runs: wall time, and the share of the machine's cores
that did work, over the whole run and per DVC stage (read from `Running stage '<name>'` in the
command's output). It answers what one-stage-per-study costs against one sweep of every trial:
the per-study layout loses each stage's start-up (Ray and an MLflow server) and each sweep's
tail, where one trial trains and the other cores wait; a single sweep of every distinct trial
could at best do the same work with every core busy, in (busy share x wall) of the time.

    python benchmarks/core_use.py -- make repro
    python benchmarks/core_use.py --every 2 -- dvc repro generation

The command's output passes through unchanged; the figures follow it. Reads /proc/stat (Linux):
the whole machine's cores, so run it with nothing else running.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import threading
import time

STAGE = re.compile(r"Running stage '([\w@.-]+)'")


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot: busy is everything but idle and iowait."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def busy_share(start: tuple[float, float], end: tuple[float, float]) -> float:
    """The share of all cores' time between two readings that was busy (0 to 1)."""
    total = end[1] - start[1]
    return (end[0] - start[0]) / total if total > 0 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between readings of the cores (default 5)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --, e.g. -- make repro")

    marks: list[tuple[str, float, tuple[float, float]]] = []  # (stage, when, cpu times) at each stage's start
    readings: list[tuple[float, tuple[float, float]]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(args.every):
            readings.append((time.monotonic(), cpu_times()))

    start, first = time.monotonic(), cpu_times()
    threading.Thread(target=sample, daemon=True).start()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in proc.stdout:
        sys.stdout.write(line)
        if m := STAGE.search(line):
            marks.append((m.group(1), time.monotonic(), cpu_times()))
    code = proc.wait()
    done.set()
    end, last = time.monotonic(), cpu_times()

    cores = os.cpu_count() or 1
    wall = end - start
    share = busy_share(first, last)
    print(f"\n{' '.join(command)}: exit {code}, wall {wall:.0f} s on {cores} cores; cores busy {100 * share:.0f}% "
          f"of the time ({share * cores * wall / 60:.1f} core-minutes of {cores * wall / 60:.1f})")
    idle_readings = sum(1 for (_, a), (_, b) in zip(readings, readings[1:]) if busy_share(a, b) < 1 / cores - 0.05)
    if len(readings) > 1:
        print(f"readings every {args.every:g} s with fewer than one core busy: {idle_readings} of {len(readings) - 1}")
    if marks:
        print(f"{'stage':16} {'wall':>8} {'busy':>6}")
        bounds = marks + [("", end, last)]
        for (name, t0, c0), (_, t1, c1) in zip(bounds, bounds[1:]):
            print(f"{name:16} {t1 - t0:7.0f}s {100 * busy_share(c0, c1):5.0f}%")
    print(f"every core busy throughout, the same work would take at least {share * wall:.0f} s "
          f"(busy share x wall), against {wall:.0f} s")
    sys.exit(code)


if __name__ == "__main__":
    main()
