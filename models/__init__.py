"""The model zoo: one module per family, one registry."""
from .base import DECODE, ENCODE, RECONSTRUCT, SAMPLE, Family, Hyper  # noqa: F401
from .nets import DataSpec, NetConfig  # noqa: F401
from .registry import FAMILIES, family  # noqa: F401
