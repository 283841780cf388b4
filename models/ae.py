"""Plain autoencoder: the control. Reconstruction only, no game."""
from __future__ import annotations

import torch

from . import losses, nets
from .base import DECODE, ENCODE, RECONSTRUCT, AutoencoderFamily


class AE(AutoencoderFamily):
    name = "ae"
    capabilities = frozenset({ENCODE, DECODE, RECONSTRUCT})
    # The control for PM's samplers: the same routes through a code that was never asked to be factorial.
    samplers = ("shuffled_codes", "fitted_marginals")

    def __init__(self, spec, net, hp):
        super().__init__(spec, net, hp)
        self.encoder = nets.encoder(spec, net)
        self.decoder = nets.decoder(spec, net)
        self.optimizers = {"ae": self.adam(self.encoder, self.decoder)}

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = losses.reconstruction(self.decoder(self.encoder(x)), x)
        self.update("ae", loss)
        return {"loss/recon": loss.detach()}
