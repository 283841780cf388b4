"""InfoGAN (Chen et al. 2016, "InfoGAN: Interpretable Representation Learning by Information
Maximizing Generative Adversarial Nets").

The generator's input is (z, c): noise z from the prior plus a structured code c =
one `cat_dim`-way categorical and `cont_dim` uniform(-1, 1) continuous units. An
auxiliary head Q(c | x) on the discriminator's body reconstructs c from the
generated image; maximising this variational lower bound on I(c; G(z, c)) (eq. 4-6)
is cross-entropy for the categorical part and squared error (a fixed-variance
Gaussian) for the continuous part. As the talk puts it: InfoGAN's Q is the encoder
of an autoencoder that reconstructs part of the generator's code.
"""
from __future__ import annotations

from typing import Annotated

import annotated_types as at
import torch
from pydantic import Field, Strict
from torch import nn
from torch.nn import functional as F

from . import losses, nets
from .base import INFER_CODE, SAMPLE, Family, Hyper, NonNegative, NonNegativeInt, Prior
from .gan import GenCost


class InfoGANHyper(Hyper):
    gen_cost: GenCost  # the generator's cost (losses.GENERATOR_COSTS)
    prior: Prior  # the prior of the unstructured noise z
    # categories of the categorical code (10 digit classes in the paper)
    cat_dim: Annotated[int, Strict(), at.Ge(2), Field(description="a categorical code needs two values")]
    cont_dim: NonNegativeInt  # continuous uniform(-1, 1) codes
    lambda_cat: NonNegative  # weight of the categorical information term (paper: 1)
    lambda_cont: NonNegative  # weight of the continuous information term (paper: 0.1 for MNIST)


class InfoGAN(Family):
    name = "infogan"
    Hyper = InfoGANHyper
    # G's input is structured (z, c), so plain `decode(code)` is not offered.
    capabilities = frozenset({SAMPLE, INFER_CODE})
    samplers = ("prior",)

    def __init__(self, spec, net, hp: InfoGANHyper):
        super().__init__(spec, net, hp)
        self.generator = nets.decoder(spec, net, in_features=spec.code_dim + hp.cat_dim + hp.cont_dim)
        self.body, width = nets.body(spec, net)
        self.d_head = nn.Linear(width, 1)
        self.q_head = nn.Sequential(nn.Linear(width, net.hidden), nn.LeakyReLU(0.2),
                                    nn.Linear(net.hidden, hp.cat_dim + hp.cont_dim))
        self.gen_cost = losses.GENERATOR_COSTS[hp.gen_cost]
        # As in the paper's code, D and Q (one network with two heads) and G all maximise
        # the information term: the shared body learns features that reveal c.
        self.optimizers = {
            "discriminator": self.adam(self.body, self.d_head, self.q_head),
            "generator": self.adam(self.generator),
        }

    def latent(self, n: int, gen: torch.Generator | None = None):
        """(z, c_cat, c_cont, G's input): noise, categories (n,), continuous codes (n, cont_dim)."""
        z = self.prior_sample(n, gen)
        cat = torch.randint(0, self.hp.cat_dim, (n,), generator=gen, device=self.device)
        cont = torch.rand(n, self.hp.cont_dim, generator=gen, device=self.device) * 2 - 1
        return z, cat, cont, torch.cat([z, F.one_hot(cat, self.hp.cat_dim).float(), cont], 1)

    def infer_code(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Q(c | x): categorical logits (B, cat_dim) and continuous means (B, cont_dim)."""
        q = self.q_head(self.body(x))
        return q[:, :self.hp.cat_dim], q[:, self.hp.cat_dim:]

    def information(self, features: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor):
        """The information terms (to minimise): -log Q(c_cat | x) and |c_cont - Q_mean(x)|^2,
        i.e. the variational lower bound on I(c; G(z, c)) up to constants (eq. 4)."""
        q = self.q_head(features)
        info_cat = F.cross_entropy(q[:, :self.hp.cat_dim], cat)
        info_cont = (q[:, self.hp.cat_dim:] - cont).pow(2).sum(1).mean() if self.hp.cont_dim else q.new_zeros(())
        return info_cat, info_cont

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        _, cat, cont, g_input = self.latent(len(x))
        fake = self.generator(g_input)

        # Discriminator and Q's turn: real x against detached samples; Q reads c back.
        fake_features = self.body(fake.detach())
        d_loss = losses.discriminator_loss(self.d_head(self.body(x)).squeeze(1), self.d_head(fake_features).squeeze(1))
        info_cat, info_cont = self.information(fake_features, cat, cont)
        loss = d_loss + self.hp.lambda_cat * info_cat + self.hp.lambda_cont * info_cont
        self.update("discriminator", loss)

        # Generator's turn: fool D and make c recoverable from G(z, c).
        features = self.body(fake)
        g_loss = self.gen_cost(self.d_head(features).squeeze(1))
        info_cat, info_cont = self.information(features, cat, cont)
        loss = g_loss + self.hp.lambda_cat * info_cat + self.hp.lambda_cont * info_cont
        self.update("generator", loss)
        return {"loss/disc": d_loss.detach(), "loss/gen": g_loss.detach(),
                "loss/info_cat": info_cat.detach(), "loss/info_cont": info_cont.detach()}

    @torch.no_grad()
    def traversal(self, steps: int = 8, gen: torch.Generator | None = None) -> torch.Tensor:
        """Images (cat_dim * steps, *shape): row k fixes category k, the first continuous code
        sweeps -1..1 across the row; the noise and the other codes are one draw for all."""
        z, _, cont, _ = self.latent(1, gen)
        rows = []
        for k in range(self.hp.cat_dim):
            c = cont.repeat(steps, 1)
            if self.hp.cont_dim:
                c[:, 0] = torch.linspace(-1, 1, steps, device=self.device)
            onehot = F.one_hot(torch.full((steps,), k, device=self.device), self.hp.cat_dim).float()
            rows.append(self.generator(torch.cat([z.repeat(steps, 1), onehot, c], 1)))
        return torch.cat(rows)

    @torch.no_grad()
    def cont_code_error(self, n: int, gen: torch.Generator | None = None) -> float:
        """Q's squared error on the continuous codes of n fresh samples, summed over units."""
        if not self.hp.cont_dim:
            return 0.0
        _, _, cont, g_input = self.latent(n, gen)
        return (self.infer_code(self.generator(g_input))[1] - cont).pow(2).sum(1).mean().item()

    @torch.no_grad()
    def sample(self, n, gen=None):
        return self.generator(self.latent(n, gen)[3])
