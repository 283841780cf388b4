"""The one interface every model family implements.

A family owns its players *and* its optimisers, and its `train_step` holds the
whole alternating game of one step in one place, with explicit `detach()`s:
nothing outside the family needs to call its pieces in the right order.
What a family can do is declared in `capabilities`, so metrics know what to
compute and mark the rest "not applicable".
"""
from __future__ import annotations

from typing import Annotated, Any, ClassVar, Iterable, Literal

import annotated_types as at
import torch
from pydantic import BaseModel, ConfigDict, Strict
from torch import nn

from . import nets, optim
from .nets import DataSpec, NetConfig, parameter_count
from .priors import PRIORS

ENCODE = "encode"  # x -> code
DECODE = "decode"  # code -> x
SAMPLE = "sample"  # draw new x
RECONSTRUCT = "reconstruct"  # x -> code -> x
INFER_CODE = "infer_code"  # x -> the structured code a generator was fed (InfoGAN's Q)
CRITIC_CODES = "critic_codes"  # samples -> their codes in the discriminator (EBGAN's encoder)

# Constrained scalar types for hyperparameters (and every other typed setting of the project).
# Strict: a YAML string or boolean never passes for a number; ints pass as floats.
Real = Annotated[float, Strict()]
Positive = Annotated[float, Strict(), at.Gt(0)]
NonNegative = Annotated[float, Strict(), at.Ge(0)]
Share = Annotated[float, Strict(), at.Gt(0), at.Lt(1)]  # a part of a whole, neither none nor all
Count = Annotated[int, Strict(), at.Ge(1)]
NonNegativeInt = Annotated[int, Strict(), at.Ge(0)]


def one_of(options: Iterable[str]) -> Any:
    """The type of a setting that names one of `options` (a registry's keys)."""
    return Literal[tuple(sorted(options))]


Prior = one_of(PRIORS)


class Hyper(BaseModel):
    """Base of every family's hyperparameters: types and ranges only. The values live in
    params.yaml (`models.<family>.defaults`, with the reason for each), and nowhere else.
    Unknown keys, wrong types, NaN/inf and values out of range are refused on creation."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    lr: Positive  # Adam learning rate of every player
    beta1: Annotated[float, Strict(), at.Ge(0), at.Lt(1)]  # Adam beta1


class Family(nn.Module):
    """Base class. Subclasses set `name`, `Hyper`, `capabilities` and build their players."""

    name: ClassVar[str]
    Hyper: ClassVar[type[Hyper]] = Hyper
    capabilities: ClassVar[frozenset[str]] = frozenset()
    fixed_prior: ClassVar[str | None] = None  # the prior of a family whose prior is not a hyperparameter
    # How the family generates (pipeline/evaluation/samplers.py): "prior" for families that decode prior
    # draws; "shuffled_codes" / "fitted_marginals" for those that sample through their codes.
    samplers: ClassVar[tuple[str, ...]] = ()
    # The scale the code is asked to have, against which a unit counts as dead: 1 for codes
    # matched to a unit-variance prior, None when nothing fixes it (metrics.dead_units).
    code_scale: ClassVar[float | None] = None

    def __init__(self, spec: DataSpec, net: NetConfig, hp: Hyper):
        super().__init__()
        self.spec, self.net, self.hp = spec, net, hp
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    # -- the game ----------------------------------------------------------------
    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step of every player on batch x (B, *shape). Returns detached scalar losses
        keyed 'loss/<player>' (no .item(): the caller decides when to synchronise)."""
        raise NotImplementedError

    def plan(self, steps: int) -> None:
        """Told the trial's budget once, before its first step: for a family whose game has
        phases (GMMN+AE trains its autoencoder first). Most families ignore it."""

    # -- capabilities (override what the family can do) -----------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} cannot encode")

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.name} cannot decode")

    def sample(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        """n new examples decoded from prior draws (the `prior` sampler)."""
        raise NotImplementedError(f"{self.name} cannot sample from a prior")

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def code_sample(self, x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """Codes as draws of the aggregate posterior q(z) = E_x q(z|x): what the code metrics
        read. The encoding itself for a deterministic encoder; a stochastic one samples."""
        return self.encode(x)

    @classmethod
    def refuse(cls, hp: Hyper, data: DataSpec) -> tuple[str, str] | None:
        """(field, why) when `hp` cannot work on data like `data` (checked before any compute)."""
        return None

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

    def update(self, player: str, loss: torch.Tensor, grad_norm: bool = False) -> torch.Tensor | None:
        """One optimiser step of `player` on `loss`: clear its gradients, backpropagate, step.
        Gradients that `loss` leaves on other players' parameters are cleared by their own
        optimisers before their next step. With `grad_norm`, returns the norm of the player's
        gradient before the step (a tensor: no host sync)."""
        optimizer = self.optimizers[player]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = None
        if grad_norm:
            grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        optimizer.step()
        return norm

    def adam(self, *modules: nn.Module, lr: float | None = None) -> torch.optim.Adam:
        """Adam over the modules' parameters, at `lr` (the family's `lr` by default)."""
        params = [p for m in modules for p in m.parameters()]
        # fused: one kernel for the whole update, on CPU and CUDA alike. With nets this small the
        # per-tensor loop of the default implementation is a fifth to a quarter of a step's time
        # on CPU (benchmarks/step_time.py), and PyTorch's bookkeeping around the kernel is more
        # than the kernel: optim.Adam steps straight into it (models/optim.py).
        return optim.Adam(params, lr=self.hp.lr if lr is None else lr, betas=(self.hp.beta1, 0.999))

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

    def encoder_features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's penultimate layer: its activations before the linear layer that makes
        the code (BiGAN's second feature protocol reads these, not E(x))."""
        return nets.before_last_linear(self.encoder)(x)

    @torch.no_grad()
    def sample(self, n, gen=None):
        """Decode prior draws: how AAE, WAE, VAE, PM + scalar GANs and BiGAN generate."""
        if SAMPLE not in self.capabilities:
            return super().sample(n, gen)
        return self.decoder(self.prior_sample(n, gen))
