"""Predictability Minimization (Schmidhuber 1992, "Learning factorial codes by
predictability minimization", Neural Computation 4(6)).

Code units are bounded by a sigmoid, as in the paper. One predictor f_i per unit
sees all the *other* units and predicts c_i; the predictors minimise
L_pred = sum_i E[(c_i - f_i(c_{-i}))^2] (eq. 2). The encoder plays the other
side: it minimises reconstruction - lambda * L_pred, making every unit
unpredictable from its siblings, which is what a factorial code means. The game
is a regulariser on an autoencoder, not the whole objective.
"""
from __future__ import annotations

import torch
from torch import nn

from . import losses, nets
from .base import DECODE, ENCODE, RECONSTRUCT, AutoencoderFamily, Count, Hyper, NonNegative, Positive


class PMHyper(Hyper):
    lam: NonNegative  # weight of the predictability term in the encoder's loss
    predictor_hidden: Count  # hidden units of each per-unit predictor
    # The paper lets the predictors run ahead of the code: 5 predictor epochs per pass
    # off-line, a 10x learning rate on-line (sec. 7). Both knobs are here.
    predictor_steps: Count  # predictor updates per encoder update
    predictor_lr_mult: Positive  # the predictors' learning rate as a multiple of `lr`
    recon_weight: NonNegative  # weight of reconstruction; 0 = the 1992 paper's T = V_C alone (no decoder trained)


class Predictors(nn.Module):
    """All code_dim predictors at once: code (B, d) -> predictions (B, d), where
    prediction i never sees unit i (it is masked out of predictor i's input)."""

    def __init__(self, code_dim: int, hidden: int):
        super().__init__()
        self.nets = nets.UnitwiseMLP(code_dim, code_dim, hidden)
        self.register_buffer("mask", 1.0 - torch.eye(code_dim))  # row i: every unit but i

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.nets(code.unsqueeze(1) * self.mask)  # (B, d, d) -> (B, d)


class PM(AutoencoderFamily):
    name = "pm"
    Hyper = PMHyper
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT})
    # PM has no prior to decode: it samples through its codes (pipeline/evaluation/samplers.py), either
    # shuffling each unit across encoded data (samples of prod_i q(c_i), the talk's route) or
    # from per-unit densities fitted to the training codes.
    samplers = ("shuffled_codes", "fitted_marginals")
    code_scale = 0.5  # the largest std a unit in (0, 1) can have

    def __init__(self, spec, net, hp: PMHyper):
        super().__init__(spec, net, hp)
        self.encoder = nets.encoder(spec, net, out=nn.Sigmoid())
        self.decoder = nets.decoder(spec, net)
        self.predictors = Predictors(spec.code_dim, hp.predictor_hidden)
        self.optimizers = {
            "predictors": self.adam(self.predictors, lr=hp.lr * hp.predictor_lr_mult),
            "autoencoder": self.adam(self.encoder, self.decoder),
        }

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        code = self.encoder(x)  # (B, d) in (0, 1)

        # Predictors' turn: learn to predict each unit from the others (code detached:
        # the encoder is not theirs to move).
        fixed = code.detach()
        for _ in range(self.hp.predictor_steps):
            pred_loss = losses.predictability(fixed, self.predictors(fixed))
            self.update("predictors", pred_loss)

        # Encoder's turn: reconstruct, and maximise the predictors' error. Gradients
        # also land on the predictors here; their optimiser clears them before its next step.
        unpredictability = losses.predictability(code, self.predictors(code))
        if self.hp.recon_weight:
            recon = losses.reconstruction(self.decoder(code), x)
            loss = self.hp.recon_weight * recon - self.hp.lam * unpredictability
        else:  # the 1992 objective: the decoder is not trained, so its graph is not built (recon is only logged)
            with torch.no_grad():
                recon = losses.reconstruction(self.decoder(fixed), x)
            loss = -self.hp.lam * unpredictability
        self.update("autoencoder", loss)
        return {
            "loss/recon": recon.detach(),
            "loss/predictors": pred_loss.detach(),
            "loss/encoder": loss.detach(),
        }

