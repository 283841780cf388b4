"""Networks shared by every family, sized from the data.

Every family in a study builds its players from these constructors with the
same `NetConfig`, which is what makes a comparison between families fair:
the encoders, decoders and discriminators differ only in what they are
trained to do, never in capacity.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import annotated_types as at
import torch
from pydantic import BaseModel, ConfigDict, Strict
from torch import nn


class NetConfig(BaseModel):
    """Sizes of every net in a trial (the same for all families of a study); the values are
    the profile's `nets` in params.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hidden: Annotated[int, Strict(), at.Ge(1)]  # units per hidden layer of the MLPs
    depth: Annotated[int, Strict(), at.Ge(1)]  # number of hidden layers of the MLPs
    # channels of the first conv layer (DCGAN-style nets for images of 16+ pixels a side);
    # 0: MLPs on images too, as the GAN and AAE papers' MNIST nets (the Parzen protocol's models)
    conv_channels: Annotated[int, Strict(), at.Ge(0)]


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

    @property
    def convolutional(self) -> bool:
        """Images of 16+ pixels a side, divisible by 4 (MNIST's 28x28), get DCGAN-style conv nets;
        8x8 digits and bars are too small for two stride-2 convolutions and keep the MLPs."""
        return self.is_image and min(self.shape[1:]) >= 16 and all(d % 4 == 0 for d in self.shape[1:])


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


def body(spec: DataSpec, net: NetConfig) -> tuple[nn.Sequential, int]:
    """x (B, *shape) -> features (B, F), and F: the trunk of every net that reads data.

    Conv (DCGAN, Radford et al. 2016): two stride-2 4x4 convolutions, batch norm on the
    second, LeakyReLU(0.2). MLP: `depth` hidden layers of `hidden` units."""
    if spec.convolutional and net.conv_channels:
        c, h, w = spec.shape
        ch = net.conv_channels
        trunk = nn.Sequential(
            nn.Conv2d(c, ch, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(ch, 2 * ch, 4, 2, 1), nn.BatchNorm2d(2 * ch), nn.LeakyReLU(0.2),
            Flatten())
        return trunk, 2 * ch * (h // 4) * (w // 4)
    layers: list[nn.Module] = [Flatten()]
    width = spec.features
    for _ in range(net.depth):
        layers += [nn.Linear(width, net.hidden), nn.LeakyReLU(0.2)]
        width = net.hidden
    return nn.Sequential(*layers), width


def encoder(spec: DataSpec, net: NetConfig, out_features: int | None = None, out: nn.Module | None = None) -> nn.Sequential:
    """x (B, *shape) -> (B, out_features or code_dim); `out` bounds the code (PM uses a sigmoid)."""
    trunk, width = body(spec, net)
    layers = [*trunk, nn.Linear(width, out_features or spec.code_dim)]
    return nn.Sequential(*layers, *([out] if out is not None else []))


def decoder(spec: DataSpec, net: NetConfig, in_features: int | None = None) -> nn.Sequential:
    """code (B, in_features or code_dim) -> x (B, *shape); a sigmoid keeps images in [0, 1].
    Conv: the mirror of `body` with transposed convolutions (DCGAN generator)."""
    width = in_features or spec.code_dim
    end = [nn.Sigmoid()] if spec.bounded else []
    if spec.convolutional and net.conv_channels:
        c, h, w = spec.shape
        ch = net.conv_channels
        return nn.Sequential(
            nn.Linear(width, 2 * ch * (h // 4) * (w // 4)), nn.BatchNorm1d(2 * ch * (h // 4) * (w // 4)), nn.ReLU(),
            Unflatten((2 * ch, h // 4, w // 4)),
            nn.ConvTranspose2d(2 * ch, ch, 4, 2, 1), nn.BatchNorm2d(ch), nn.ReLU(),
            nn.ConvTranspose2d(ch, c, 4, 2, 1), *end)
    return nn.Sequential(*mlp(width, spec.features, net), *end, Unflatten(spec.shape))


def discriminator(spec: DataSpec, net: NetConfig) -> nn.Sequential:
    """x (B, *shape) -> logit a (B,); D = sigmoid(a) is applied inside the losses."""
    trunk, width = body(spec, net)
    return nn.Sequential(*trunk, nn.Linear(width, 1), nn.Flatten(0))


def code_discriminator(in_features: int, net: NetConfig) -> nn.Sequential:
    """code (B, in_features) -> logit (B,): AAE's discriminator on codes (always an MLP)."""
    return nn.Sequential(*mlp(in_features, 1, net), nn.Flatten(0))


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
        # Units lead, so each layer is one batched matrix product with its bias added inside it:
        # (units, B, in) @ (units, in, hidden). The einsums this replaces permuted their operands
        # back and forth around the same products, a sixth of a PM step on the 1992 nets
        # (benchmarks/commit_speed.py).
        h = torch.nn.functional.leaky_relu(torch.baddbmm(self.b1.unsqueeze(1), x.transpose(0, 1), self.w1), 0.2)
        return torch.baddbmm(self.b2.view(-1, 1, 1), h, self.w2.unsqueeze(2)).squeeze(2).T  # (units, B, 1) -> (B, units)


def before_last_linear(net: nn.Module) -> nn.Sequential:
    """The layers of `net` (a Sequential, nested ones flattened) before its last nn.Linear:
    an encoder's penultimate layer, sharing its weights."""
    def flat(module: nn.Module) -> list[nn.Module]:
        return [leaf for child in module for leaf in flat(child)] if isinstance(module, nn.Sequential) else [module]

    layers = flat(net)
    last = max((i for i, layer in enumerate(layers) if isinstance(layer, nn.Linear)), default=None)
    if last is None:
        raise ValueError("the net has no linear layer")
    return nn.Sequential(*layers[:last])


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
