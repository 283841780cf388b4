"""Networks shared by every family, sized from the data.

Every family in a study builds its players from these constructors with the
same `NetConfig`, which is what makes a comparison between families fair:
the encoders, decoders and discriminators differ only in what they are
trained to do, never in capacity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class NetConfig:
    """Width and depth of every MLP in a trial (the same for all families of a study)."""

    hidden: int = 128  # units per hidden layer
    depth: int = 2  # number of hidden layers

    def __post_init__(self) -> None:
        if self.hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {self.hidden}")
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")


@dataclass(frozen=True)
class DataSpec:
    """What a family needs to know about its data to size its nets."""

    shape: tuple[int, ...]  # one example, e.g. (2,) for toys, (1, 8, 8) for 8x8 images
    code_dim: int  # size of the code / latent noise
    bounded: bool  # True when data lie in [0, 1] (images): decoders end in a sigmoid

    @property
    def features(self) -> int:
        return math.prod(self.shape)

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3


def mlp(in_features: int, out_features: int, net: NetConfig, out: nn.Module | None = None) -> nn.Sequential:
    """LeakyReLU MLP: LeakyReLU keeps gradients alive for both players of a game."""
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(net.depth):
        layers += [nn.Linear(width, net.hidden), nn.LeakyReLU(0.2)]
        width = net.hidden
    layers.append(nn.Linear(width, out_features))
    if out is not None:
        layers.append(out)
    return nn.Sequential(*layers)


class Flatten(nn.Module):
    """(B, *shape) -> (B, features): the MLPs see images as vectors."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class Unflatten(nn.Module):
    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape)


def encoder(spec: DataSpec, net: NetConfig, out: nn.Module | None = None) -> nn.Sequential:
    """x (B, *shape) -> code (B, code_dim); `out` bounds the code (PM uses a sigmoid)."""
    return nn.Sequential(Flatten(), *mlp(spec.features, spec.code_dim, net, out))


def decoder(spec: DataSpec, net: NetConfig) -> nn.Sequential:
    """code (B, code_dim) -> x (B, *shape); a sigmoid keeps images in [0, 1]."""
    out = nn.Sigmoid() if spec.bounded else None
    return nn.Sequential(*mlp(spec.code_dim, spec.features, net, out), Unflatten(spec.shape))


def discriminator(in_features: int, net: NetConfig) -> nn.Sequential:
    """input (B, ...) -> logit a (B,); D = sigmoid(a) is applied inside the losses."""
    return nn.Sequential(Flatten(), *mlp(in_features, 1, net), nn.Flatten(0))


class UnitwiseMLP(nn.Module):
    """`units` independent one-hidden-layer MLPs evaluated as one batched op.

    PM needs one predictor per code unit, and PM + scalar GANs one
    discriminator per unit; a Python loop over units would cost one kernel
    launch per unit. Here unit i has its own weights W1[i], W2[i] and all
    units run in two einsums.

    input (B, units, in_features) -> output (B, units)
    """

    def __init__(self, units: int, in_features: int, hidden: int):
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(units, in_features, hidden))
        self.b1 = nn.Parameter(torch.zeros(units, hidden))
        self.w2 = nn.Parameter(torch.empty(units, hidden))
        self.b2 = nn.Parameter(torch.zeros(units))
        # Same init as nn.Linear (uniform in +-1/sqrt(fan_in)), per unit.
        nn.init.uniform_(self.w1, -1 / math.sqrt(in_features), 1 / math.sqrt(in_features))
        nn.init.uniform_(self.w2, -1 / math.sqrt(hidden), 1 / math.sqrt(hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.nn.functional.leaky_relu(torch.einsum("bui,uih->buh", x, self.w1) + self.b1, 0.2)
        return torch.einsum("buh,uh->bu", h, self.w2) + self.b2


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
