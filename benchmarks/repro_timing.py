"""`dvc repro` timings on the real params.yaml, in a fresh checkout (what `make repro` runs
once the venv is installed):

1. the first, cold `dvc repro`: wall time per stage and how busy the CPUs were during each
   (from /proc/stat, sampled every second; 100% = every core busy);
2. `dvc repro` again with nothing changed: wall time and the stages that ran (none expected);
3. one family's hyperparameter changed in params.yaml (models.gan.defaults.lr): the stages
   that reran (generation and report expected) and the wall time.

    python benchmarks/repro_timing.py [--profile quick]

Targets (issue 2): (1) under 15 minutes with both cores busy during the sweeps; (2) under
10 seconds, nothing trained; (3) only the stages that use the family.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.checkout import dvc_env, make_checkout, stages_run  # noqa: E402


class CpuMonitor(threading.Thread):
    """Share of all cores busy, sampled from /proc/stat once a second."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples: list[tuple[float, float]] = []  # (time, busy share in the last interval)
        self.stop = threading.Event()

    @staticmethod
    def _read() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    def run(self) -> None:
        busy0, total0 = self._read()
        while not self.stop.wait(1.0):
            busy1, total1 = self._read()
            self.samples.append((time.monotonic(), (busy1 - busy0) / max(total1 - total0, 1)))
            busy0, total0 = busy1, total1

    def mean_between(self, start: float, end: float) -> float:
        inside = [b for t, b in self.samples if start <= t <= end]
        return sum(inside) / len(inside) if inside else float("nan")


def repro(checkout: Path, monitor: CpuMonitor | None = None) -> tuple[float, str, list[tuple[str, float]]]:
    """Run `dvc repro`, streaming its output; return wall time, output and stage start times."""
    start = time.monotonic()
    proc = subprocess.Popen(["dvc", "repro"], cwd=checkout, env=dvc_env(checkout), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines, marks = [], []
    for line in proc.stdout:
        lines.append(line)
        found = re.match(r"Running stage '(\w+)'", line)
        if found:
            marks.append((found.group(1), time.monotonic()))
        if re.match(r"\[\d+/\d+ ", line):  # trial progress
            print("   ", line.rstrip(), flush=True)
    if proc.wait() != 0:
        sys.exit("dvc repro failed:\n" + "".join(lines[-50:]))
    return time.monotonic() - start, "".join(lines), marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="quick")
    args = parser.parse_args()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["profile"] = args.profile
    fashion = params["datasets"]["fashion_mnist"]  # the checkout is elsewhere: point at this one's copy
    fashion["local_dir"] = str((ROOT / fashion["local_dir"]).resolve())

    with tempfile.TemporaryDirectory() as tmp:
        checkout = make_checkout(Path(tmp) / "pm2gan", yaml.safe_dump(params, sort_keys=False))
        print(f"checkout: {checkout}; cold `dvc repro` of profile {args.profile} ...", flush=True)
        monitor = CpuMonitor()
        monitor.start()
        cold, output, marks = repro(checkout, monitor)
        end = time.monotonic()
        monitor.stop.set()

        again, output2, _ = repro(checkout)

        params["models"]["gan"]["defaults"]["lr"] = params["models"]["gan"]["defaults"]["lr"] * 0.5
        (checkout / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        changed, output3, _ = repro(checkout)

    print(f"\n1. cold dvc repro ({args.profile}): {cold / 60:.1f} min (target < 15 min)")
    bounds = [t for _, t in marks] + [end]
    for (stage, t0), t1 in zip(marks, bounds[1:]):
        print(f"   {stage:12} {t1 - t0:7.1f} s   CPU busy {100 * monitor.mean_between(t0, t1):5.1f}% of all cores")
    print(f"2. dvc repro, nothing changed: {again:.1f} s (target < 10 s); stages run: {sorted(stages_run(output2)) or 'none'}")
    print(f"3. models.gan.defaults.lr halved: {changed:.1f} s; stages run: {sorted(stages_run(output3))} "
          "(expected: generation, report)")


if __name__ == "__main__":
    main()
