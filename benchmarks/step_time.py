"""Time per training step of every family, with fused Adam (the project's choice) against
PyTorch's default Adam, in the same run, on one CPU thread (or the GPU with --device cuda).

    python benchmarks/step_time.py [--steps 300] [--datasets ring8 digits] [--device cpu]

The families' nets are small (the quick profile's: 2 x 128 MLPs), so per-tensor optimiser
loops are a visible share of a step; fused Adam updates all of a player's tensors in one kernel.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import FAMILIES, DataSpec  # noqa: E402
from pipeline.data import datasets as data  # noqa: E402
from pipeline.settings import config


def time_per_step(model, x: torch.Tensor, steps: int, batch: int) -> float:
    gen = torch.Generator(device=x.device).manual_seed(0)
    draw = lambda: x[torch.randint(0, len(x), (batch,), generator=gen, device=x.device)]  # noqa: E731
    for _ in range(30):  # warm up
        model.train_step(draw())
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        model.train_step(draw())
    if x.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--datasets", nargs="+", default=["ring8", "digits"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = config.load(ROOT / "params.yaml")
    device = torch.device(args.device)
    print(f"{args.steps} steps after 30 of warm-up, batch {cfg.profile.train.batch_size}, nets {cfg.profile.nets}, "
          f"{device}, torch {torch.__version__}")
    print(f"{'dataset':8} {'family':8} {'default Adam':>13} {'fused Adam':>11} {'fused/default':>14}")
    for name in args.datasets:
        ds = data.make(name, cfg.datasets[name], cfg.data)
        x = torch.from_numpy(ds.x["train"]).to(device)
        spec = DataSpec(ds.shape, cfg.datasets[name].code_dim, ds.bounded)
        for family in sorted(FAMILIES):
            cls = FAMILIES[family]
            times = {}
            for fused in (False, True):
                torch.manual_seed(0)
                model = cls(spec, cfg.profile.nets, cfg.models[family].defaults).to(device)
                if not fused:  # the same optimisers, rebuilt with PyTorch's default implementation
                    for player, opt in model.optimizers.items():
                        group = opt.param_groups[0]
                        model.optimizers[player] = torch.optim.Adam(group["params"], lr=group["lr"], betas=group["betas"])
                times[fused] = time_per_step(model, x, args.steps, cfg.profile.train.batch_size)
            print(f"{name:8} {family:8} {times[False] * 1e3:10.2f} ms {times[True] * 1e3:8.2f} ms "
                  f"{times[True] / times[False]:14.2f}", flush=True)


if __name__ == "__main__":
    main()
