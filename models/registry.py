"""Family name -> class. Adding a family is one line here plus its module."""
from __future__ import annotations

from .aae import AAE
from .ae import AE
from .base import Family
from .bigan import BiGAN
from .ebgan import EBGAN
from .gan import GAN
from .gmmn_ae import GMMNAE
from .infogan import InfoGAN
from .mmd_ae import MMDAE
from .pm import PM
from .pm_gan import PMGAN
from .vae import VAE

FAMILIES: dict[str, type[Family]] = {
    cls.name: cls for cls in (AE, PM, GAN, AAE, MMDAE, PMGAN, VAE, InfoGAN, EBGAN, BiGAN, GMMNAE)}


def family(name: str) -> type[Family]:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(sorted(FAMILIES))}") from None
