"""The `theory` study: the GAN tutorial's exercises (Goodfellow 2016, sec. 7-8) and the JSD
identity, each an exact experiment that also checks the project's own losses.

1. Optimal discriminator: a discriminator trained with models.losses.discriminator_loss on
   samples of two known densities approaches D*(x) = p_data / (p_data + p_g) (1-D and 2-D).
2. Value at the optimum: V(D*, G) = -log 4 + 2 JSD(p_data || p_g), both by quadrature.
3. Simultaneous gradient descent on V(x, y) = xy: the radius grows by sqrt(1 + eta^2) per
   step; alternating updates stay on a bounded orbit; small steps follow the circle of the
   continuous-time solution.
4. Generator costs at the optimal D: the expected gradient of the `ml` cost equals the
   gradient of KL(p_data || p_g), that of the `kl` cost the gradient of KL(p_g || p_data).

Every check has a stated tolerance; a result records the measured error next to it.
"""
from __future__ import annotations

import math
from typing import Annotated, Any, Union

import annotated_types as at
import numpy as np
import torch
from pydantic import ConfigDict, Discriminator, Tag
from pydantic.dataclasses import dataclass as pydantic_dataclass

from models import losses, nets
from models.base import Count, NonNegativeInt, Positive, Real
from pipeline.files.schema import NonEmpty, Section

_DENSITY = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


@pydantic_dataclass(config=_DENSITY)
class Gaussian1D:
    """N(mean, std^2); in params.yaml `{mean: m, std: s}`."""

    mean: Real
    std: Real

    def __post_init__(self) -> None:
        if not self.std > 0:
            raise ValueError(f"a density needs std > 0, got {self.std}")

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return -0.5 * ((x - self.mean) / self.std) ** 2 - math.log(self.std * math.sqrt(2 * math.pi))

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return self.mean + self.std * torch.randn(n, generator=gen, dtype=torch.float64)

    def __str__(self) -> str:
        return f"N({self.mean:g}, {self.std:g}²)"


@pydantic_dataclass(config=_DENSITY)
class Mixture1D:
    """Equal-weight mixture of 1-D Gaussians, a density with several modes; in params.yaml
    `{mixture: [{mean: .., std: ..}, ...]}`."""

    mixture: Annotated[tuple[Gaussian1D, ...], at.MinLen(1)]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(torch.stack([p.log_prob(x) for p in self.mixture]), 0) - math.log(len(self.mixture))

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        which = torch.randint(0, len(self.mixture), (n,), generator=gen)
        means = torch.tensor([p.mean for p in self.mixture], dtype=torch.float64)[which]
        stds = torch.tensor([p.std for p in self.mixture], dtype=torch.float64)[which]
        return means + stds * torch.randn(n, generator=gen, dtype=torch.float64)

    def __str__(self) -> str:
        return "mixture(" + ", ".join(str(p) for p in self.mixture) + ")"


def _density_kind(value: Any) -> str:
    return "Mixture1D" if isinstance(value, Mixture1D) or (isinstance(value, dict) and "mixture" in value) else "Gaussian1D"


# A 1-D density as params.yaml writes it: a Gaussian, or a mixture of them.
Density = Annotated[Union[Annotated[Gaussian1D, Tag("Gaussian1D")], Annotated[Mixture1D, Tag("Mixture1D")]],
                    Discriminator(_density_kind)]


# ----------------------------------------------------------------------------- the settings (params.yaml `theory`)


class DensityPair(Section):
    data: Density
    g: Density


class GeneratorCheck(Section):
    data: Gaussian1D
    g_mean: float
    g_std: Positive
    samples: Count


class Tolerances(Section):
    d_star_1d: Positive
    d_star_2d: Positive
    value: Positive
    radius_growth: Positive
    gradient: Positive


class Settings(Section):
    """The `theory` study: the tutorial's exercises as exact experiments (pipeline/evaluation/theory.py)."""

    seed: NonNegativeInt
    disc_steps: Count  # training steps of the discriminators compared with D*
    pairs: Annotated[tuple[DensityPair, ...], NonEmpty]  # (p_data, p_g)
    step_sizes: Annotated[tuple[Positive, ...], NonEmpty]  # eta of gradient descent on V(x, y) = xy
    game_time: Positive  # continuous time simulated (one turn of the circle = 2 pi)
    generator: GeneratorCheck
    tolerances: Tolerances  # identity -> largest error that still holds


# ----------------------------------------------------------------------------- 1. optimal D

NEGLIGIBLE = 0.05  # D is compared with D* where both densities exceed this share of their peak


def _mlp(hidden: int) -> nets.NetConfig:
    """The discriminators here are MLPs on 1-D or 2-D points: conv_channels is never used."""
    return nets.NetConfig(hidden=hidden, depth=2, conv_channels=1)


def _optimiser(disc: torch.nn.Module, lr: float, steps: int):
    """Adam with a cosine decay to 0: the decay averages out the minibatch noise that would
    otherwise dominate the distance between the final D and D*."""
    opt = torch.optim.Adam(disc.parameters(), lr=lr)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)


def optimal_discriminator_1d(p_data, p_g, steps: int, seed: int, batch: int = 512, hidden: int = 128,
                             lr: float = 1e-3) -> dict[str, Any]:
    """Train D on samples of p_data (real) and p_g (fake) with the project's discriminator
    loss; compare D(x) with D*(x) on a grid where both densities are non-negligible."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    disc = nets.code_discriminator(1, _mlp(hidden))
    opt, schedule = _optimiser(disc, lr, steps)
    for _ in range(steps):
        real = p_data.sample(batch, gen).float()[:, None]
        fake = p_g.sample(batch, gen).float()[:, None]
        loss = losses.discriminator_loss(disc(real), disc(fake))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    grid = torch.linspace(-6, 6, 1201, dtype=torch.float64)
    pd, pg = p_data.log_prob(grid).exp(), p_g.log_prob(grid).exp()
    d_star = pd / (pd + pg)
    with torch.no_grad():
        d_hat = torch.sigmoid(disc(grid.float()[:, None])).double()
    support = (pd > NEGLIGIBLE * pd.max()) & (pg > NEGLIGIBLE * pg.max())  # both non-negligible
    err = (d_hat - d_star).abs()[support]
    return {"x": grid.numpy(), "d_star": d_star.numpy(), "d_hat": d_hat.numpy(), "support": support.numpy(),
            "max_error": float(err.max()), "mean_error": float(err.mean())}


def optimal_discriminator_2d(steps: int, seed: int, batch: int = 512, hidden: int = 128, lr: float = 1e-3):
    """The same on 2-D: p_data = a ring of 8 Gaussians (std 0.3, radius 2), p_g = N(0, 1.5^2 I)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    centres = 2.0 * torch.stack([angles.cos(), angles.sin()], 1)
    std_d, std_g = 0.3, 1.5

    def log_pd(x):
        d2 = ((x[:, None, :] - centres[None]) ** 2).sum(2)
        return torch.logsumexp(-d2 / (2 * std_d**2), 1) - math.log(8 * 2 * math.pi * std_d**2)

    def log_pg(x):
        return -(x**2).sum(1) / (2 * std_g**2) - math.log(2 * math.pi * std_g**2)

    disc = nets.code_discriminator(2, _mlp(hidden))
    opt, schedule = _optimiser(disc, lr, steps)
    for _ in range(steps):
        real = centres[torch.randint(0, 8, (batch,), generator=gen)] + std_d * torch.randn(batch, 2, generator=gen, dtype=torch.float64)
        fake = std_g * torch.randn(batch, 2, generator=gen, dtype=torch.float64)
        loss = losses.discriminator_loss(disc(real.float()), disc(fake.float()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    axis = torch.linspace(-3.5, 3.5, 141, dtype=torch.float64)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)
    pd, pg = log_pd(pts).exp(), log_pg(pts).exp()
    d_star = pd / (pd + pg)
    with torch.no_grad():
        d_hat = torch.sigmoid(disc(pts.float())).double()
    support = (pd > NEGLIGIBLE * pd.max()) & (pg > NEGLIGIBLE * pg.max())
    err = (d_hat - d_star).abs()[support]
    return {"axis": axis.numpy(), "d_star": d_star.reshape(xx.shape).numpy(), "d_hat": d_hat.reshape(xx.shape).numpy(),
            "max_error": float(err.max()), "mean_error": float(err.mean())}


# ----------------------------------------------------------------------------- 2. value at D*


def value_at_optimum(p_data, p_g, lo: float = -30.0, hi: float = 30.0, points: int = 200_001) -> dict[str, float]:
    """V(D*, G) = E_data log D* + E_g log(1 - D*) with the project's loss (V = -discriminator
    loss at the logits a* = log p_data - log p_g), and -log 4 + 2 JSD, both by the trapezoid
    rule on [lo, hi]."""
    x = torch.linspace(lo, hi, points, dtype=torch.float64)
    lpd, lpg = p_data.log_prob(x), p_g.log_prob(x)
    pd, pg = lpd.exp(), lpg.exp()
    a_star = lpd - lpg
    # -discriminator_loss, written pointwise: log D* = -softplus(-a*), log(1 - D*) = -softplus(a*)
    value = torch.trapezoid(pd * -torch.nn.functional.softplus(-a_star) + pg * -torch.nn.functional.softplus(a_star), x)
    log_m = torch.logaddexp(lpd, lpg) - math.log(2)  # log of the mixture, in log space: no underflow

    def kl(p, lp):  # KL(p || m), the integrand taken as 0 where p underflows to 0
        return torch.trapezoid(torch.where(p > 0, p * (lp - log_m), torch.zeros_like(p)), x)

    jsd = 0.5 * kl(pd, lpd) + 0.5 * kl(pg, lpg)
    return {"value": float(value), "jsd": float(jsd), "identity": float(-math.log(4) + 2 * jsd)}


# ----------------------------------------------------------------------------- 3. V(x, y) = xy


def bilinear_game(eta: float, steps: int, simultaneous: bool, start: tuple[float, float] = (1.0, 0.0)) -> np.ndarray:
    """Gradient descent for x (minimises V = xy) and ascent for y (maximises it), gradients
    by autograd. Returns the trajectory (steps + 1, 2)."""
    if not eta > 0:
        raise ValueError(f"step size eta must be > 0, got {eta}")
    x = torch.tensor(start[0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor(start[1], dtype=torch.float64, requires_grad=True)
    path = [start]
    for _ in range(steps):
        gx, gy = torch.autograd.grad(x * y, (x, y))
        with torch.no_grad():
            x -= eta * gx
            if not simultaneous:  # y sees the x that was just updated
                gy = x.detach().clone()
            y += eta * gy
        path.append((x.item(), y.item()))
    return np.array(path)


def radius_growth(path: np.ndarray) -> float:
    """Mean factor by which the distance to the equilibrium (0, 0) grows per step."""
    r = np.linalg.norm(path, axis=1)
    return float(np.exp(np.log(r[-1] / r[0]) / (len(r) - 1)))


# ----------------------------------------------------------------------------- 4. generator costs


def generator_cost_gradients(p_data: Gaussian1D, g_mean: float, g_std: float, samples: int, seed: int) -> dict:
    """Expected gradients w.r.t. the generator's (mean, std) of the `ml` and `kl` costs with
    D fixed at the optimum, by Monte Carlo through G(z) = mean + std * z, against the analytic
    gradients of KL(p_data || p_g) and KL(p_g || p_data) for Gaussians."""
    gen = torch.Generator().manual_seed(seed)
    mu = torch.tensor(g_mean, dtype=torch.float64, requires_grad=True)
    sigma = torch.tensor(g_std, dtype=torch.float64, requires_grad=True)
    p_g = Gaussian1D(g_mean, g_std)  # D* is fixed: the generator's move does not change it
    z = torch.randn(samples, generator=gen, dtype=torch.float64)
    x = mu + sigma * z
    a_star = p_data.log_prob(x) - p_g.log_prob(x)  # the optimal discriminator's logit
    out = {}
    for cost in ("ml", "kl"):
        grad = torch.autograd.grad(losses.GENERATOR_COSTS[cost](a_star), (mu, sigma), retain_graph=True)
        out[cost] = [float(g) for g in grad]
    md, sd = p_data.mean, p_data.std
    # d/d(mu, sigma) of KL(N(md, sd^2) || N(mu, sigma^2)) = log(sigma/sd) + (sd^2 + (md - mu)^2) / (2 sigma^2) - 1/2
    out["kl_data_g"] = [(g_mean - md) / g_std**2, 1 / g_std - (sd**2 + (md - g_mean) ** 2) / g_std**3]
    # d/d(mu, sigma) of KL(N(mu, sigma^2) || N(md, sd^2)) = log(sd/sigma) + (sigma^2 + (mu - md)^2) / (2 sd^2) - 1/2
    out["kl_g_data"] = [(g_mean - md) / sd**2, -1 / g_std + g_std / sd**2]
    return out
