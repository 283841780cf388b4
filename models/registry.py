"""Family name -> class. Adding a family is one line here plus its module."""
from __future__ import annotations

from .aae import AAE
from .ae import AE
from .base import Family
from .gan import GAN
from .pm import PM

FAMILIES: dict[str, type[Family]] = {cls.name: cls for cls in (AE, PM, GAN, AAE)}


def family(name: str) -> type[Family]:
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(sorted(FAMILIES))}") from None
