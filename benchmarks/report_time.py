"""The report stage's drawing: every study's figures drawn one after another in one process
against one process per core (pipeline/reporting/report.py, `build(..., workers=)`), on the
same results, in the same run. Needs results/ (after `make repro`) and data/.

    python benchmarks/report_time.py [--repeats 1]

Each build writes into a temporary folder; the project's reports/ is not touched. The pages
(markdown) of both builds are compared: the parallel one must write the same report.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.reporting import report  # noqa: E402
from pipeline.settings.config import load  # noqa: E402
from pipeline.studies.convergence import Rule  # noqa: E402


def build(workers: int | None, out: Path) -> float:
    cfg = load(ROOT / "params.yaml")
    started = time.monotonic()
    report.build(ROOT / "results", Rule(cfg.convergence.patience, cfg.convergence.min_change), out, ROOT / "data",
                 workers=workers)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if not (ROOT / "results").is_dir():
        parser.error("no results/ here: run `make repro` first")
    os.chdir(ROOT)
    cores = os.cpu_count() or 1
    times: dict[str, list[float]] = {"1 process": [], f"{cores} processes": []}
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as many:
            times["1 process"].append(build(1, Path(one)))
            times[f"{cores} processes"].append(build(None, Path(many)))
            same = all((Path(one) / p.name).read_text() == p.read_text() for p in Path(many).glob("*.md"))
    for name, values in times.items():
        print(f"report build, figures drawn by {name}: {min(values):.1f} s (best of {len(values)})")
    print(f"speed-up {min(times['1 process']) / min(times[f'{cores} processes']):.2f}x on {cores} cores; "
          f"pages identical: {same}")


if __name__ == "__main__":
    main()
