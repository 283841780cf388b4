"""PM + per-dimension scalar GANs: the talk's own proposal.

"Factorial" and "Gaussian" are asked for separately. PM's predictors (one per code
unit, as in models.pm) make the units independent; one scalar (1-D) discriminator
per unit tells that unit's values from N(0, 1) samples and pulls its marginal to
N(0, 1). Together: a factorial Gaussian code, which is what AAE's single vector GAN
is asked to produce. The talk expects d scalar games to train more easily and
stably than one d-dimensional game. The per-unit discriminators run as one
batched module (nets.UnitwiseMLP), not a Python loop over units.

The code units are unbounded (N(0, 1) is the target), so the predictability game is
played on the batch-standardised code: the raw error could be inflated by scaling a unit
up, or, divided by the unit's variance, by shrinking it under a predictor still tuned to
the old scale. Standardised, the game sees only dependence; scale is the scalar GANs' job.
"""
from __future__ import annotations

import torch

from . import losses, nets
from .base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, AutoencoderFamily, Count, Hyper, NonNegative, one_of
from .pm import Predictors


class PMGANHyper(Hyper):
    lam: NonNegative  # weight of unpredictability (PM) in the encoder's loss
    adv_weight: NonNegative  # weight of the scalar GANs in the encoder's loss
    predictor_hidden: Count  # hidden units of each per-unit predictor
    predictor_steps: Count  # predictor updates per encoder update: PM's predictors must keep up
    disc_hidden: Count  # hidden units of each per-unit (scalar) discriminator
    prior: one_of({"gaussian", "uniform"})  # each unit's target marginal: factorial priors only, the games are per unit


class PMGAN(AutoencoderFamily):
    """Samples decode N(0, I) draws: a factorial code with N(0, 1) marginals is N(0, I)."""

    name = "pm_gan"
    Hyper = PMGANHyper
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})
    samplers = ("prior",)
    code_scale = 1.0  # each unit is pulled to a unit-variance marginal

    def __init__(self, spec, net, hp: PMGANHyper):
        super().__init__(spec, net, hp)
        self.encoder = nets.encoder(spec, net)
        self.decoder = nets.decoder(spec, net)
        self.predictors = Predictors(spec.code_dim, hp.predictor_hidden)
        self.unit_discriminators = nets.UnitwiseMLP(spec.code_dim, 1, hp.disc_hidden)  # (B, d, 1) -> (B, d)
        self.optimizers = {
            "predictors": self.adam(self.predictors),
            "unit_discriminators": self.adam(self.unit_discriminators),
            "autoencoder": self.adam(self.encoder, self.decoder),
        }

    @staticmethod
    def standardise(code: torch.Tensor) -> torch.Tensor:
        """Each unit to zero mean and unit variance over the batch (B, d) -> (B, d)."""
        return (code - code.mean(0)) / code.std(0).clamp_min(1e-4)

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        code = self.encoder(x)  # (B, d), unbounded
        fixed = code.detach()
        standard = self.standardise(code)

        # Predictors' turn (PM): predict each (standardised) unit from the others.
        fixed_standard = standard.detach()
        for _ in range(self.hp.predictor_steps):
            pred_loss = losses.predictability(fixed_standard, self.predictors(fixed_standard))
            self.update("predictors", pred_loss)

        # Scalar discriminators' turn: unit i's discriminator sees only unit i; prior
        # samples are real, code values fake. The mean over units is the sum of d 1-D games.
        prior = self.prior_sample(len(x))
        d_loss = losses.discriminator_loss(self.unit_discriminators(prior.unsqueeze(2)),
                                           self.unit_discriminators(fixed.unsqueeze(2)))
        self.update("unit_discriminators", d_loss)

        # Encoder's turn: reconstruct, be unpredictable, fool every scalar discriminator.
        # Gradients also reach predictors and discriminators; their optimisers clear them.
        recon = losses.reconstruction(self.decoder(code), x)
        unpredictability = losses.predictability(standard, self.predictors(standard))
        adv = losses.generator_nonsaturating(self.unit_discriminators(code.unsqueeze(2)))
        loss = recon - self.hp.lam * unpredictability + self.hp.adv_weight * adv
        self.update("autoencoder", loss)
        return {"loss/recon": recon.detach(), "loss/predictors": pred_loss.detach(),
                "loss/unit_disc": d_loss.detach(), "loss/encoder_adv": adv.detach()}
