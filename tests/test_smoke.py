"""The smoke settings (`pm2gan smoke`): every study and every family of the project's params.yaml,
each trial at the smoke budget. The run itself is the end-to-end module's first run (the README's
quick start, tests/test_e2e.py)."""
from __future__ import annotations

import yaml

from models.registry import FAMILIES
from pipeline.orchestration.smoke import PROFILE, smoke_params
from pipeline.settings.config import parse
from pipeline.settings.trials import expand
from pipeline.studies import STUDIES
from tests.checkout import ROOT


def test_the_smoke_settings_run_every_study_and_family_at_a_pipeline_check_s_budget():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    cfg = parse(smoke_params(params), "smoke params")
    trained = [s for s in STUDIES if STUDIES[s].kind != "analytic"]
    trials = {s: expand(cfg, s) for s in trained}
    assert all(trials[s] for s in trained), [s for s in trained if not trials[s]]  # every study has trials
    assert {t.model for ts in trials.values() for t in ts} == set(FAMILIES)  # and every family of the zoo trains
    every = [t for ts in trials.values() for t in ts]
    assert max(t.train.steps for t in every) == 60 and {t.seed for t in every} == {0}
    assert {cfg.profile_of(s)[0] for s in trained} == {PROFILE}  # the published-number studies too
    assert cfg.datasets["fashion_mnist"].size == 2000
    assert params["profile"] == "quick" and PROFILE not in params["profiles"]  # the project's file is untouched
