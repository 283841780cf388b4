"""What training several seeds of one config together would save (issue 20 lists it; not built):
K seeds of an MLP (models/nets.mlp), each updated by its own Adam (the trials' own, models/optim.py)
one after another, as a sweep's trials do, against the same K seeds held as one "seed-batched" MLP
(every weight with a leading seed axis, batched matmuls) under one such Adam. The loss of the batched net is the sum of the seeds'
losses, so each seed's slice gets its own gradient, and Adam is elementwise: the two are one
computation up to float rounding (batched matmuls sum in another order), and the benchmark prints
how far seed k's weights ended from the separate net's.

    python benchmarks/seeds_together.py [--seeds 3 10] [--steps 500]

One CPU thread, as a trial has. The nets are the shapes of the pipeline's cheapest and most
repeated trainings: pm1992's PM (4 hidden units, 1 layer; its predictors are smaller still),
the quick profile's 2 x 128 MLPs on digits (64 pixels, an 8-D code), and modes2d's 4 x 400 MLPs
on 2-D points. It measures one update of one player: an upper bound on what a family, with its
several players and its evaluation, would gain.
"""
from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.nets import NetConfig, mlp  # noqa: E402
from models.optim import Adam  # noqa: E402  (the trials' own optimiser)

SHAPES = {  # name: (input width, hidden width, hidden layers, output width, batch)
    "pm1992 (PM, 4 hidden units)": (4, 4, 1, 2, 32),
    "quick digits (2 x 128)": (64, 128, 2, 8, 128),
    "modes2d (4 x 400)": (2, 400, 4, 2, 100),
}


class SeedBatchedMLP(nn.Module):
    """K MLPs of one shape as one module: layer weights (K, in, out), input (K, B, in)."""

    def __init__(self, nets: list[nn.Sequential]):
        super().__init__()
        linears = [[m for m in net if isinstance(m, nn.Linear)] for net in nets]
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([seed[i].weight.detach().T for seed in linears])) for i in range(len(linears[0])))
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([seed[i].bias.detach() for seed in linears]).unsqueeze(1))
            for i in range(len(linears[0])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = torch.nn.functional.leaky_relu(x, 0.2)
        return x


def batches(k: int, steps: int, width: int, batch: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(steps, k, batch, width, generator=gen)


def one_after_another(nets, data) -> float:
    optimizers = [Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999)) for net in nets]
    start = time.perf_counter()
    for step in data:
        for k, (net, opt) in enumerate(zip(nets, optimizers)):
            loss = net(step[k]).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return time.perf_counter() - start


def together(net: SeedBatchedMLP, data) -> float:
    opt = Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999))
    start = time.perf_counter()
    for step in data:
        loss = net(step).pow(2).mean(dim=(1, 2)).sum()  # each seed's own mean: its own gradient
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def compare(name: str, k: int, steps: int) -> str:
    width_in, hidden, depth, width_out, batch = SHAPES[name]
    torch.manual_seed(0)
    nets = [mlp(width_in, width_out, NetConfig(hidden=hidden, depth=depth, conv_channels=0)) for _ in range(k)]
    batched = SeedBatchedMLP(nets)
    data = batches(k, steps, width_in, batch)
    one_after_another(copy.deepcopy(nets[:1]), data[:20, :1])  # warm up both paths, on copies
    together(SeedBatchedMLP(nets), data[:20])
    apart = one_after_another(nets, data)
    joint = together(batched, data)
    # the same computation: seed k's weights after training, either way
    gap = max((batched.weights[0][s] - nets[s][0].weight.detach().T).abs().max().item() for s in range(k))
    assert gap < 1e-4 * math.sqrt(steps), f"{name}: the seed-batched net drifted from the separate ones by {gap:.2e}"
    return (f"{name:30s} {k:3d} seeds: one after another {apart / steps * 1e3:7.3f} ms per step of all seeds, "
            f"together {joint / steps * 1e3:7.3f} ms: {apart / joint:5.2f}x (largest weight difference {gap:.1e})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[3, 10])
    parser.add_argument("--steps", type=int, default=500)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in SHAPES:
        for k in args.seeds:
            print(compare(name, k, args.steps), flush=True)


if __name__ == "__main__":
    main()
