"""What a training step costs, as work rather than time: the floating-point operations of one
step of a trained model (PyTorch's FlopCounterMode over the family's own `train_step`, inner
loops included: a GAN's discriminator steps, PM's predictor steps). Unlike steps per second it
does not move with the machine or with what else runs on it, so a study can compare costs.

It counts matrix products and convolutions (what dominates these nets) and not elementwise
work or pairwise distances: an MMD kernel on a batch of 8-D codes is ~0.4 MFLOPs beside ~20
MFLOPs of the MLPs, below the counts' rounding here."""
from __future__ import annotations

import copy

import torch


def flops_per_step(model, batch: torch.Tensor) -> float:
    """FLOPs of one `train_step` on `batch`, taken on a copy (a step updates the weights and the
    optimisers' state) with the random streams restored after it (the trained model and every
    later draw stay as they were)."""
    from torch.utils.flop_counter import FlopCounterMode

    clone = copy.deepcopy(model)
    clone.train()
    with torch.random.fork_rng(devices=[]), FlopCounterMode(display=False) as counter:
        clone.train_step(batch)
    return float(counter.get_total_flops())
