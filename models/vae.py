"""Variational autoencoder (Kingma & Welling 2014), the baseline the AAE paper compares to.

The encoder gives a Gaussian q(z|x) = N(mu(x), diag sigma^2(x)); the loss is the negative
ELBO: -log p(x|z) + beta * KL(q(z|x) || N(0, I)). The decoder's likelihood decides how much
reconstruction weighs against the KL term, so it is matched to the data (`likelihood: auto`):
- data in [0, 1] (images): Bernoulli, -log p = binary cross-entropy, as Kingma & Welling
  (2014) and the AAE paper's VAE on MNIST;
- unbounded data: Gaussian N(x; G(z), s^2 I) with s the batch's maximum-likelihood scale,
  s^2 = mean squared error per feature (the "optimal sigma" VAE, Rybkin et al. 2021), or a
  fixed `decoder_std`.
(A sum of squared errors alone is the fixed choice s^2 = 1/2: on 8x8 images it let the KL
term switch most units off.) The KL term's weight rises linearly from 0 to beta over
`kl_warmup` steps (Bowman et al. 2016): without it a learned-scale decoder on the 2-D toys
fits the data's mean before the code carries anything, and the posterior collapses.

The code metrics read samples z ~ q(z|x) of the aggregate posterior (`code_sample`), not the
posterior means: units the KL term switched off have tiny, strongly collinear means, but
their samples are prior noise.
"""
from __future__ import annotations

import math
from typing import Literal, Optional

import torch
from torch.nn import functional as F

from . import losses, nets
from .base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, AutoencoderFamily, Hyper, NonNegativeInt, Positive

MIN_VARIANCE = 1e-6  # floor of the learned decoder variance: a perfect fit must not give log 0


class VAEHyper(Hyper):
    beta: Positive  # weight of the KL term (1 = the ELBO)
    likelihood: Literal["auto", "bernoulli", "gaussian"]  # auto: bernoulli for data in [0, 1], else gaussian
    decoder_std: Optional[Positive]  # the gaussian decoder's scale s; None: the batch's maximum-likelihood scale
    kl_warmup: NonNegativeInt  # steps over which the KL weight rises from 0 to beta (0: from the start)


class VAE(AutoencoderFamily):
    name = "vae"
    Hyper = VAEHyper
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})
    fixed_prior = "gaussian"  # N(0, I), part of the model
    samplers = ("prior",)
    code_scale = 1.0  # dead units: Burda et al.'s criterion, posterior-mean variance below 0.01

    def __init__(self, spec, net, hp: VAEHyper):
        super().__init__(spec, net, hp)
        self.encoder = nets.encoder(spec, net, out_features=2 * spec.code_dim)  # (mu, log sigma^2)
        self.decoder = nets.decoder(spec, net)
        self.optimizers = {"vae": self.adam(self.encoder, self.decoder)}
        self.bernoulli = hp.likelihood == "bernoulli" or (hp.likelihood == "auto" and spec.bounded)
        if self.bernoulli and not spec.bounded:
            raise ValueError("a Bernoulli decoder needs data in [0, 1]")
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))  # for the KL warm-up; checkpointed

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation
        x_hat = self.decoder(z)
        recon = losses.reconstruction(x_hat, x)  # squared error per example, summed over features: comparable across families
        out = {}
        if self.bernoulli:
            nll = F.binary_cross_entropy(x_hat.clamp(1e-6, 1 - 1e-6), x, reduction="none").flatten(1).sum(1).mean()
        else:
            features = x[0].numel()
            if self.hp.decoder_std is None:  # the batch's maximum-likelihood variance, held fixed for the step
                variance = (recon.detach() / features).clamp_min(MIN_VARIANCE)
            else:
                variance = torch.tensor(self.hp.decoder_std**2, device=x.device)
            nll = 0.5 * features * torch.log(2 * math.pi * variance) + recon / (2 * variance)  # -log N(x; G(z), s^2 I)
            out["loss/decoder_std"] = variance.sqrt()
        kl = losses.gaussian_kl(mu, logvar)
        self.steps_done += 1
        warm = (self.steps_done / self.hp.kl_warmup).clamp(max=1.0) if self.hp.kl_warmup else 1.0  # a tensor: no host sync
        self.update("vae", nll + warm * self.hp.beta * kl)
        return {"loss/recon": recon.detach(), "loss/nll": nll.detach(), "loss/kl": kl.detach(), **out}

    def encode(self, x):
        """The posterior mean: reconstructions and the dead-unit count use it."""
        return self.encoder(x).chunk(2, dim=1)[0]

    def code_sample(self, x, gen=None):
        """z ~ q(z|x): a draw of the aggregate posterior, which the code metrics read."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu + torch.randn(mu.shape, generator=gen, device=mu.device) * (0.5 * logvar).exp()
