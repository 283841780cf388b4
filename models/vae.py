"""Variational autoencoder (Kingma & Welling 2014), the baseline the AAE paper compares to.

The encoder gives a Gaussian q(z|x) = N(mu(x), diag sigma^2(x)); the loss is the negative
ELBO: -log p(x|z) + beta * KL(q(z|x) || N(0, I)), with a Gaussian decoder N(x; G(z), s^2 I).
The decoder's scale s decides how much reconstruction weighs against the KL term, so it is
matched to the data rather than fixed: by default it is the maximum-likelihood scale of the
batch, s^2 = mean squared error per feature (the "optimal sigma" VAE, Rybkin et al. 2021);
a fixed `decoder_std` can be set instead. (A sum of squared errors alone is the fixed
choice s^2 = 1/2, which on 8x8 images lets the KL term switch most units off.)

The code metrics read samples z ~ q(z|x) of the aggregate posterior (`code_sample`), not the
posterior means: units the KL term switched off have tiny, strongly collinear means, but
their samples are prior noise.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from . import losses, nets
from .base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, AutoencoderFamily, Hyper, Positive

MIN_VARIANCE = 1e-6  # floor of the learned decoder variance: a perfect fit must not give log 0


class VAEHyper(Hyper):
    beta: Positive  # weight of the KL term (1 = the ELBO)
    decoder_std: Optional[Positive]  # the decoder's scale s; None: the batch's maximum-likelihood scale


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

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation
        recon = losses.reconstruction(self.decoder(z), x)  # squared error per example, summed over features
        features = x[0].numel()
        if self.hp.decoder_std is None:  # the batch's maximum-likelihood variance, held fixed for the step
            variance = (recon.detach() / features).clamp_min(MIN_VARIANCE)
        else:
            variance = torch.tensor(self.hp.decoder_std**2, device=x.device)
        nll = 0.5 * features * torch.log(2 * math.pi * variance) + recon / (2 * variance)  # -log N(x; G(z), s^2 I)
        kl = losses.gaussian_kl(mu, logvar)
        loss = nll + self.hp.beta * kl
        self.update("vae", loss)
        return {"loss/recon": recon.detach(), "loss/nll": nll.detach(), "loss/kl": kl.detach(),
                "loss/decoder_std": variance.sqrt()}

    def encode(self, x):
        """The posterior mean: reconstructions and the dead-unit count use it."""
        return self.encoder(x).chunk(2, dim=1)[0]

    def code_sample(self, x, gen=None):
        """z ~ q(z|x): a draw of the aggregate posterior, which the code metrics read."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu + torch.randn(mu.shape, generator=gen, device=mu.device) * (0.5 * logvar).exp()
