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


MMD_SCALES = (0.2, 0.5, 1.0, 2.0, 5.0)  # RBF bandwidths relative to sqrt(dim): multi-scale, as in WAE


def mmd(x: Tensor, y: Tensor, scales: tuple[float, ...] = MMD_SCALES) -> Tensor:
    """Unbiased squared MMD between samples x (n, d) and y (m, d) under a sum of RBF kernels
    k(a, b) = exp(-|a - b|^2 / (2 s^2 d)) (Gretton et al. 2012, eq. 3; Tolstikhin et al. 2018,
    WAE-MMD, with several scales so no single bandwidth has to fit). Near 0 for one distribution."""
    d = x.shape[1]
    xx, yy, xy = torch.cdist(x, x).pow(2), torch.cdist(y, y).pow(2), torch.cdist(x, y).pow(2)
    n, m = len(x), len(y)
    off_x = 1.0 - torch.eye(n, device=x.device, dtype=x.dtype)
    off_y = 1.0 - torch.eye(m, device=y.device, dtype=y.dtype)
    total = x.new_zeros(())
    for s in scales:
        bw = 2 * (s**2) * d
        total = total + ((torch.exp(-xx / bw) * off_x).sum() / (n * (n - 1))
                         + (torch.exp(-yy / bw) * off_y).sum() / (m * (m - 1))
                         - 2 * torch.exp(-xy / bw).mean())
    return total


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per example, averaged over the batch
    (Kingma & Welling 2014, appendix B)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()


def pull_away(codes: Tensor) -> Tensor:
    """EBGAN's pull-away term (Zhao et al. 2017, eq. 4): the mean squared cosine similarity
    between the codes of different samples of a batch; 0 for orthogonal codes, 1 for identical."""
    unit = torch.nn.functional.normalize(codes.flatten(1), dim=1)
    n = len(unit)
    cos2 = (unit @ unit.T).pow(2)
    return (cos2.sum() - cos2.diagonal().sum()) / (n * (n - 1))
