"""`pm2gan <command>`: what the DVC stages call, and a few tools for people.

    pm2gan check            validate params.yaml and list the trials of every study
    pm2gan fetch [DATASET...]    make the datasets (default: every one the profile's studies read) under data/
    pm2gan evalnet [DATASET...]  train the evaluation classifier of each labelled image dataset among them
    pm2gan study NAME       run one study (pipeline/studies/NAME.py): a Ray Tune sweep logged to MLflow
    pm2gan theory           the same as `pm2gan study theory`: the GAN tutorial's exercises as exact experiments
    pm2gan stages [--check]  write dvc.yaml from the studies and params.yaml (or check that it is current)
    pm2gan report           write reports/ from results/ and attach it to an MLflow run
    pm2gan explore MODEL    train one family over a few settings here and print its validation metrics
    pm2gan ui               the MLflow UI on the project's tracking store
    pm2gan sample RUN_ID    draw samples from the trained model of a trial's MLflow run (a PNG and a .npy)
    pm2gan submit STAGE...  run DVC stages on a Ray cluster as a Ray job and restore their outputs here
    pm2gan dvc ARGS...      `dvc ARGS` (repro, exp run) with one Ray instance and one MLflow server for all its stages
    pm2gan smoke            every stage, study and family at a tiny budget, in a scratch checkout (.smoke/): a first run

`pm2gan COMMAND --help` says more; --params and --profile go before or after the command.
Exit codes: 0 done; 1 the work failed (a server, the data, the cluster, the trials); 2 the
command line, params.yaml or a setting is wrong; 130 a sweep was interrupted (`dvc repro` resumes it).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.settings import config as configmod


def cmd_check(cfg: configmod.Config, args) -> None:
    from pipeline.settings.trials import expand

    total = 0
    for study in cfg.studies:
        name, profile = cfg.profile_of(study)
        under = f" (profile {name}{', capped' if profile.cap else ''})" if name != cfg.profile_name else ""
        if not cfg.study_datasets(study):
            print(f"{study}: not run: none of its datasets is in profile {name}")
            continue
        n = len(expand(cfg, study))
        total += n
        print(f"{study}: {n} trials on {', '.join(cfg.study_datasets(study))}{under}")
    print(f"{cfg.file}: OK (profile {cfg.profile_name}, {total} trials)")
    if args.stamp:  # the `params` stage's output: constant, so a passing check reruns nothing below it
        from pipeline.files.atomic import atomic_file

        with atomic_file(Path(args.stamp)) as tmp:
            tmp.write_text(STAMP_TEXT)


STAMP_TEXT = ("params.yaml passed `pm2gan check`. Every stage of dvc.yaml runs after the `params` stage that writes "
              "this file, so a bad value is refused before DVC removes any stage's outputs.\n")


def cmd_fetch(cfg: configmod.Config, args) -> None:
    from pipeline.data import datasets as data
    from pipeline.data import debian, places, subset

    for name in _datasets_named(cfg, args.datasets):
        folder = places.data_folder(name)
        if _marked_unused(cfg, name, folder, "fetch"):
            continue
        made = debian.ensure(name, cfg.datasets[name].local_dir, cfg.datasets[name].debian_package)
        if made:
            print(f"fetch: {name}: {made}", flush=True)
        ds = data.make(name, cfg.datasets[name], cfg.data)
        if name not in data.SYNTHETIC and cfg.datasets[name].size:  # a synthetic set is made at its size
            ds = subset.first(ds, cfg.datasets[name].size)
        path = data.save(ds, places.fresh(folder) if places.from_outside(name) else folder)
        sizes = ", ".join(f"{s} {len(ds.x[s])}" for s in data.SPLITS)
        print(f"fetch: {name}: {sizes} -> {path}", flush=True)


def _datasets_named(cfg: configmod.Config, named: list[str]) -> list[str]:
    """The datasets a `fetch` or `evalnet` command makes: those named (each known to params.yaml),
    or, none named, every one the profile's studies read."""
    from pipeline.settings import config as configmod

    for name in named:
        if name not in cfg.datasets:
            raise configmod.ConfigError(cfg.file, f"datasets.{name}",
                                        f"no such dataset (datasets: {', '.join(cfg.datasets)})")
    return list(named) or list(cfg.needed_datasets())


def _marked_unused(cfg: configmod.Config, name: str, folder: Path, command: str) -> bool:
    """Whether `name` is a dataset from outside that no study of the profile reads: then its
    stage's `folder` gets the note saying so (places.unused) instead of files, and nothing is made."""
    from pipeline.data import places

    if not places.from_outside(name) or name in cfg.needed_datasets():
        return False
    pinned = sorted({spec.profile for spec in cfg.studies.values() if spec.profile})
    why = (f"no study of profile {cfg.profile_name!r}"
           + (f" (nor of {', '.join(pinned)}, where studies pin it)" if pinned else "") + f" reads {name}")
    marker = places.unused(folder, name, why)
    print(f"{command}: {name}: not read by any study of profile {cfg.profile_name!r} -> {marker}", flush=True)
    return True


def cmd_evalnet(cfg: configmod.Config, args) -> None:
    from pipeline.data import places
    from pipeline.evaluation import evalnet

    for name in _datasets_named(cfg, args.datasets):
        if name not in places.LABELLED:
            continue  # a toy or pattern set: no classes to learn
        folder = places.evalnet_folder(name)
        if _marked_unused(cfg, name, folder, "evalnet"):
            continue
        ds = places.load(name)
        net, summary = evalnet.train_classifier(ds, cfg.evalnet)
        evalnet.save(net, summary, name, places.fresh(folder) if places.from_outside(name) else folder)
        print(f"evalnet: {name}: test accuracy {summary['test_accuracy']:.3f}", flush=True)


def cmd_study(cfg: configmod.Config, args) -> None:
    from pipeline.settings import config as configmod
    from pipeline.studies import STUDIES

    study = STUDIES.get(args.name)
    if study is None:
        raise configmod.ConfigError(cfg.file, f"studies.{args.name}", f"no such study (studies: {', '.join(STUDIES)})")
    if study.kind == "analytic":
        return cmd_theory(cfg, args)
    if args.name not in cfg.studies:
        raise configmod.ConfigError(cfg.file, f"studies.{args.name}",
                                    f"not configured (studies in params.yaml: {', '.join(cfg.studies)})")
    from pipeline.orchestration.sweep import run_study

    run_study(cfg, args.name)


def cmd_theory(cfg: configmod.Config, args) -> None:
    from pipeline.orchestration import theory_run as theory
    from pipeline.trial.results import TheoryResults

    out = theory.run(cfg)
    summary = TheoryResults.model_validate_json((out / "summary.json").read_text())
    for check in summary.checks:
        print(f"theory: {'holds' if check.holds else 'FAILS'}: {check.identity}: error "
              f"{check.measured_error:.3g} (tolerance {check.tolerance:g})", flush=True)
    print(f"theory: {sum(c.holds for c in summary.checks)}/{len(summary.checks)} identities hold "
          f"({summary.seconds:.0f} s) -> {out}")


def cmd_report(cfg: configmod.Config, args) -> None:
    from pipeline.files.provenance import code_version
    from pipeline.reporting import report
    from pipeline.studies.convergence import Rule
    from pipeline.tracking import mlflow_api as tracking
    from pipeline.trial.results import RESULTS_DIR

    with tracking.tracking_server(cfg.tracking.store, cfg.tracking.host) as uri:
        experiment = tracking.experiment_id(uri, f"{cfg.tracking.experiment_prefix}/report")
        with tracking.run(uri, experiment, "report", {"kind": "report", "profile": cfg.profile_name,
                                                      "code_version": code_version()}) as run_id:
            written = report.build(RESULTS_DIR, Rule(cfg.convergence.patience, cfg.convergence.min_change))
            files = {p.name: p for p in report.REPORTS_DIR.glob("*.md")}
            files["metrics.json"] = report.REPORTS_DIR / "metrics.json"
            tracking.log_files(uri, run_id, files)
            for study_fig_dir in (report.REPORTS_DIR / "figures").glob("*"):
                tracking.log_files(uri, run_id, {p.name: p for p in study_fig_dir.glob("*.png")},
                                   f"figures/{study_fig_dir.name}")
    print(f"report: {', '.join(str(p) for p in written.values())}")


def cmd_stages(cfg: configmod.Config, args) -> None:
    from pipeline.orchestration import stages

    if args.check:
        stages.check(cfg)
        print(f"{stages.DVC_FILE}: current")
    else:
        stages.DVC_FILE.write_text(stages.render(cfg))
        print(f"{stages.DVC_FILE}: written ({len(stages.stages(cfg))} stages)")


def cmd_explore(cfg: configmod.Config, args) -> None:
    from pipeline.trial import explore

    explore.run(cfg, args.model, args.datasets, args.set, args.seeds)


def cmd_sample(cfg: configmod.Config, args) -> None:
    """Load a trial's trained model from its MLflow run and draw from it: the first thing a user
    of a trained model asks for. The tracking server is MLFLOW_TRACKING_URI, else the project's
    local one (started for the download, stopped after)."""
    import numpy as np
    import torch

    from pipeline.data import places
    from pipeline.evaluation.samplers import SAMPLERS
    from pipeline.files import figures
    from pipeline.settings.config import ConfigError
    from pipeline.tracking import mlflow_api as tracking
    from pipeline.trial.train import trial_from_mlflow

    with contextlib.ExitStack() as stack:
        uri = os.environ.get("MLFLOW_TRACKING_URI") or stack.enter_context(
            tracking.tracking_server(cfg.tracking.store, cfg.tracking.host))
        tracking.check_server(uri)
        model, trial = trial_from_mlflow(args.run_id, uri)
    sampler = args.sampler or (model.samplers[0] if model.samplers else "prior")
    if sampler not in model.samplers:
        raise ConfigError("pm2gan sample", "--sampler", f"{model.__class__.__name__} draws with "
                                    f"{', '.join(model.samplers) or 'no sampler'}, not {sampler!r}")
    x_train = torch.empty(0)
    if sampler != "prior":  # it encodes training examples: the run's dataset, from data/
        x_train = torch.as_tensor(places.load(trial.dataset).x["train"])
    drawn = SAMPLERS[sampler](model, args.n, torch.Generator().manual_seed(args.seed), x_train).cpu().numpy()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out.with_suffix(".npy"), drawn)
    figures.save(figures.samples_figure(drawn, f"run {args.run_id[:8]}: {args.n} samples ({sampler})"), out)
    print(f"sample: {args.n} samples ({sampler}) -> {out} and {out.with_suffix('.npy')}")


def cmd_ui(cfg: configmod.Config, args) -> None:
    from pipeline.tracking.mlflow_api import SERVER_ENV, port_is_free, refuse_foreign_store, server_command

    store = Path(cfg.tracking.store)
    port_is_free(cfg.tracking.host, args.port)  # else the server would print the error and exit 0
    if not (store / "mlflow.db").exists():
        print(f"pm2gan: no runs yet in {store}/ (run `make repro` first); starting an empty UI", file=sys.stderr)
    store.mkdir(parents=True, exist_ok=True)
    refuse_foreign_store(store)
    command = server_command(store, cfg.tracking.host, args.port)
    base = f"http://{cfg.tracking.host}:{args.port}"
    print(f"MLflow UI: {base}  (Ctrl+C to stop). Each study's trials, then each experiment (a study's sweeps and "
          "comparison, the report, every trained trial):", flush=True)
    for what, experiment_id, view in _links(store / "mlflow.db"):
        print(f"  {what:24} {ui_link(base, experiment_id, view)}", flush=True)
    os.execve(command[0], command, {**os.environ, **SERVER_ENV})


def ui_link(base: str, experiment_id: str, view: str | None = None) -> str:
    """An experiment's runs in MLflow 3's model-training view (its UI opens every experiment in the
    GenAI view, traces and prompts, unless the link says otherwise, whatever the experiment's kind
    tag); with `view`, in that saved view (a study's: its trials, its table's columns)."""
    shown = f"&viewStateShareKey={view}" if view else ""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning{shown}"


def _links(db: Path) -> list[tuple[str, str, str | None]]:
    """(what, experiment id, saved view or None) for the UI's links, read from the store before its
    server starts: each study's trials (a saved view of pm2gan/trials) and each experiment of
    pm2gan's (a study's sweeps and comparison, the report)."""
    import sqlite3

    from pipeline.tracking.mlflow_api import VIEW_TAG_PREFIX

    if not db.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            experiments = con.execute(
                "SELECT experiment_id, name FROM experiments WHERE name LIKE 'pm2gan/%' AND lifecycle_stage = 'active' "
                "ORDER BY experiment_id").fetchall()
            views = con.execute(
                "SELECT t.experiment_id, substr(t.key, ?) FROM experiment_tags t JOIN experiments e ON "
                "e.experiment_id = t.experiment_id WHERE e.name LIKE 'pm2gan/%' AND e.lifecycle_stage = 'active' "
                "AND t.key LIKE ? ORDER BY t.key", (len(VIEW_TAG_PREFIX) + 1, VIEW_TAG_PREFIX + "%")).fetchall()
    except sqlite3.Error:  # a store MLflow has not migrated yet: the server will
        return []
    return ([(f"{view} trials", str(i), view) for i, view in views]
            + [(name.split("/", 1)[1], str(i), None) for i, name in experiments])


def cmd_submit(cfg: configmod.Config, args) -> None:
    from pipeline.orchestration import cluster

    cluster.submit(cfg, args.stages, args.address, args.storage, args.remote, args.tracking_uri, wait=not args.no_wait)


def cmd_dvc(cfg: configmod.Config, args) -> int:
    from pipeline.orchestration.shared_services import run_dvc

    if not args.arguments:
        raise configmod.ConfigError("pm2gan dvc", "", "give DVC's command: `pm2gan dvc repro [STAGE...]`, "
                                                      "`pm2gan dvc exp run -S KEY=VALUE`")
    return run_dvc(cfg, args.arguments)


def cmd_smoke(cfg: configmod.Config, args) -> int:
    from pipeline.orchestration import smoke
    from pipeline.settings import config as configmod

    if args.profile:  # the smoke run has its own: a profile asked for would be silently ignored
        raise configmod.ConfigError("--profile", "", f"pm2gan smoke runs its own profile ({smoke.PROFILE}); for a "
                                                     f"run under {args.profile!r}: `dvc exp run -S profile={args.profile}`")
    return smoke.run(Path.cwd(), Path(cfg.file))


def cmd_job(cfg: configmod.Config, args) -> None:
    from pipeline.orchestration import cluster

    cluster.run_job(args.stages)


COMMANDS = {"check": cmd_check, "fetch": cmd_fetch, "evalnet": cmd_evalnet, "study": cmd_study,
            "theory": cmd_theory, "report": cmd_report, "stages": cmd_stages, "explore": cmd_explore, "ui": cmd_ui,
            "sample": cmd_sample, "submit": cmd_submit, "dvc": cmd_dvc, "smoke": cmd_smoke, "job": cmd_job}
COMPUTING = ("fetch", "evalnet", "study", "theory", "report")  # what a cluster job's restore must not run here
STAGE_COMMANDS = ("check", *COMPUTING)  # what dvc.yaml's stages run


# What each command does, for `pm2gan --help` and `pm2gan COMMAND --help` (the module docstring's table).
HELP = {re.split(r"\s{2,}", line.strip(), maxsplit=1)[0].split()[1]: re.split(r"\s{2,}", line.strip(), maxsplit=1)[1]
        for line in __doc__.splitlines() if line.strip().startswith("pm2gan ") and re.search(r"\S\s{2,}\S", line.strip())}
HELP["job"] = "what `submit` runs on the cluster's head (dvc repro, dvc push --run-cache)"
HIDDEN = ("job",)  # run by `submit` on the cluster's head, not by people


def study_names() -> list[str]:
    """The studies' names, read from pipeline/studies/ without importing them (torch is slow to load)."""
    folder = Path(__file__).parent / "studies"
    return sorted(p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "base", "stats", "summary"))


def family_names() -> list[str]:
    """The model families, read from models/ without importing them (torch is slow to load)."""
    folder = Path(__file__).parent.parent / "models"
    shared = ("__init__", "base", "losses", "nets", "optim", "priors", "registry")  # the zoo's shared parts
    return sorted(p.stem for p in folder.glob("*.py") if p.stem not in shared)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    from pipeline.files.provenance import code_version

    try:
        release = installed("pm2gan")
    except PackageNotFoundError:
        release = "not installed"
    return f"pm2gan {release} (code {code_version()})"


class _Version(argparse.Action):
    """--version, computed only when asked (it reads the code's digest)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version())
        parser.exit()


# Exit codes, as `pm2gan --help` states them: a script can tell "fix what you gave" from "it failed".
EXIT_FAILED = 1  # the work was tried and failed: a server, the data, the cluster, the trials
EXIT_USAGE = 2  # the command line or the settings are wrong (argparse uses 2 for usage errors too)
# and 130: a sweep interrupted (sweep.SweepInterrupted.exit_code), as a shell reports Ctrl+C


class _Parser(argparse.ArgumentParser):
    """argparse, but an unknown command lists the commands `--help` shows: its own message names
    every choice, `job` (run by `submit` on the cluster's head) included."""

    def _check_value(self, action, value):
        if isinstance(action, argparse._SubParsersAction) and value not in action.choices:
            shown = ", ".join(repr(n) for n in action.choices if n not in HIDDEN)
            raise argparse.ArgumentError(action, f"invalid choice: {value!r} (choose from {shown})")
        super()._check_value(action, value)


def build_parser() -> argparse.ArgumentParser:
    """Every command and option, each with its help; names (studies, families) read without torch."""
    parser = _Parser(prog="pm2gan", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version, help="print the installed version and the code version, and exit")
    common = argparse.ArgumentParser(add_help=False)  # also after the command: `pm2gan check --profile reference`
    common.add_argument("--params", default=argparse.SUPPRESS, help="params file (default: params.yaml)")
    common.add_argument("--profile", default=argparse.SUPPRESS, help="override the profile named in the params file")
    parser.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    parser.add_argument("--profile", default=None, help="override the profile named in the params file")
    shown = [n for n in COMMANDS if n not in HIDDEN]
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(shown) + "}")
    for name in COMMANDS:
        options = {} if name in HIDDEN else {"help": HELP.get(name, "")}
        p = sub.add_parser(name, parents=[common], description=HELP.get(name), **options)
        if name == "study":
            names = study_names()
            # named here, checked by `cmd_study`: an unknown name is one `pm2gan: error:` line like any bad input
            p.add_argument("name", metavar="NAME", help="one of: " + ", ".join(names))
        if name == "ui":
            p.add_argument("--port", type=int, default=5000, help="the port the UI listens on (default 5000)")
        if name == "sample":
            p.add_argument("run_id", metavar="RUN_ID", help="a trial's MLflow run id (the run's page, or its `run_id`)")
            p.add_argument("--n", type=int, default=64, help="how many samples (default 64)")
            p.add_argument("--sampler", help="prior, shuffled_codes or fitted_marginals (default: the family's first)")
            p.add_argument("--seed", type=int, default=0, help="the seed of the draw (default 0)")
            p.add_argument("--out", default="samples.png", help="the PNG; the samples go beside it as .npy")
        if name in ("fetch", "evalnet"):
            p.add_argument("datasets", nargs="*", metavar="DATASET",
                           help="datasets of params.yaml's `datasets` (default: every one the profile's studies read)")
        if name == "stages":
            p.add_argument("--check", action="store_true", help="only check that dvc.yaml is current")
        if name == "check":
            p.add_argument("--stamp", metavar="FILE", help="on success, write FILE (the `params` stage's output)")
        if name in ("submit", "job"):
            p.add_argument("stages", nargs="+", help="DVC stages of dvc.yaml (their upstream stages run too)")
        if name == "submit":
            p.add_argument("--address", help="the Ray head's dashboard, e.g. http://127.0.0.1:8265 (default: RAY_ADDRESS)")
            p.add_argument("--tracking-uri", help="the MLflow server the cluster's nodes log to (default: MLFLOW_TRACKING_URI)")
            p.add_argument("--storage", help="Tune's storage, shared by every node: an NFS folder or s3:// URI "
                                             "(default: PM2GAN_STORAGE_PATH)")
            p.add_argument("--remote", help="the DVC remote the outputs come back through (default: DVC's default remote)")
            p.add_argument("--no-wait", action="store_true", help="submit and return; restore later with `dvc repro --pull`")
        if name == "dvc":
            p.add_argument("arguments", nargs=argparse.REMAINDER, metavar="ARGS",
                           help="DVC's command and its arguments: repro [STAGE...], exp run -S KEY=VALUE, ...")
        if name == "explore":
            p.add_argument("model", metavar="MODEL", help="one of: " + ", ".join(family_names()))
            p.add_argument("--datasets", nargs="+", required=True, help="datasets of params.yaml's `datasets`")
            p.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2",
                           help="a hyperparameter or budget key (steps, eval_every, ...) and its values; repeatable")
            p.add_argument("--seeds", nargs="+", type=int, default=[0], help="the seeds to run (default 0)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in STAGE_COMMANDS:  # under `pm2gan dvc`: forked from its stage server, imports paid once
        from pipeline.orchestration.stage_server import run_served

        served = run_served(sys.argv[1:] if argv is None else argv)
        if served is not None:
            return served
    from pipeline.data.datasets import DataError
    from pipeline.orchestration.sweep_storage import SweepError  # not sweep: Ray and MLflow load with it
    from pipeline.settings import config as configmod  # after parsing: `--help` and usage errors need no torch
    from pipeline.tracking.mlflow_api import TrackingError

    try:
        if args.command in COMPUTING:
            from pipeline.orchestration.cluster import refuse_to_compute

            refuse_to_compute(args.command)
        cfg = configmod.load(args.params, args.profile)
        code = COMMANDS[args.command](cfg, args)
    except configmod.ConfigError as err:
        print(f"pm2gan: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (TrackingError, SweepError, DataError, FileNotFoundError, subprocess.CalledProcessError) as err:
        print(f"pm2gan: error: {err}", file=sys.stderr)
        return getattr(err, "exit_code", EXIT_FAILED)
    return code or 0  # what `dvc` exited with; the other commands return nothing
