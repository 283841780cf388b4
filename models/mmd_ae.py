"""MMD-regularised autoencoder: WAE-MMD (Tolstikhin et al. 2018, "Wasserstein Auto-Encoders",
Algorithm 2).

Reconstruction + lambda * MMD(q(z), p(z)): the aggregate posterior is pulled to the
prior by a kernel two-sample statistic instead of a discriminator. This is the
non-adversarial way to match a simple prior that Huszar suggests in place of AAE.
"""
from __future__ import annotations

import torch

from . import losses, nets
from .base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, AutoencoderFamily, Hyper, NonNegative, Prior


class MMDAEHyper(Hyper):
    prior: Prior  # the prior the codes must follow
    lam: NonNegative  # weight of MMD against reconstruction (WAE's lambda)


class MMDAE(AutoencoderFamily):
    name = "mmd_ae"
    Hyper = MMDAEHyper
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})
    samplers = ("prior",)
    code_scale = 1.0  # the prior has unit variance per unit

    def __init__(self, spec, net, hp: MMDAEHyper):
        super().__init__(spec, net, hp)
        self.encoder = nets.encoder(spec, net)
        self.decoder = nets.decoder(spec, net)
        self.optimizers = {"autoencoder": self.adam(self.encoder, self.decoder)}

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        code = self.encoder(x)
        recon = losses.reconstruction(self.decoder(code), x)
        mmd = losses.mmd(code, self.prior_sample(len(x)))
        loss = recon + self.hp.lam * mmd
        self.update("autoencoder", loss)
        return {"loss/recon": recon.detach(), "loss/mmd": mmd.detach()}
