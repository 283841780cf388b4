"""`theory`: the GAN tutorial's exercises (Goodfellow 2016, sec. 7-8) and the JSD identity as
exact experiments (pipeline/evaluation/theory.py): D* = p_data / (p_data + p_g); at D* the value is
-log 4 + 2 JSD; simultaneous gradient descent on V(x, y) = xy spirals out by sqrt(1 + eta^2)
per step; the `ml` and `kl` costs' expected gradients are those of KL(p_data||p_g) and
KL(p_g||p_data). pipeline/orchestration/theory_run.py runs them, judges each identity against
its tolerance in params.yaml (`theory.tolerances`), writes results/theory/ and an MLflow run.

Rule: holds when every identity holds within its tolerance; does not hold when one does not.
"""
from __future__ import annotations

from pipeline.trial.results import TheoryResults

from .base import Study, Verdict


class Theory(Study):
    name = "theory"
    claim = ("The tutorial's exercises: D* = p_data/(p_data + p_g); at D*, the value is -log 4 + 2 JSD; simultaneous "
             "gradient descent on V(x, y) = xy orbits instead of converging (and spirals out at finite step size); the "
             "`ml` cost's gradient equals the KL gradient.")
    columns = ()
    kind = "analytic"

    def verdict(self, summary: TheoryResults) -> Verdict:
        held = sum(c.holds for c in summary.checks)
        outcome = "holds" if held == len(summary.checks) else "does not hold"
        return Verdict(outcome, [f"{held} of {len(summary.checks)} identities hold within their tolerances"] +
                       [f"{c.identity}: error {c.measured_error:.3g} (tolerance {c.tolerance:g})"
                        for c in summary.checks if not c.holds])

    def stage(self, spec=None, inputs=()) -> dict:  # it reads no data
        return {"cmd": "pm2gan study theory", "deps": ["pipeline/evaluation/theory.py", "pipeline/orchestration/theory_run.py", "pipeline/studies/theory.py",
                                                       "models/losses.py", "models/nets.py"],
                "params": ["theory"], "outs": ["results/theory"]}
