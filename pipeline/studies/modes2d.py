"""`modes2d`: PacGAN's Table 1 under its own protocol (the `reference` profile), with the rows
nobody has published: PM, PM + scalar GANs and the AAE on the same ring and grid.

Rule: each published number this study measures (GAN and ALI's modes, the GAN's high-quality
share and reverse KL) is compared with ours (pipeline/studies/published.py): holds when all are
reproduced, "inconclusive" while any row is smaller than the paper's run (the
CPU cap). The unpublished rows are listed for every generator under the same protocol.
"""
from __future__ import annotations

from pipeline.studies.published import study_outcome

from .base import Study, Table, Verdict


class Modes2D(Study):
    name = "modes2d"
    claim = ("PacGAN's Table 1 under its own protocol (ring of 8: GAN 6.3 ± 0.5 modes, 98.2% high quality, reverse "
             "KL 0.45; ALI 6.6 ± 0.3; grid of 25: GAN 17.3 ± 0.8 modes; ALI 24.1 ± 0.4), and where PM, PM + scalar "
             "GANs and the AAE stand under the same protocol.")
    columns = ("modes", "high_quality", "reverse_kl", "sample_loglik")

    def references(self, cfg, datasets, trials, classifiers):
        """Uniform noise (and the ring's circle) under the same protocol, beside the generators."""
        from pipeline.evaluation.baselines import generator_baselines

        return generator_baselines(datasets, trials, classifiers)

    def verdict(self, table: Table) -> Verdict:
        unpublished = []
        for dataset in table.datasets():
            rows = [r for (d, _, _), r in table.rows.items() if d == dataset]
            cells = []
            for r in rows:
                key = next((k for k in r.values if k.endswith("/modes")), None)
                if key:  # a few stray samples capture modes: the high-quality share says whether they are many
                    note = f"; {r.code_note()}" if r.code_note() else ""
                    quality = key.replace("/modes", "/high_quality")
                    cells.append(f"{r.label()} {r.fmt(key, 1)} ({100 * r.mean(quality):.1f}% high quality{note})")
            unpublished.append(f"{dataset} modes, every generator under this protocol: " + ", ".join(cells))
        return Verdict(*study_outcome(self.name, table, unpublished))
