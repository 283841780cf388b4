"""Whether two commits' training code runs at the same speed on this machine: each trial trained
for `--steps` steps by each commit's own `fit` (no judge, no evaluation), seed 0, one thread, the
commits interleaved for `--rounds` rounds so that the machine's drift falls on both alike.

    python benchmarks/commit_speed.py 8d28e7c HEAD [--trial generation:digits:gan factorial:bars:pm_gan]
                                                   [--steps 3000] [--rounds 2]

Each commit is checked out in a temporary git worktree that borrows this checkout's data/ and
evalnets/ (what `dvc repro` made), and runs in a process of its own with this venv's Python. What
it answers: when a cold run is slower than an earlier one, whether the code or the machine moved
(a cold run's steps per second are in `reports/metrics.json`).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Run inside the commit's worktree: its own config, its own trial expansion, its own fit.
CHILD = r"""
import sys, time
import torch
try:
    from pipeline.data import places
except ImportError:  # before the data layer had `places`
    from pipeline.data import datasets as places
from pipeline.settings import config
from pipeline.settings.trials import expand
from pipeline.training.fit import fit
torch.set_num_threads(1)
study, dataset, model = sys.argv[1].split(":")
steps = int(sys.argv[2])
cfg = config.load("params.yaml")
trial = next(t for t in expand(cfg, study) if (t.dataset, t.model, t.seed) == (dataset, model, 0))
update = {"steps": steps, "eval_every": 0, "checkpoint_every": 0}
if "stop_patience" in type(trial.train).model_fields:
    update["stop_patience"] = 0
trial = trial.model_copy(update={"train": trial.train.model_copy(update=update)})
done = fit(trial, places.load(dataset))
print(f"{done.steps_per_s:.1f}")
"""


def worktree(rev: str, parent: Path) -> Path:
    folder = parent / rev.replace("/", "_")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(folder), rev], check=True)
    for made in ("data", "evalnets"):
        (folder / made).symlink_to(ROOT / made)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revs", nargs=2, help="two commits")
    parser.add_argument("--trial", nargs="+", default=["generation:digits:gan", "factorial:bars:pm_gan"],
                        help="study:dataset:model (seed 0)")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        trees = {rev: worktree(rev, Path(scratch)) for rev in args.revs}
        try:
            print(f"{'trial':28s} {'commit':>10s} steps/s, round by round")
            speeds = {(rev, spec): [] for rev in args.revs for spec in args.trial}
            for _ in range(args.rounds):
                for spec in args.trial:
                    for rev, tree in trees.items():
                        out = subprocess.run([sys.executable, "-c", CHILD, spec, str(args.steps)], cwd=tree,
                                             check=True, capture_output=True, text=True)
                        speeds[(rev, spec)].append(float(out.stdout.split()[-1]))
            for (rev, spec), values in speeds.items():
                print(f"{spec:28s} {rev:>10s} " + " ".join(f"{v:7.1f}" for v in values))
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


if __name__ == "__main__":
    main()
