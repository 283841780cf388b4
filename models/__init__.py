"""The model zoo: one module per family, one registry."""
from .base import CRITIC_CODES, DECODE, ENCODE, INFER_CODE, RECONSTRUCT, SAMPLE, Family, Hyper  # noqa: F401
from .nets import DataSpec, NetConfig  # noqa: F401
from .registry import FAMILIES, family  # noqa: F401
