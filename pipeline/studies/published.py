"""The numbers the sources publish, beside ours: reports/published.md.

Each entry is one published number with where it comes from, the protocol it was measured
under, and the study, dataset, model and metric of ours that measures the same thing. A row's
verdict is "reproduced" or "not reproduced" only when our run is as large as the paper's
(trials, training steps) and on the paper's dataset; otherwise it is "not comparable yet", with
what falls short. The training budgets of the papers live in params.yaml (the `reference`
profile, each value with its source); the published values live here, each with its source.

This module sits below the studies: the published-number studies (modes2d, features) judge by
it, so it imports nothing from pipeline/studies/ (it reads their rows through `RowLike` and
`TableLike`, and the report, above both, adds what the `parzen` study says of the ordering).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Literal, Protocol

import numpy as np

ErrorKind = Literal["trials", "test images", "share", "none"]


class RowLike(Protocol):
    """What a comparison reads of a study's row (pipeline.studies.base.Row)."""

    seeds: int
    diverged: int
    improving: int
    steps: int
    code_dim: int

    def get(self, metric: str) -> list[float]: ...

    def code_note(self) -> str: ...


class TableLike(Protocol):
    """What a comparison reads of a study's table (pipeline.studies.base.Table)."""

    provenance: dict[str, Any]

    def row(self, dataset: str, model: str) -> RowLike | None: ...


@dataclasses.dataclass(frozen=True)
class Published:
    source: str  # paper and table, or the code release
    study: str  # our study that measures it
    dataset: str  # our dataset
    model: str  # our family
    metric: str  # our results key ('prior/modes')
    value: float  # as published (percentages as percent)
    error: float | None  # the published ± (None: none published)
    error_kind: ErrorKind  # what the ± is: standard error over trials / over test images; a share of runs
    trials: int  # runs behind the published number
    protocol: str  # the paper's protocol, in a line
    label: str = ""  # the paper's name for the model ('ALI')
    paper_dataset: str = ""  # the paper's dataset when ours differs ('mnist')
    scale: float = 1.0  # ours x scale is on the published scale (100 for a share shown in percent)
    other_protocol: str = ""  # why ours, under another paper's protocol, can never be compared with it
    paper_latent: int = 0  # the paper's latent (noise or code) size, where we know it (0: not checked)
    nets_differ: str = ""  # how the paper's nets differ from ours ('' where they match or are unknown)

    @property
    def name(self) -> str:
        return self.label or self.model


PACGAN = ("PacGAN (Lin et al. 2018) Table 1; fjxmlzn/PacGAN synthetic_data_experiments: 2,500 samples of the "
          "final generator, high quality within 3 std (per axis) of the nearest mode, 100,000 training points, "
          "batch 100, 400,000 steps, Adam 1e-4 (beta1 0.8); G 4x400 ReLU+BN, D 3x200 maxout-5; ± standard error "
          "over 10 trials")
PACGAN_D = ("the paper's G is 4 x 400 ReLU with batch norm and its D 3 x 200 maxout-5; ours are both 4 x 400 "
            "LeakyReLU MLPs without batch norm")
VEEGAN = ("VEEGAN (Srivastava et al. 2017) Table 1: the same metric definitions as PacGAN, 2,500 samples, 5 runs; "
          "its nets and budget are in a notebook we could not read")
PARZEN = ("Gaussian Parzen window on 10,000 samples, sigma chosen on 1,000 validation images from logspace(-1, 0, 10), "
          "mean log-likelihood of the 10,000 test images ± its standard error over them (goodfeli/adversarial "
          "parzen_ll.py); MLP nets")
VEEGAN_DIFFERS = "VEEGAN's nets and budget differ from PacGAN's protocol, which ours follows"
INFOGAN = ("InfoGAN (Chen et al. 2016) sec. 5.1: the 10-way categorical code read by Q on MNIST classifies digits "
           "with about 5% error; here under the best one-to-one matching of categories to classes")
BIGAN = ("BiGAN (Donahue et al. 2017), jeffdonahue/bigan README: 1-NN classification on permutation-invariant MNIST; "
         "U(-1, 1)^50 latent, MLP 1024 nets")
PM1992 = ("Schmidhuber 1992 sec. 7: share of 10 runs that reach a binary factorial code (every unit within 0.05 of "
          "0/1, codes distinct and factorial); the paper's nets (3 hidden units per predictor, 4 shared; 1 and 2 "
          "on the non-uniform ensemble), off-line training")

PUBLISHED: tuple[Published, ...] = (
    Published("PacGAN Table 1", "modes2d", "ring8", "gan", "prior/modes", 6.3, 0.5, "trials", 10, PACGAN, "GAN", paper_latent=2, nets_differ=PACGAN_D),
    Published("PacGAN Table 1", "modes2d", "ring8", "gan", "prior/high_quality", 98.2, 0.2, "trials", 10, PACGAN, "GAN",
              scale=100),
    Published("PacGAN Table 1", "modes2d", "ring8", "gan", "prior/reverse_kl", 0.45, 0.09, "trials", 10, PACGAN, "GAN", paper_latent=2, nets_differ=PACGAN_D),
    Published("PacGAN Table 1", "modes2d", "grid25", "gan", "prior/modes", 17.3, 0.8, "trials", 10, PACGAN, "GAN", paper_latent=2, nets_differ=PACGAN_D),
    Published("PacGAN Table 1", "modes2d", "grid25", "gan", "prior/high_quality", 94.8, 0.7, "trials", 10, PACGAN,
              "GAN", scale=100),
    Published("PacGAN Table 1", "modes2d", "grid25", "gan", "prior/reverse_kl", 0.70, 0.07, "trials", 10, PACGAN, "GAN", paper_latent=2, nets_differ=PACGAN_D),
    Published("PacGAN Table 1", "modes2d", "ring8", "bigan", "prior/modes", 6.6, 0.3, "trials", 10, PACGAN, "ALI", paper_latent=2, nets_differ=PACGAN_D),
    Published("PacGAN Table 1", "modes2d", "grid25", "bigan", "prior/modes", 24.1, 0.4, "trials", 10, PACGAN, "ALI", paper_latent=2, nets_differ=PACGAN_D),
    Published("VEEGAN Table 1", "modes2d", "ring8", "gan", "prior/modes", 1.0, None, "none", 5, VEEGAN, "GAN", other_protocol=VEEGAN_DIFFERS),
    Published("VEEGAN Table 1", "modes2d", "ring8", "bigan", "prior/modes", 2.8, None, "none", 5, VEEGAN, "ALI", other_protocol=VEEGAN_DIFFERS),
    Published("VEEGAN Table 1", "modes2d", "grid25", "gan", "prior/modes", 3.3, None, "none", 5, VEEGAN, "GAN", other_protocol=VEEGAN_DIFFERS),
    Published("VEEGAN Table 1", "modes2d", "grid25", "bigan", "prior/modes", 15.8, None, "none", 5, VEEGAN, "ALI", other_protocol=VEEGAN_DIFFERS),
    Published("Schmidhuber 1992 sec. 7", "pm1992", "pm92", "pm", "success", 0.8, None, "share", 10, PM1992, "PM"),
    Published("Schmidhuber 1992 sec. 7", "pm1992", "pm92_nonuniform", "pm", "success", 0.7, None, "share", 10, PM1992,
              "PM"),
    Published("GAN paper (Goodfellow et al. 2014) Table 1", "parzen", "fashion_mnist", "gan", "prior/parzen_ll", 225, 2,
              "test images", 1, PARZEN, "GAN", paper_dataset="mnist", paper_latent=100,
              nets_differ="the paper's D is a maxout MLP, ours LeakyReLU"),
    Published("AAE paper (Makhzani et al. 2015) Table 1", "parzen", "fashion_mnist", "aae", "prior/parzen_ll", 340, 2,
              "test images", 1, PARZEN, "AAE", paper_dataset="mnist"),
    Published("AAE paper (Makhzani et al. 2015) Table 1", "parzen", "fashion_mnist", "gmmn_ae", "prior/parzen_ll", 282,
              2, "test images", 1, PARZEN, "GMMN+AE", paper_dataset="mnist", paper_latent=32,
              nets_differ="the paper's AE is 784-1024-32 with dropout and its GMMN 10-64-256-256-1024; ours the zoo's "
                          "MLPs, and half the budget trains the AE (models/gmmn_ae.py)"),
    Published("InfoGAN paper sec. 5.1", "features", "fashion_mnist", "infogan", "cluster_accuracy", 0.95, None, "none",
              1, INFOGAN, "InfoGAN", paper_dataset="mnist",
              nets_differ="the paper's convolutional nets, ours MLPs"),
    Published("BiGAN code release (README)", "features", "fashion_mnist", "bigan", "knn_accuracy", 0.921, None, "none",
              1, BIGAN + "; on E(x)", "BiGAN", paper_dataset="mnist", paper_latent=50),
    Published("BiGAN code release (README)", "features", "fashion_mnist", "bigan", "penultimate_knn", 0.9735, None,
              "none", 1, BIGAN + "; on the encoder's penultimate layer", "BiGAN", paper_dataset="mnist", paper_latent=50),
)


@dataclasses.dataclass
class Comparison:
    entry: Published
    ours: str  # 'mean ± error (n)' on the published scale, or '—'
    verdict: str  # reproduced | not reproduced | not comparable yet | not run
    why: str  # what decides the verdict


def _ours(entry: Published, row: RowLike) -> tuple[float, float | None, str]:
    """Our value on the published scale, the same kind of error bar, and how it reads."""
    values = np.array(row.get(entry.metric)) * entry.scale
    mean = float(values.mean())
    n = len(values)
    if entry.error_kind == "share":
        return mean, None, f"{mean:.1f} ({int(round(mean * n))}/{n} runs)"
    if entry.error_kind == "test images":  # the mean over seeds of each run's standard error over test images
        se = float(np.mean(row.get(entry.metric.replace("parzen_ll", "parzen_se")))) * entry.scale
        return mean, se, f"{mean:.1f} ± {se:.1f} (mean of {n} runs; ± over test images)"
    se = float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else None
    digits = 2 if abs(mean) < 10 and entry.scale == 1 else 1
    return mean, se, (f"{mean:.{digits}f} ± {se:.{digits}f}" if se is not None else f"{mean:.{digits}f}") + f" ({n} runs)"


def shortfalls(entry: Published, row: RowLike, provenance: dict[str, Any]) -> list[str]:
    """What makes our row differ from the paper's run: dataset, trials, training steps, latent
    size and nets. Any of them makes the row "not comparable yet"."""
    out = []
    if entry.paper_dataset and entry.paper_dataset != entry.dataset:
        out.append(f"{entry.dataset}, published on {entry.paper_dataset}")
    done = row.seeds - row.diverged
    if done < entry.trials:
        out.append(f"{done} of {entry.trials} trials")
    full = (provenance.get("uncapped_steps") or {}).get(entry.dataset)
    if full and row.steps < full:
        out.append(f"{row.steps:,} of {full:,} training steps")
    if entry.paper_latent and row.code_dim and row.code_dim != entry.paper_latent:
        out.append(f"a {row.code_dim}-D latent, the paper's {entry.paper_latent}-D")
    if entry.nets_differ:
        out.append(entry.nets_differ)
    return out


def agrees(entry: Published, ours: float, se: float | None) -> bool:
    """Within the published error: the difference is below twice the combined standard error of
    the two numbers (a two-sided test at about 95%). Shares of 10 runs: within 3 runs in 10,
    the pm1992 study's rule (binomial noise alone is ± 0.15)."""
    if entry.error_kind == "share":
        return abs(ours - entry.value) <= 0.3 + 1e-9
    combined = math.sqrt((entry.error or 0.0) ** 2 + (se or 0.0) ** 2)
    return abs(ours - entry.value) <= 2 * combined


def compare(tables: dict[str, TableLike]) -> list[Comparison]:
    """One comparison per published number, from each study's Table (its provenance attached)."""
    out = []
    for entry in PUBLISHED:
        table = tables.get(entry.study)
        row = table.row(entry.dataset, entry.model) if table else None
        if row is None:
            out.append(Comparison(entry, "—", "not run", f"no `{entry.study}` trials of {entry.model} on "
                                                         f"{entry.dataset} in this report"))
            continue
        if not row.get(entry.metric):  # trained, but the metric is undefined in every run
            why = "; a reverse KL needs at least one high-quality sample" if entry.metric.endswith("reverse_kl") else ""
            out.append(Comparison(entry, "undefined", "not comparable yet",
                                  f"undefined in all {row.seeds} runs ({row.diverged} diverged{why})"))
            continue
        mean, se, text = _ours(entry, row)
        short = shortfalls(entry, row, table.provenance)
        improving = (f"; {row.improving} of {row.seeds - row.diverged} runs still improving" if row.improving else "") + (
            f"; {row.code_note()}" if row.code_note() else "")
        if entry.other_protocol:
            out.append(Comparison(entry, text, "not comparable yet", entry.other_protocol + improving))
        elif short:
            out.append(Comparison(entry, text, "not comparable yet", "; ".join(short) + improving))
        else:
            ok = agrees(entry, mean, se)
            margin = " 3 runs in 10 of the paper's share" if entry.error_kind == "share" else " twice the combined error"
            out.append(Comparison(entry, text, "reproduced" if ok else "not reproduced",
                                  ("within" if ok else "outside") + margin + improving))
    return out


def _published_text(entry: Published) -> str:
    if entry.error_kind == "share":
        return f"{entry.value:.1f} ({round(entry.value * entry.trials)}/{entry.trials} runs)"
    return f"{entry.value:g}" + (f" ± {entry.error:g}" if entry.error is not None else "")


def markdown(comparisons: list[Comparison], extra: list[str]) -> str:
    lines = ["# Published numbers", "",
             "Every number the sources publish that pm2gan can measure, beside ours under the paper's protocol. "
             "**reproduced**: ours is as large a run as the paper's (trials, training steps, dataset) and within twice "
             "the combined error of the two numbers; **not comparable yet**: our run is smaller or differs, and the "
             "row says how (the `reference` profile's CPU cap; `dvc exp run -S profile=reference -S "
             "profiles.reference.cap=null` runs the papers' budgets on a GPU machine or a cluster).", "",
             "| source | model | dataset | metric | published | ours | verdict | why |",
             "|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        e = c.entry
        metric = e.metric.split("/")[-1] + (" (%)" if e.scale == 100 else "")
        lines.append(f"| {e.source} | {e.name} | {e.dataset} | {metric} | {_published_text(e)} | {c.ours} | "
                     f"**{c.verdict}** | {c.why} |")
    lines += ["", *[f"- {line}" for line in extra], "", "## Protocols", ""]
    seen = []
    for e in PUBLISHED:
        if e.protocol not in seen:
            seen.append(e.protocol)
            lines.append(f"- **{e.source}** ({e.study}): {e.protocol}.")
    return "\n".join(lines) + "\n"


def study_outcome(study: str, table: TableLike, extra: list[str] | None = None) -> tuple[str, list[str]]:
    """A published-number study's verdict, as its outcome and the sentences behind it (the study
    wraps them in its Verdict): holds when every published number it measures is reproduced,
    does not hold when one is not (outside twice the combined error: a two-sided test at about
    5%), inconclusive otherwise (a row not comparable yet: a capped or smaller run, other nets).
    Each comparison is a sentence."""
    mine = [c for c in compare({study: table})
            if c.entry.study == study and c.verdict != "not run" and not c.entry.other_protocol]
    because = [f"[{c.verdict}] {c.entry.name} {c.entry.dataset} {c.entry.metric.split('/')[-1]}: published "
               f"{_published_text(c.entry)}, ours {c.ours} ({c.why})" for c in mine] + (extra or [])
    verdicts = {c.verdict for c in mine}
    counted = [c.verdict for c in mine]
    tally = ", ".join(f"{counted.count(v)} {v}" for v in ("reproduced", "not reproduced", "not comparable yet")
                      if counted.count(v))
    because = [f"of {len(mine)} published numbers: {tally or 'none measured'}"] + because
    if "not reproduced" in verdicts:  # a conjunction: one number refuted refutes it, whatever the others
        outcome = "does not hold"
    elif mine and verdicts == {"reproduced"}:
        outcome = "holds"
    else:
        outcome = "inconclusive"
    return outcome, because
