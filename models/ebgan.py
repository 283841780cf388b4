"""Energy-based GAN (Zhao, Mathieu & LeCun 2017, "Energy-based Generative Adversarial Network").

The discriminator is an autoencoder; the energy of x is the norm of its reconstruction
error, E(x) = ||Dec(Enc(x)) - x|| (eq. 13: the L2 norm over all features, not a per-pixel
mean), so the margin lives on the energy's scale. D lowers the energy of data and pushes
the energy of samples up to a margin: L_D = E(x) + [m - E(G(z))]^+ (eq. 1). The generator
lowers the energy of its samples, plus the pull-away term on their codes in D's encoder
that keeps a batch's samples apart: L_G = E(G(z)) + lambda_PT * PT (eq. 2, 4).

On data bounded in [0, 1] the energy can never exceed sqrt(features): a margin at or above
that keeps the hinge active forever (D pushes every sample, however bad, and G gets no
signal from it), so such a margin is refused before any compute.
"""
from __future__ import annotations

import torch

from . import losses, nets
from .base import CRITIC_CODES, DECODE, SAMPLE, Family, Hyper, NonNegative, Positive, Prior


class EBGANHyper(Hyper):
    prior: Prior  # p(z)
    margin: Positive  # m: energy above which D stops pushing samples up (the energy is an L2 norm)
    pt_weight: NonNegative  # lambda_PT: weight of the pull-away term (paper: 0.1)


class EBGAN(Family):
    name = "ebgan"
    Hyper = EBGANHyper
    capabilities = frozenset({DECODE, SAMPLE, CRITIC_CODES})
    samplers = ("prior",)

    def __init__(self, spec, net, hp: EBGANHyper):
        super().__init__(spec, net, hp)
        self.generator = nets.decoder(spec, net)
        self.d_encoder = nets.encoder(spec, net)
        self.d_decoder = nets.decoder(spec, net)
        self.optimizers = {
            "discriminator": self.adam(self.d_encoder, self.d_decoder),
            "generator": self.adam(self.generator),
        }

    @classmethod
    def refuse(cls, hp: EBGANHyper, data) -> tuple[str, str] | None:
        if data.bounded and hp.margin >= data.features ** 0.5:
            return "margin", (f"margin must be < {data.features ** 0.5:g}, got {hp.margin:g}: the energy, the L2 norm "
                              f"of the reconstruction error of {data.features} values in [0, 1], never reaches it")
        return None

    def energy(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example energy ||Dec(Enc(x)) - x|| (B,) and D's codes (B, code_dim)."""
        code = self.d_encoder(x)
        return (self.d_decoder(code) - x).flatten(1).norm(dim=1), code

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        fake = self.generator(self.prior_sample(len(x)))

        # Discriminator's turn: low energy for data, at least the margin for samples.
        real_energy, _ = self.energy(x)
        fake_energy, _ = self.energy(fake.detach())
        d_loss = real_energy.mean() + torch.relu(self.hp.margin - fake_energy).mean()
        self.update("discriminator", d_loss)

        # Generator's turn: low energy, and codes pulled apart within the batch.
        energy, code = self.energy(fake)
        pt = losses.pull_away(code)
        g_loss = energy.mean() + self.hp.pt_weight * pt
        self.update("generator", g_loss)
        return {"loss/disc": d_loss.detach(), "loss/gen": g_loss.detach(), "loss/pull_away": pt.detach()}

    @torch.no_grad()
    def critic_codes(self, x: torch.Tensor):
        """The codes of `x` in D's encoder, where the pull-away term acts: (B, code_dim) numpy."""
        return self.d_encoder(x).cpu().double().numpy()

    def decode(self, code):
        return self.generator(code)

    @torch.no_grad()
    def sample(self, n, gen=None):
        return self.generator(self.prior_sample(n, gen))
