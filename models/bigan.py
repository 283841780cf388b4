"""ALI / BiGAN (Dumoulin et al. 2017, "Adversarially Learned Inference"; Donahue et al. 2017,
"Adversarial Feature Learning").

An encoder E: x -> z and a generator G: z -> x play against one discriminator on
joint pairs: it tells (x, E(x)) from (G(z), z) (eq. 3 of Donahue et al.). At the
optimum the two joint distributions match and E inverts G. Reconstruction G(E(x))
is a by-product, never trained directly. E and G use the non-saturating form with
swapped labels (as in the ALI code): G wants its pairs called real, E its pairs fake.

With the uniform prior E's output is bounded to the prior's support, sqrt(3) tanh(.), as
BiGAN's code bounds it (`--noise u-50`, E(x) = 2 sigmoid(.) - 1 on U(-1, 1)): an unbounded
encoder can place codes where no prior sample ever falls, and on 8x8 digits it did (codes
~65 away from the prior in energy distance after 2,000 steps).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from . import losses, nets
from .base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, AutoencoderFamily, Hyper, Prior


class BiGANHyper(Hyper):
    prior: Prior  # p(z)


class Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.factor * x


class JointDiscriminator(nn.Module):
    """(x, z) -> logit: x through the shared data trunk, then an MLP on [features, z]."""

    def __init__(self, spec: nets.DataSpec, net: nets.NetConfig):
        super().__init__()
        self.body, width = nets.body(spec, net)
        self.head = nets.code_discriminator(width + spec.code_dim, net)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.body(x), z], 1))


class BiGAN(AutoencoderFamily):
    name = "bigan"
    Hyper = BiGANHyper
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})
    samplers = ("prior",)
    code_scale = 1.0  # the prior has unit variance per unit

    def __init__(self, spec, net, hp: BiGANHyper):
        super().__init__(spec, net, hp)
        bound = [nn.Tanh(), Scale(math.sqrt(3.0))] if hp.prior == "uniform" else []  # U(-sqrt 3, sqrt 3)'s support
        self.encoder = nn.Sequential(nets.encoder(spec, net), *bound)  # E
        self.decoder = nets.decoder(spec, net)  # G
        self.discriminator = JointDiscriminator(spec, net)
        self.optimizers = {
            "discriminator": self.adam(self.discriminator),
            "encoder_generator": self.adam(self.encoder, self.decoder),
        }

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.prior_sample(len(x))
        fake_x, enc_z = self.decoder(z), self.encoder(x)

        # Discriminator's turn: (x, E(x)) is "real", (G(z), z) is "fake".
        d_loss = losses.discriminator_loss(self.discriminator(x, enc_z.detach()),
                                           self.discriminator(fake_x.detach(), z))
        self.update("discriminator", d_loss)

        # E and G's turn: the same loss with the labels swapped.
        eg_loss = losses.discriminator_loss(self.discriminator(fake_x, z), self.discriminator(x, enc_z))
        self.update("encoder_generator", eg_loss)
        return {"loss/disc": d_loss.detach(), "loss/enc_gen": eg_loss.detach()}
