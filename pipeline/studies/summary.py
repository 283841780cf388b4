"""reports/index.md: the talk's comparison slide (PM, GAN, AAE, InfoGAN: the direction of the
mapping, the role of the game, what the code must be), each cell the talk's statement with
the measured evidence of the study that tests it; then every study's verdict."""
from __future__ import annotations

from typing import NamedTuple

from .base import OUTCOMES, Verdict


class Budget(NamedTuple):
    """What a study's training budget left behind, over the rows its verdict reads
    (pipeline/studies/convergence.py)."""

    improving: int  # rows with seeds still improving on the numbers the verdict reads
    rows: int
    stopped: int  # their seeds whose training stopped at a plateau
    seeds: int

# (model, aspect) -> (the talk's statement, the studies whose verdicts are its evidence)
SLIDE: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {
    "PM": {
        "direction of the mapping": ("encoder: complex distribution -> factorial code; decoder: factorial -> complex",
                                     ("factorial", "generation")),
        "role of the game": ("a regulariser on an autoencoder, whose main body is reconstruction", ("roles",)),
        "what the code must be": ("factorial (units unpredictable from one another), any marginals",
                                  ("factorial", "pm1992")),
    },
    "GAN": {
        "direction of the mapping": ("generator: factorial Gaussian -> complex distribution (\"inverse PM\")",
                                     ("generation",)),
        "role of the game": ("the whole objective: nothing else is trained", ("roles", "gen_costs")),
        "what the code must be": ("any distribution: the prior is a free choice", ("roles",)),
    },
    "AAE": {
        "direction of the mapping": ("encoder: complex distribution -> factorial Gaussian code", ("prior", "factorial")),
        "role of the game": ("a regulariser beside reconstruction, matching q(z) to the prior", ("prior",)),
        "what the code must be": ("the chosen prior (a factorial Gaussian by default), matched adversarially",
                                  ("prior",)),
    },
    "InfoGAN": {
        "direction of the mapping": ("(noise, code) -> complex distribution; Q reads the code back", ("infogan",)),
        "role of the game": ("the whole objective, plus an autoencoder of (part of) the code", ("infogan",)),
        "what the code must be": ("a categorical code that becomes the class", ("infogan",)),
    },
}
ASPECTS = ("direction of the mapping", "role of the game", "what the code must be")


def _evidence(studies: tuple[str, ...], verdicts: dict[str, Verdict]) -> str:
    found = [f"[{s}]({s}.md): **{verdicts[s].outcome}**" for s in studies if s in verdicts]
    return "; ".join(found) if found else "not run"


def index_page(verdicts: dict[str, Verdict], comparisons: list | None = None, not_run: dict[str, str] | None = None,
               budgets: dict[str, Budget] | None = None, over_training: dict | None = None) -> str:
    """`budgets`: study -> what its budget left behind (`Budget`);
    `over_training`: study -> its verdict's trajectory (pipeline/studies/trajectory.py)."""
    from . import STUDIES
    from .trajectory import cell

    lines = ["# pm2gan report", "",
             "The talk \"From PM to GAN\" sets PM beside GAN, the Adversarial Autoencoder and InfoGAN. Each cell below is "
             "the talk's statement and the verdict of the study that measures it; the study's page has the rule, the "
             "numbers that decide it, the table and the figures.", "",
             "| | " + " | ".join(ASPECTS) + " |", "|---" * (len(ASPECTS) + 1) + "|"]
    for model, cells in SLIDE.items():
        row = [f"{cells[a][0]}<br>→ {_evidence(cells[a][1], verdicts)}" for a in ASPECTS]
        lines.append(f"| **{model}** | " + " | ".join(row) + " |")
    lines += ["", "## Studies", "", "| study | claim | verdict | over training | rows still improving on what it decides "
              "| seeds stopped at a plateau |", "|---|---|---|---|---|---|"]
    not_run, budgets, over_training = not_run or {}, budgets or {}, over_training or {}
    for name, study in STUDIES.items():
        verdict = verdicts.get(name)
        missing = f"not run in profile `{not_run[name]}` (none of its datasets)" if name in not_run else "not run"
        budget = budgets.get(name)
        improving = f"{budget.improving} of {budget.rows}" if budget else "—"
        stopped = f"{budget.stopped} of {budget.seeds}" if budget else "—"
        lines.append(f"| [{name}]({name}.md) | {study.claim} | "
                     + (f"**{verdict.outcome}** — " + "; ".join(verdict.summary()) if verdict else missing)
                     + f" | {cell(over_training[name]) if name in over_training else '—'} | {improving} | {stopped} |")
    counted = [verdicts[n].outcome for n in STUDIES if n in verdicts]
    lines += ["", f"**{len(counted)} verdicts**: " + ", ".join(f"{counted.count(o)} {o}" for o in OUTCOMES) + ". A verdict "
              "holds when every test behind it does (one-sided Welch at 5%), does not hold only when one is reversed "
              "beyond chance, and is inconclusive otherwise; each study's page lists its tests."]
    if over_training:
        settled = [n for n, t in over_training.items() if t.settled_from() is not None]
        capped = [n for n, t in over_training.items() if t.capped]
        lines += ["", f"**Settled.** {len(settled)} of {len(over_training) - len(capped)} trained studies' verdicts are "
                  "settled: on validation data, the verdict has not changed over the last half of the budget (each "
                  "study's page shows its verdict and the numbers it reads at every evaluation point). A verdict not "
                  "settled is a budget's, not yet a finding."
                  + (f" Not judged: {len(capped)} capped runs ({', '.join(capped)}), whose verdicts weigh published "
                     "numbers only the papers' budgets reach." if capped else "")]
        exact = [n for n in verdicts if STUDIES[n].kind == "analytic"]  # `theory`: nothing trained, no budget to move it
        if exact:
            judged = len(over_training) - len(capped)
            lines[-1] += (f" Counting {', '.join(f'`{n}`' for n in exact)}, exact and trained on nothing, "
                          f"{len(settled) + len(exact)} of the talk's {judged + len(exact)} verdicts are settled.")
    if budgets:
        improving, rows, stopped, seeds = (sum(column) for column in zip(*budgets.values()))
        lines += ["", f"**Budget.** Of the {rows} rows the verdicts read, {improving} had seeds still improving on "
                  "validation data, on the very numbers their verdict reads, at their last evaluation (the patience "
                  "rule, params.yaml `convergence`): their numbers are lower bounds, and a verdict resting on them may "
                  "change at a longer budget (each study's page names them). Training stops by the same rule on "
                  "every validation metric (`convergence.stop_training`), never before its grace period "
                  f"(`convergence.stop_grace`, a share of the budget): {stopped} of those rows' {seeds} seeds "
                  "stopped at a plateau, the others trained to their budget's maximum."]
    if comparisons:
        counts: dict[str, int] = {}
        for c in comparisons:
            counts[c.verdict] = counts.get(c.verdict, 0) + 1
        lines += ["", "## Published numbers", "",
                  f"[{len(comparisons)} published numbers beside ours](published.md), each under its paper's protocol: "
                  + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) + "."]
    return "\n".join(lines) + "\n"
