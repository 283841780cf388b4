"""Variational autoencoder (Kingma & Welling 2014), the baseline the AAE paper compares to.

The encoder gives a Gaussian q(z|x) = N(mu(x), diag sigma^2(x)); the loss is the
negative ELBO with a unit-variance Gaussian decoder: squared error (the same
reconstruction every family here uses) + beta * KL(q(z|x) || N(0, I)).
"""
from __future__ import annotations

import torch

from . import losses, nets
from .base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, AutoencoderFamily, Hyper, Positive


class VAEHyper(Hyper):
    beta: Positive  # weight of the KL term (1 = the ELBO)


class VAE(AutoencoderFamily):
    name = "vae"
    Hyper = VAEHyper
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})
    fixed_prior = "gaussian"  # N(0, I), part of the model

    def __init__(self, spec, net, hp: VAEHyper):
        super().__init__(spec, net, hp)
        self.encoder = nets.encoder(spec, net, out_features=2 * spec.code_dim)  # (mu, log sigma^2)
        self.decoder = nets.decoder(spec, net)
        self.optimizers = {"vae": self.adam(self.encoder, self.decoder)}

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # reparameterisation
        recon = losses.reconstruction(self.decoder(z), x)
        kl = losses.gaussian_kl(mu, logvar)
        loss = recon + self.hp.beta * kl
        self.update("vae", loss)
        return {"loss/recon": recon.detach(), "loss/kl": kl.detach()}

    def encode(self, x):
        """The posterior mean: the code metrics and reconstructions use."""
        return self.encoder(x).chunk(2, dim=1)[0]
