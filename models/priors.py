"""Priors p(z) for generators and for matching an aggregate posterior (AAE).

All priors have zero mean and unit variance per unit, so that families and
metrics compare the *shape* of a distribution, not its scale.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

Sampler = Callable[[int, int, torch.Generator | None, torch.device], torch.Tensor]


def gaussian(n: int, dim: int, gen: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Factorial N(0, I): the default of GAN and AAE."""
    return torch.randn(n, dim, generator=gen, device=device)


def uniform(n: int, dim: int, gen: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Factorial U(-sqrt 3, sqrt 3): unit variance, bounded support."""
    return (torch.rand(n, dim, generator=gen, device=device) * 2 - 1) * math.sqrt(3.0)


CORRELATION = 0.8  # pairwise correlation of the `correlated` prior


def correlated(n: int, dim: int, gen: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """N(0, S) with unit variances and every pair correlated by CORRELATION: not factorial.
    One shared factor: z = sqrt(r) * s + sqrt(1 - r) * e gives cov = r off the diagonal."""
    shared = torch.randn(n, 1, generator=gen, device=device)
    own = torch.randn(n, dim, generator=gen, device=device)
    return math.sqrt(CORRELATION) * shared + math.sqrt(1 - CORRELATION) * own


MIXTURE_COMPONENTS = 4
MIXTURE_STD = 0.3


def mixture(n: int, dim: int, gen: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Equal-weight mixture of MIXTURE_COMPONENTS Gaussians with centres at +-c on the
    first two units (a multimodal, non-factorial prior), rescaled to unit variance."""
    comp = torch.randint(0, MIXTURE_COMPONENTS, (n,), generator=gen, device=device)
    angle = comp.float() * (2 * math.pi / MIXTURE_COMPONENTS)
    z = torch.randn(n, dim, generator=gen, device=device) * MIXTURE_STD
    centre = math.sqrt(2 * (1 - MIXTURE_STD**2))  # so that E z_i^2 = 1 on the first two units
    z[:, 0] += centre * torch.cos(angle)
    if dim > 1:
        z[:, 1] += centre * torch.sin(angle)
    z[:, 2:] /= MIXTURE_STD
    return z


PRIORS: dict[str, Sampler] = {
    "gaussian": gaussian,
    "uniform": uniform,
    "correlated": correlated,
    "mixture": mixture,
}
