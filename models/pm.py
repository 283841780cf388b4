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
from .base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, AutoencoderFamily, Count, Hyper, NonNegative


class PMHyper(Hyper):
    lam: NonNegative  # weight of the predictability term in the encoder's loss
    predictor_hidden: Count  # hidden units of each per-unit predictor
    predictor_steps: Count  # predictor updates per encoder update (the paper lets them run faster)


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
    # PM samples by decoding codes whose units are shuffled independently across a
    # batch of encoded data, i.e. samples of prod_i q(c_i): if the code is factorial,
    # that is the aggregate posterior itself.
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT, SAMPLE})

    def __init__(self, spec, net, hp: PMHyper):
        super().__init__(spec, net, hp)
        self.encoder = nets.encoder(spec, net, out=nn.Sigmoid())
        self.decoder = nets.decoder(spec, net)
        self.predictors = Predictors(spec.code_dim, hp.predictor_hidden)
        self.optimizers = {
            "predictors": self.adam(self.predictors),
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
        recon = losses.reconstruction(self.decoder(code), x)
        unpredictability = losses.predictability(code, self.predictors(code))
        loss = recon - self.hp.lam * unpredictability
        self.update("autoencoder", loss)
        return {
            "loss/recon": recon.detach(),
            "loss/predictors": pred_loss.detach(),
            "loss/encoder": loss.detach(),
        }


    @torch.no_grad()
    def sample(self, n, gen=None, reference=None):
        if reference is None:
            raise ValueError("pm samples through its codes: pass a reference batch of data")
        code = self.encoder(reference[:n])
        # An independent permutation per unit breaks every dependency between units
        # and keeps each unit's marginal: samples of prod_i q(c_i).
        order = torch.argsort(torch.rand(code.shape, generator=gen, device=code.device), dim=0)
        return self.decoder(torch.gather(code, 0, order))
