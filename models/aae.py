"""Adversarial Autoencoder (Makhzani et al. 2015, sec. 2).

An autoencoder whose code is pulled to a prior p(z) by a GAN played on codes:
the discriminator tells samples of p(z) (real) from codes E(x) (fake), and the
encoder, as the generator, fools it, so the aggregate posterior q(z) moves to
p(z). Each step has the paper's two phases: reconstruction, then regularisation
(discriminator, then encoder). Samples decode prior draws.
"""
from __future__ import annotations

import torch

from . import losses, nets
from .base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, AutoencoderFamily, Hyper, NonNegative, Prior


class AAEHyper(Hyper):
    prior: Prior  # the prior the codes must follow (factorial Gaussian in the paper)
    adv_weight: NonNegative  # weight of the encoder's adversarial loss against reconstruction


class AAE(AutoencoderFamily):
    name = "aae"
    Hyper = AAEHyper
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})
    samplers = ("prior",)
    code_scale = 1.0  # the prior has unit variance per unit

    def __init__(self, spec, net, hp: AAEHyper):
        super().__init__(spec, net, hp)
        self.encoder = nets.encoder(spec, net)
        self.decoder = nets.decoder(spec, net)
        self.discriminator = nets.code_discriminator(spec.code_dim, net)
        self.optimizers = {
            "autoencoder": self.adam(self.encoder, self.decoder),
            "discriminator": self.adam(self.discriminator),
            "encoder": self.adam(self.encoder),
        }

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # Reconstruction phase.
        recon = losses.reconstruction(self.decoder(self.encoder(x)), x)
        self.update("autoencoder", recon)

        # Regularisation phase, discriminator: prior samples are real, codes (detached) fake.
        code = self.encoder(x)
        prior = self.prior_sample(x.shape[0])
        d_loss = losses.discriminator_loss(self.discriminator(prior), self.discriminator(code.detach()))
        self.update("discriminator", d_loss)

        # Regularisation phase, encoder as generator (non-saturating cost, as in the paper's code).
        g_loss = self.hp.adv_weight * losses.generator_nonsaturating(self.discriminator(code))
        self.update("encoder", g_loss)
        return {"loss/recon": recon.detach(), "loss/disc": d_loss.detach(), "loss/encoder_adv": g_loss.detach()}
