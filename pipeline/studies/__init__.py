"""The studies: one module each, one registry. A study is its module (claim, columns, verdict
rule, figures) plus its entry under `studies:` in params.yaml (models, datasets, factors);
`dvc.yaml` is generated from both (`pm2gan stages`)."""
from __future__ import annotations

from .base import Study, Table, Verdict  # noqa: F401
from .ebgan import EBGANStudy
from .factorial import Factorial
from .features import FeaturesStudy
from .gen_costs import GenCosts
from .generation import Generation
from .inference import Inference
from .infogan import InfoGANStudy
from .modes2d import Modes2D
from .parzen import ParzenStudy
from .pm1992 import PM1992
from .prior import Prior
from .roles import Roles
from .theory import Theory

# In the talk's order (docs/talk.md), then the published-number studies (the `reference`
# profile's): the report follows it.
STUDIES: dict[str, Study] = {s.name: s for s in (
    PM1992(), Factorial(), Prior(), Generation(), Roles(), GenCosts(), InfoGANStudy(), Inference(), EBGANStudy(),
    Theory(), Modes2D(), ParzenStudy(), FeaturesStudy())}
