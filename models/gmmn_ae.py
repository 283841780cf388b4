"""GMMN+AE (Li, Swersky & Zemel 2015, "Generative Moment Matching Networks", section 3.3): a
generative moment matching network trained on an autoencoder's codes, its samples decoded.

Two phases, as in the paper's code (yujiali/gmmn, train.py `mnist_mmd_code_space`): the
autoencoder trains alone on reconstruction (sigmoid codes), then it is frozen and a generator
G: noise -> code learns to match the distribution of the training codes by minimising the MMD
between a batch of its outputs and a batch of codes. Samples are decoder(G(noise)). The paper's
run spent 3,000 iterations on the autoencoder and 40,000 on the GMMN; here `ae_share` of the
trial's steps go to the autoencoder and the rest to the GMMN (params.yaml gives the reason for
its value).

Differences from the paper's code, each a simplification this zoo's shared parts impose: the
nets are the zoo's (nets.py; the paper's AE is 784-1024-32 with dropout, its GMMN 10-64-256-
256-1024), the noise has the code's size, the MMD is `losses.mmd` (the unbiased multi-scale RBF
statistic of WAE-MMD; the paper minimised the square root of a one-bandwidth MMD) on the trial's
batch (the paper's GMMN used batches of 1,000), and Adam replaces momentum SGD.
"""
from __future__ import annotations

import torch
from torch import nn

from . import losses, nets
from .base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, AutoencoderFamily, Hyper, Prior, Share
from .priors import PRIORS


class GMMNAEHyper(Hyper):
    noise: Prior  # the GMMN's input noise (the paper's: uniform)
    ae_share: Share  # share of the trial's steps that train the autoencoder before the GMMN


class GMMNAE(AutoencoderFamily):
    name = "gmmn_ae"
    Hyper = GMMNAEHyper
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})
    samplers = ("prior",)  # decoder(G(noise)): the GMMN's draws
    code_scale = 0.5  # the largest std a unit in (0, 1) can have

    def __init__(self, spec, net, hp: GMMNAEHyper):
        super().__init__(spec, net, hp)
        self.encoder = nets.encoder(spec, net, out=nn.Sigmoid())
        self.decoder = nets.decoder(spec, net)
        self.generator = nets.mlp(spec.code_dim, spec.code_dim, net, out=nn.Sigmoid())  # the GMMN: noise -> code
        self.optimizers = {"autoencoder": self.adam(self.encoder, self.decoder), "gmmn": self.adam(self.generator)}
        # steps taken, kept with the weights so that a resumed trial stays in its phase
        self.register_buffer("steps_taken", torch.zeros((), dtype=torch.long))
        self.ae_steps = 0  # set by `plan`

    def plan(self, steps: int) -> None:
        self.ae_steps = max(1, round(self.hp.ae_share * steps))

    def noise(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        return PRIORS[self.hp.noise](n, self.spec.code_dim, gen, self.device)

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step of the phase the trial is in. Both losses are reported at every step (the
        resting player's without a gradient), so each curve spans the whole trial."""
        self.steps_taken += 1
        if self.steps_taken <= self.ae_steps:
            codes = self.encoder(x)
            recon = losses.reconstruction(self.decoder(codes), x)
            self.update("autoencoder", recon)
            with torch.no_grad():
                mmd = losses.mmd(self.generator(self.noise(len(x))), codes.detach())
            return {"loss/recon": recon.detach(), "loss/mmd": mmd}
        with torch.no_grad():
            codes = self.encoder(x)  # the frozen autoencoder's codes: the GMMN's data
            recon = losses.reconstruction(self.decoder(codes), x)
        mmd = losses.mmd(self.generator(self.noise(len(x))), codes)
        self.update("gmmn", mmd)
        return {"loss/recon": recon, "loss/mmd": mmd.detach()}

    @torch.no_grad()
    def sample(self, n, gen=None):
        return self.decoder(self.generator(self.noise(n, gen)))
