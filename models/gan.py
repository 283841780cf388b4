"""Generative Adversarial Networks (Goodfellow et al. 2014).

D maximises E log D(x) + E log(1 - D(G(z))) (eq. 1). The generator's cost is
selectable (see losses.GENERATOR_COSTS): `minimax`, `nonsaturating`, `kl`
(Huszar) and `ml` (Goodfellow's tutorial, sec. 8.3). The prior p(z) is
selectable too: in the talk's terms the generator is "inverse PM", mapping a
factorial code to the data, but nothing forces the noise to be factorial.
"""
from __future__ import annotations

import torch

from . import losses, nets
from .base import DECODE, SAMPLE, Count, Family, Hyper, Prior, one_of

GenCost = one_of(losses.GENERATOR_COSTS)


class GANHyper(Hyper):
    gen_cost: GenCost  # the generator's cost: one of losses.GENERATOR_COSTS
    prior: Prior  # p(z): one of priors.PRIORS
    disc_steps: Count  # discriminator updates per generator update


class GAN(Family):
    name = "gan"
    Hyper = GANHyper
    capabilities = frozenset({DECODE, SAMPLE})
    samplers = ("prior",)

    def __init__(self, spec, net, hp: GANHyper):
        super().__init__(spec, net, hp)
        self.generator = nets.decoder(spec, net)
        self.discriminator = nets.discriminator(spec, net)
        self.gen_cost = losses.GENERATOR_COSTS[hp.gen_cost]
        self.optimizers = {
            "discriminator": self.adam(self.discriminator),
            "generator": self.adam(self.generator),
        }

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n = x.shape[0]
        # Discriminator's turn: real x against detached samples.
        for _ in range(self.hp.disc_steps):
            fake = self.generator(self.prior_sample(n)).detach()
            d_loss = losses.discriminator_loss(self.discriminator(x), self.discriminator(fake))
            self.update("discriminator", d_loss)

        # Generator's turn: gradients flow through D into G; D's own gradients are
        # cleared by its optimiser before its next step.
        g_loss = self.gen_cost(self.discriminator(self.generator(self.prior_sample(n))))
        # The norm of G's gradient shows a cost that saturates (the minimax cost when D is sure).
        grad = self.update("generator", g_loss, grad_norm=True)
        return {"loss/disc": d_loss.detach(), "loss/gen": g_loss.detach(), "grad/gen": grad}

    def decode(self, code):
        return self.generator(code)

    @torch.no_grad()
    def sample(self, n, gen=None):
        return self.generator(self.prior_sample(n, gen))
