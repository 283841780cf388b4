"""How a trained family draws new examples: every sample-based number names its sampler.

- `prior`: decode draws of the family's prior p(z) (GAN, AAE, WAE, VAE, PM + scalar GANs,
  BiGAN, EBGAN, InfoGAN): the family's own way to generate.
- `shuffled_codes`: encode n training examples and permute every code unit independently
  across them before decoding: samples of prod_i q(c_i), the product of the empirical
  marginals of the aggregate posterior. If the code is factorial this is the aggregate
  posterior itself. It is how the talk samples PM, and it reproduces any data set that is
  factorial in the code's axes (grid25 is, in x and y), so it needs its control: the same
  sampler on a plain autoencoder.
- `fitted_marginals`: a factorial prior fitted once on the training codes, one kernel density
  per unit (Gaussian kernels, Silverman's bandwidth, kept within the unit's observed range),
  then sampled afresh like a fixed prior: the route that makes PM comparable with the
  families that decode prior draws.
"""
from __future__ import annotations

from typing import Callable

import torch

from models import Family

FIT_CODES = 10_000  # training examples encoded to fit `fitted_marginals` (all when fewer)


@torch.no_grad()
def prior(model: Family, n: int, gen: torch.Generator, x_train: torch.Tensor) -> torch.Tensor:
    return model.sample(n, gen)


@torch.no_grad()
def shuffled_codes(model: Family, n: int, gen: torch.Generator, x_train: torch.Tensor) -> torch.Tensor:
    idx = torch.randint(0, len(x_train), (n,), generator=gen, device=x_train.device)
    code = model.encode(x_train[idx])  # (n, d)
    order = torch.argsort(torch.rand(code.shape, generator=gen, device=code.device), dim=0)
    return model.decode(torch.gather(code, 0, order))


@torch.no_grad()
def fitted_marginals(model: Family, n: int, gen: torch.Generator, x_train: torch.Tensor) -> torch.Tensor:
    fit = x_train[:FIT_CODES]
    codes = model.encode(fit)  # (m, d)
    m = len(codes)
    bandwidth = 1.06 * codes.std(0) * m ** (-1 / 5)  # Silverman's rule, per unit
    pick = torch.randint(0, m, (n, codes.shape[1]), generator=gen, device=codes.device)  # a training value per unit
    drawn = torch.gather(codes, 0, pick) + bandwidth * torch.randn(n, codes.shape[1], generator=gen, device=codes.device)
    return model.decode(drawn.clamp(codes.min(0).values, codes.max(0).values))


SAMPLERS: dict[str, Callable[[Family, int, torch.Generator, torch.Tensor], torch.Tensor]] = {
    "prior": prior,
    "shuffled_codes": shuffled_codes,
    "fitted_marginals": fitted_marginals,
}
