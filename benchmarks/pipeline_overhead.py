"""Time per training step: a trial inside the pipeline against bare PyTorch loops.

All train the same model (the same nets from models.nets, the same losses, Adam,
batch size and data) for the same number of steps on one CPU thread, in the same
run. The pipeline side is the real thing: `run_study` on a one-seed study, so each
trial runs in a Ray Tune worker, reports to Tune and logs to a real MLflow server;
its time per step is the `perf/steps_per_s` the trial measured over its loop.
Two bare baselines, timed the same way in this process:
  hand  a hand-written loop of the family's game (ae, pm, gan, aae), no framework at all;
  step  a plain loop over the family's own `train_step` (every family): no hooks, no
        logging, no host sync.

    python benchmarks/pipeline_overhead.py [--steps 1500] [--dataset digits] [--families all]

Target (issues 2 and 3): pipeline time per step / bare time per step <= 1.10.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import (
    FAMILIES,  # noqa: E402
    nets,  # noqa: E402
)
from models.pm import Predictors  # noqa: E402
from pipeline.data import datasets as data
from pipeline.evaluation import evalnet  # noqa: E402
from pipeline.settings import config
from pipeline.settings.trials import TrialConfig  # noqa: E402
from pipeline.trial.train import build_model  # noqa: E402


def adam(*modules, lr, beta1):
    """The project's optimiser (models.base.Family.adam): fused Adam."""
    return torch.optim.Adam([p for m in modules for p in m.parameters()], lr=lr, betas=(beta1, 0.999), fused=True)


def bare_loop(family: str, hp: dict, spec: nets.DataSpec, net: nets.NetConfig, x: torch.Tensor, steps: int,
              batch: int, seed: int) -> float:
    """Steps per second of a plain loop: no hooks, no logging, no framework."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    d = spec.code_dim
    if family == "ae":
        enc, dec = nets.encoder(spec, net), nets.decoder(spec, net)
        opt = adam(enc, dec, **hp)

        def step(xb):
            loss = (dec(enc(xb)) - xb).pow(2).flatten(1).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    elif family == "pm":
        enc, dec = nets.encoder(spec, net, out=torch.nn.Sigmoid()), nets.decoder(spec, net)
        pred = Predictors(d, hp.pop("predictor_hidden"))
        lam, mult = hp.pop("lam"), hp.pop("predictor_lr_mult")
        opt_p, opt_ae = adam(pred, lr=hp["lr"] * mult, beta1=hp["beta1"]), adam(enc, dec, **hp)

        def step(xb):
            c = enc(xb)
            cd = c.detach()
            lp = (cd - pred(cd)).pow(2).sum(1).mean()
            opt_p.zero_grad(set_to_none=True)
            lp.backward()
            opt_p.step()
            loss = (dec(c) - xb).pow(2).flatten(1).sum(1).mean() - lam * (c - pred(c)).pow(2).sum(1).mean()
            opt_ae.zero_grad(set_to_none=True)
            loss.backward()
            opt_ae.step()
    elif family == "gan":
        g, disc = nets.decoder(spec, net), nets.discriminator(spec, net)
        opt_d, opt_g = adam(disc, **hp), adam(g, **hp)

        def step(xb):
            fake = g(torch.randn(len(xb), d)).detach()
            ld = F.softplus(-disc(xb)).mean() + F.softplus(disc(fake)).mean()
            opt_d.zero_grad(set_to_none=True)
            ld.backward()
            opt_d.step()
            lg = F.softplus(-disc(g(torch.randn(len(xb), d)))).mean()
            opt_g.zero_grad(set_to_none=True)
            lg.backward()
            opt_g.step()
    elif family == "aae":
        enc, dec, disc = nets.encoder(spec, net), nets.decoder(spec, net), nets.code_discriminator(d, net)
        w = hp.pop("adv_weight")
        opt_ae, opt_d, opt_e = adam(enc, dec, **hp), adam(disc, **hp), adam(enc, **hp)

        def step(xb):
            lr_ = (dec(enc(xb)) - xb).pow(2).flatten(1).sum(1).mean()
            opt_ae.zero_grad(set_to_none=True)
            lr_.backward()
            opt_ae.step()
            c = enc(xb)
            ld = F.softplus(-disc(torch.randn(len(xb), d))).mean() + F.softplus(disc(c.detach())).mean()
            opt_d.zero_grad(set_to_none=True)
            ld.backward()
            opt_d.step()
            le = w * F.softplus(-disc(c)).mean()
            opt_e.zero_grad(set_to_none=True)
            le.backward()
            opt_e.step()
    else:
        raise SystemExit(f"no bare loop for {family}")
    start = time.perf_counter()
    for _ in range(steps):
        step(x[torch.randint(0, len(x), (batch,), generator=gen)])
    return steps / (time.perf_counter() - start)


def step_loop(cfg: TrialConfig, ds, steps: int) -> float:
    """Steps per second of a plain loop over the family's own train_step."""
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = build_model(cfg, ds, torch.device("cpu"))
    x = torch.from_numpy(ds.x["train"])
    start = time.perf_counter()
    for _ in range(steps):
        model.train_step(x[torch.randint(0, len(x), (cfg.train.batch_size,), generator=gen)])
    return steps / (time.perf_counter() - start)


BARE_HP = {  # the hyperparameters the bare loops read, per family
    "ae": ("lr", "beta1"), "pm": ("lr", "beta1", "lam", "predictor_hidden", "predictor_lr_mult"),
    "gan": ("lr", "beta1"), "aae": ("lr", "beta1", "adv_weight"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--families", default="all", help="comma-separated, or all")
    args = parser.parse_args()
    families = sorted(FAMILIES) if args.families == "all" else args.families.split(",")

    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    quick = raw["profiles"]["quick"]
    raw["profiles"]["bench"] = {**quick, "seeds": [0], "datasets": [args.dataset],
                                "train": {**quick["train"], "steps": args.steps, "eval_samples": 200}}
    raw["profile"] = "bench"
    raw["studies"] = {"bench": {"models": families, "datasets": [args.dataset]}}
    raw["resources"]["max_concurrent_trials"] = 1  # one trial at a time, like the bare loop
    os.environ.pop("MLFLOW_TRACKING_URI", None)

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # data, evalnets, results, tracking store and Tune storage all live here
        raw["resources"]["storage_path"] = str(Path(tmp) / "ray_results")
        cfg = config.parse(raw, "benchmark params")
        ds = data.make(args.dataset, cfg.datasets[args.dataset], cfg.data)
        data.save(ds)
        if ds.kind == "image" and ds.y is not None:
            net, summary = evalnet.train_classifier(data.load(args.dataset), cfg.evalnet.model_copy(update={"steps": 200}))
            evalnet.save(net, summary, args.dataset)

        torch.set_num_threads(1)
        spec = nets.DataSpec(ds.shape, cfg.datasets[args.dataset].code_dim, ds.bounded)
        x = torch.from_numpy(ds.x["train"])
        hand, step = {}, {}
        from pipeline.settings.trials import expand

        for trial in expand(cfg, "bench"):
            fam = trial.model
            if fam in BARE_HP:
                hp = {k: getattr(cfg.models[fam].defaults, k) for k in BARE_HP[fam]}
                hand[fam] = bare_loop(fam, hp, spec, cfg.profile.nets, x, args.steps, cfg.profile.train.batch_size, 0)
            step[fam] = step_loop(trial, ds, args.steps)

        import json

        from pipeline.orchestration.sweep import run_study

        out = run_study(cfg, "bench", results_dir=Path(tmp) / "results")
        trials = json.loads((out / "trials.json").read_text())["trials"]
        pipeline = {t["trial"]["model"]: t["metrics"]["perf/steps_per_s"] for t in trials}  # validation evaluations excluded

    print(f"\npm2gan pipeline overhead: {args.dataset}, {args.steps} steps, batch {cfg.profile.train.batch_size}, "
          f"nets {cfg.profile.nets.hidden}x{cfg.profile.nets.depth}, 1 CPU thread, torch {torch.__version__}")
    print(f"{'family':8} {'hand steps/s':>12} {'step steps/s':>12} {'pipeline':>9}   ratio to hand   ratio to step"
          "   (time per step; target <= 1.10)")
    worst = 0.0
    for fam in families:
        to_step = step[fam] / pipeline[fam]
        to_hand = hand[fam] / pipeline[fam] if fam in hand else None
        worst = max(worst, to_step, to_hand or 0.0)
        print(f"{fam:8} {hand.get(fam, float('nan')):12.1f} {step[fam]:12.1f} {pipeline[fam]:9.1f}   "
              f"{'' if to_hand is None else f'{to_hand:13.3f}':>13}   {to_step:13.3f}")
    print(f"worst ratio: {worst:.3f} ({'ok' if worst <= 1.10 else 'OVER the 1.10 target'})")


if __name__ == "__main__":
    main()
