"""The one interface every model family implements.

A family owns its players *and* its optimisers, and its `train_step` holds the
whole alternating game of one step in one place, with explicit `detach()`s:
nothing outside the family needs to call its pieces in the right order.
What a family can do is declared in `capabilities`, so metrics know what to
compute and mark the rest "not applicable".
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar

import torch
from torch import nn

from .nets import DataSpec, NetConfig, parameter_count
from .priors import PRIORS

ENCODE = "encode"  # x -> code
DECODE = "decode"  # code -> x
SAMPLE = "sample"  # draw new x
RECONSTRUCT = "reconstruct"  # x -> code -> x


@dataclasses.dataclass(frozen=True)
class Hyper:
    """Base of every family's hyperparameters. Subclasses add fields with defaults;
    `check()` raises ValueError naming the field when a value is out of range."""

    lr: float = 1e-3  # Adam learning rate of every player
    beta1: float = 0.5  # Adam beta1; 0.5 is the DCGAN choice that keeps games stable

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            expected = hints[field.name]
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, field.name, float(value))
            elif not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
                raise ValueError(f"{field.name} must be {expected.__name__}, got {value!r}")
        self.check()

    def check(self) -> None:
        positive(self, "lr")
        if not 0.0 <= self.beta1 < 1.0:
            raise ValueError(f"beta1 must be in [0, 1), got {self.beta1}")


def positive(hp: Hyper, name: str) -> None:
    if getattr(hp, name) <= 0:
        raise ValueError(f"{name} must be > 0, got {getattr(hp, name)}")


def non_negative(hp: Hyper, name: str) -> None:
    if getattr(hp, name) < 0:
        raise ValueError(f"{name} must be >= 0, got {getattr(hp, name)}")


def one_of(hp: Hyper, name: str, choices: Any) -> None:
    if getattr(hp, name) not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {getattr(hp, name)!r}")


class Family(nn.Module):
    """Base class. Subclasses set `name`, `Hyper`, `capabilities` and build their players."""

    name: ClassVar[str]
    Hyper: ClassVar[type[Hyper]] = Hyper
    capabilities: ClassVar[frozenset[str]] = frozenset()
    fixed_prior: ClassVar[str | None] = None  # the prior of a family whose prior is not a hyperparameter

    def __init__(self, spec: DataSpec, net: NetConfig, hp: Hyper):
        super().__init__()
        self.spec, self.net, self.hp = spec, net, hp
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    # -- the game ----------------------------------------------------------------
    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step of every player on batch x (B, *shape). Returns detached scalar losses
        keyed 'loss/<player>' (no .item(): the caller decides when to synchronise)."""
        raise NotImplementedError

    # -- capabilities (override what the family can do) -----------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} cannot encode")

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} cannot decode")

    def sample(self, n: int, gen: torch.Generator | None = None, reference: torch.Tensor | None = None) -> torch.Tensor:
        """n new examples. `reference` is a batch of data for families that sample
        through their aggregate posterior (PM); the others ignore it."""
        raise NotImplementedError(f"{self.name} cannot sample")

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def prior_sample(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor | None:
        """Samples of the prior the codes are meant to follow, or None when there is none."""
        prior = getattr(self.hp, "prior", self.fixed_prior)
        if prior is None:
            return None
        return PRIORS[prior](n, self.spec.code_dim, gen, self.device)

    # -- helpers -------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def adam(self, *modules: nn.Module) -> torch.optim.Adam:
        params = [p for m in modules for p in m.parameters()]
        return torch.optim.Adam(params, lr=self.hp.lr, betas=(self.hp.beta1, 0.999))

    def parameter_count(self) -> int:
        return parameter_count(self)

    def checkpoint_state(self) -> dict[str, Any]:
        return {
            "model": self.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
        }

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state["model"])
        for key, opt in self.optimizers.items():
            opt.load_state_dict(state["optimizers"][key])


class AutoencoderFamily(Family):
    """A family built on an autoencoder: `self.encoder` and `self.decoder` are its nets."""

    encoder: nn.Module
    decoder: nn.Module

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        return self.decoder(code)

    @torch.no_grad()
    def sample(self, n, gen=None, reference=None):
        """Decode prior draws: how AAE, WAE, VAE, PM + scalar GANs and BiGAN generate."""
        if SAMPLE not in self.capabilities:
            return super().sample(n, gen, reference)
        return self.decoder(self.prior_sample(n, gen))
