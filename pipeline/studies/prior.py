"""`prior`: matching a simple prior does not need a vector GAN ("AAE is overkill", Huszár):
MMD, or PM + scalar GANs, do it as well, cheaper and more stably.

Rule, on each dataset with the factorial Gaussian prior: WAE-MMD and PM + scalar GANs each
match it as well as the AAE (their mean per-unit KS statistic and energy distance to the prior
are not clearly worse than the AAE's), more cheaply (more steps per second) and no less
stably (no more diverged seeds, a spread of the KS statistic over seeds no larger than twice
the AAE's). Holds when both alternatives pass, mixed when one does. The other priors (uniform,
a 4-component mixture) show that the AAE matches any prior it is given; they are reported,
not voted.
"""
from __future__ import annotations

from .base import Study, Table, Verdict, clearly, compare

ALTERNATIVES = {"mmd_ae": "WAE-MMD", "pm_gan": "PM + scalar GANs"}
GAUSSIAN = "prior=gaussian"


class Prior(Study):
    name = "prior"
    claim = ("Matching a simple prior does not need a vector GAN (\"AAE is overkill\"): MMD, or PM + scalar GANs, "
             "do it as well, cheaper and more stably.")
    columns = ("ks_prior", "mmd_prior", "total_correlation", "recon_mse", "dead_units", "steps_per_s")

    def verdict(self, table: Table) -> Verdict:
        because, passed = [], {}
        for dataset in table.datasets():
            aae = table.row(dataset, "aae", GAUSSIAN)
            for model, label in ALTERNATIVES.items():
                row = table.row(dataset, model, GAUSSIAN)
                if row is None or aae is None:
                    continue
                as_well = not clearly(row, aae, "ks_prior", "higher") and not clearly(row, aae, "mmd_prior", "higher")
                cheaper = row.mean("steps_per_s") > aae.mean("steps_per_s")
                stable = row.diverged <= aae.diverged and row.std("ks_prior") <= 2 * max(aae.std("ks_prior"), 1e-3)
                passed.setdefault(label, []).append(as_well and cheaper and stable)
                because.append(f"{dataset}: {compare(row, aae, 'ks_prior', 'lower')}; "
                               f"{compare(row, aae, 'mmd_prior', 'lower')}; {row.mean('steps_per_s'):.0f} vs "
                               f"{aae.mean('steps_per_s'):.0f} steps/s; diverged {row.diverged} vs {aae.diverged}")
        ok = {label: all(v) for label, v in passed.items()}
        parts = [f"{label} {'matches' if good else 'does not match'} the prior as well, cheaper and as stably as the AAE"
                 for label, good in ok.items()]
        outcome = "holds" if ok and all(ok.values()) else "mixed" if any(ok.values()) else "does not hold"
        return Verdict(outcome, parts + because)
