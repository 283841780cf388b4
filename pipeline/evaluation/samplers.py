"""How a trained family draws new examples: every sample-based number names its sampler.

- `prior`: decode draws of the family's prior p(z) (GAN, AAE, WAE, VAE, PM + scalar GANs,
  BiGAN, EBGAN, InfoGAN): the family's own way to generate.
- `shuffled_codes`: encode n training examples and permute every code unit independently
  across them before decoding: samples of prod_i q(c_i), the product of the empirical
  marginals of the aggregate posterior. If the code is factorial this is the aggregate
  posterior itself. It is how the talk samples PM, and it reproduces any data set that is
  factorial in the code's axes (grid25 is, in x and y), so it needs its control: the same
  sampler on a plain autoencoder.
- `fitted_marginals`: a factorial prior fitted once on the training codes, one histogram
  density per unit (HISTOGRAM_BINS equal bins over the unit's observed range), then sampled
  afresh like a fixed prior: the route that makes PM comparable with the families that
  decode prior draws. A histogram keeps sharp, multi-modal marginals (a kernel density with
  Silverman's bandwidth blurred grid25's five peaks per axis into one) and never puts mass
  outside the observed range.
"""
from __future__ import annotations

from typing import Callable

import torch

from models import Family

FIT_CODES = 10_000  # training examples encoded to fit `fitted_marginals` (all when fewer)
HISTOGRAM_BINS = 256


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
    codes = model.encode(x_train[:FIT_CODES])  # (m, d)
    lo, hi = codes.min(0).values, codes.max(0).values
    width = (hi - lo).clamp_min(1e-12) / HISTOGRAM_BINS
    bins = ((codes - lo) / width).long().clamp(0, HISTOGRAM_BINS - 1)  # (m, d)
    drawn = []
    for unit in range(codes.shape[1]):  # a bin by its count, then a point uniformly within it
        counts = torch.bincount(bins[:, unit], minlength=HISTOGRAM_BINS).double()
        pick = torch.multinomial(counts, n, replacement=True, generator=gen)
        drawn.append(lo[unit] + (pick + torch.rand(n, generator=gen, device=codes.device)) * width[unit])
    return model.decode(torch.stack(drawn, 1).to(codes.dtype))


SAMPLERS: dict[str, Callable[[Family, int, torch.Generator, torch.Tensor], torch.Tensor]] = {
    "prior": prior,
    "shuffled_codes": shuffled_codes,
    "fitted_marginals": fitted_marginals,
}
