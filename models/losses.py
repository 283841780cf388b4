"""Pure loss functions: tensors in, scalar tensor out, no state.

Every two-player game in the zoo (GAN, AAE, PM, PM + scalar GANs) is written
with these, so a loss is implemented once and every family that plays the
same game plays it the same way. Logits `a` are pre-sigmoid: D = sigmoid(a).
"""
from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

Tensor = torch.Tensor


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Goodfellow et al. 2014, eq. (1), the discriminator's side, as a loss to minimise:
    -E log D(x) - E log(1 - D(G(z))), with log D = -softplus(-a), log(1 - D) = -softplus(a)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_minimax(fake_logits: Tensor) -> Tensor:
    """Goodfellow 2014 eq. (1), generator side: min E log(1 - D(G(z))).
    Saturates when D rejects the samples confidently (gradient -> 0)."""
    return -F.softplus(fake_logits).mean()


def generator_nonsaturating(fake_logits: Tensor) -> Tensor:
    """Goodfellow 2014 sec. 3: max E log D(G(z)), i.e. min E softplus(-a)."""
    return F.softplus(-fake_logits).mean()


def generator_kl(fake_logits: Tensor) -> Tensor:
    """Huszar's combined update (sum of minimax and non-saturating costs):
    min E[-a(G(z))]; at the optimal D, a = log p_data/p_g, so this is KL(p_g || p_data)."""
    return -fake_logits.mean()


def generator_ml(fake_logits: Tensor) -> Tensor:
    """Goodfellow's NIPS 2016 tutorial, sec. 8.3: min E[-exp(a(G(z)))]. At the optimal D,
    exp(a) = p_data/p_g and the expected gradient equals that of KL(p_data || p_g)."""
    return -torch.exp(fake_logits).mean()


GENERATOR_COSTS: dict[str, Callable[[Tensor], Tensor]] = {
    "minimax": generator_minimax,
    "nonsaturating": generator_nonsaturating,
    "kl": generator_kl,
    "ml": generator_ml,
}


def reconstruction(x_hat: Tensor, x: Tensor) -> Tensor:
    """Mean squared error per example, summed over features, averaged over the batch."""
    return (x_hat - x).pow(2).flatten(1).sum(1).mean()


def predictability(code: Tensor, predictions: Tensor) -> Tensor:
    """Schmidhuber 1992, eq. (2): sum_i E[(c_i - f_i(c_{-i}))^2].
    The predictors minimise it; PM's encoder maximises it (the same number, the other player)."""
    return (code - predictions).pow(2).sum(1).mean()
