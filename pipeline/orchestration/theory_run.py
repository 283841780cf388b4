"""The `theory` study run: its experiments computed (pipeline/evaluation/theory.py), each
identity judged against its tolerance in params.yaml (`theory.tolerances`), results/theory/
written whole and an MLflow run recorded. Its claim and verdict rule are the study's
(pipeline/studies/theory.py)."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from pipeline.evaluation import theory
from pipeline.files import figures
from pipeline.files.atomic import atomic_folder
from pipeline.files.figures import plt
from pipeline.files.provenance import code_version
from pipeline.settings.config import Config, ConfigError
from pipeline.tracking import mlflow_api as tracking
from pipeline.trial.results import RESULTS_DIR, Check, TheoryResults

THEORY_DIR = RESULTS_DIR / "theory"


def _check(name: str, measured: float, tolerance: float, expected: str, detail: str = "") -> Check:
    return Check(identity=name, measured_error=measured, tolerance=tolerance, expected=expected,
                 holds=bool(measured <= tolerance), detail=detail)


def run(cfg: Config, out: Path = THEORY_DIR) -> Path:
    """Every identity, judged, written to `out` and to an MLflow run that ends FAILED if any step raises."""
    t = cfg.theory
    if t is None:
        raise ConfigError(cfg.file, "theory", "the section is missing; the theory stage needs it")
    with tracking.tracking_server(cfg.tracking.store, cfg.tracking.host) as uri:
        experiment = tracking.experiment_id(uri, f"{cfg.tracking.experiment_prefix}/theory")
        with tracking.run(uri, experiment, f"theory-{time.strftime('%Y%m%d-%H%M%S')}",
                          {"study": "theory", "code_version": code_version()}) as run_id:
            tracking.log_values(uri, run_id, params={k: json.dumps(v) for k, v in t.model_dump(mode="json").items()})
            summary, figs = _experiments(t)
            _write(out, summary, figs)
            tracking.log_values(uri, run_id, summary.metrics,
                                tags={"holds": f"{sum(c.holds for c in summary.checks)}/{len(summary.checks)}"})
            tracking.log_files(uri, run_id, {p.name: p for p in out.iterdir()})
    return out


def _experiments(t) -> tuple[TheoryResults, dict]:
    """The four experiments: their judged checks, metrics and figures."""
    tol = t.tolerances
    checks, figs, metrics = [], {}, {}
    start = time.perf_counter()

    # 1. The optimal discriminator, 1-D pairs and a 2-D mixture.
    fig, axes = plt.subplots(1, len(t.pairs), figsize=(4 * len(t.pairs), 3), squeeze=False)
    for i, pair in enumerate(t.pairs):
        res = theory.optimal_discriminator_1d(pair.data, pair.g, t.disc_steps, t.seed + i)
        label = f"{pair.data} vs {pair.g}"
        checks.append(_check(f"D* (1-D) pair {i}", res["max_error"], tol.d_star_1d,
                             "trained D = p_data / (p_data + p_g)", label))
        metrics[f"d_star_1d/pair{i}/max_error"] = res["max_error"]
        ax = axes[0][i]
        ax.plot(res["x"], res["d_star"], label="D* (analytic)", lw=2)
        ax.plot(res["x"], res["d_hat"], "--", label="trained D")
        ax.fill_between(res["x"], 0, 1, where=res["support"], color="gray", alpha=0.15, label="compared")
        ax.set_title(f"pair {i}: max error {res['max_error']:.3f}", fontsize=8)
        ax.legend(fontsize=6)
    figs["d_star_1d.png"] = fig
    res = theory.optimal_discriminator_2d(t.disc_steps, t.seed)
    checks.append(_check("D* (2-D)", res["max_error"], tol.d_star_2d, "trained D = p_data / (p_data + p_g)",
                         "ring of 8 N(·, 0.3²) vs N(0, 1.5² I)"))
    metrics["d_star_2d/max_error"] = res["max_error"]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    extent = [res["axis"][0], res["axis"][-1]] * 2
    for ax, img, title in zip(axes, (res["d_star"], res["d_hat"], np.abs(res["d_hat"] - res["d_star"])),
                              ("D* (analytic)", "trained D", "|D - D*|")):
        shown = ax.imshow(img, origin="lower", extent=extent, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(title, fontsize=8)
    fig.colorbar(shown, ax=axes, shrink=0.8)
    figs["d_star_2d.png"] = fig

    # 2. The value at the optimum against 2 JSD - log 4.
    for i, pair in enumerate(t.pairs):
        v = theory.value_at_optimum(pair.data, pair.g)
        checks.append(_check(f"V(D*, G) = 2 JSD - log 4, pair {i}", abs(v["value"] - v["identity"]), tol.value,
                             "equal", f"V = {v['value']:.6f}, 2 JSD - log 4 = {v['identity']:.6f}, JSD = {v['jsd']:.6f}"))
        metrics.update({f"value/pair{i}/value": v["value"], f"value/pair{i}/jsd": v["jsd"]})

    # 3. Gradient descent on V(x, y) = xy.
    fig, (ax_path, ax_r) = plt.subplots(1, 2, figsize=(9, 4))
    turn = np.linspace(0, 2 * math.pi, 200)
    ax_path.plot(np.cos(turn), np.sin(turn), "k:", lw=1, label="continuous time")
    for eta in t.step_sizes:
        steps = max(1, int(round(t.game_time / eta)))
        sim = theory.bilinear_game(eta, steps, simultaneous=True)
        alt = theory.bilinear_game(eta, steps, simultaneous=False)
        growth = theory.radius_growth(sim)
        analytic = math.sqrt(1 + eta**2)
        circle = np.stack([np.cos(eta * np.arange(steps + 1)), np.sin(eta * np.arange(steps + 1))], 1)
        drift = float(np.abs(sim - circle).max())
        alt_max = float(np.linalg.norm(alt, axis=1).max())
        checks.append(_check(f"simultaneous GD on xy, eta={eta:g}: radius x sqrt(1+eta²) per step",
                             abs(growth - analytic), tol.radius_growth, f"{analytic:.6f}",
                             f"measured {growth:.6f}; after time {t.game_time:.3g} the radius is "
                             f"{np.linalg.norm(sim[-1]):.4f}; max distance from the circle {drift:.4f}; "
                             f"alternating updates: max radius {alt_max:.4f}"))
        metrics.update({f"bilinear/eta{eta:g}/growth": growth, f"bilinear/eta{eta:g}/circle_drift": drift,
                        f"bilinear/eta{eta:g}/alternating_max_radius": alt_max})
        line, = ax_path.plot(sim[:, 0], sim[:, 1], lw=1, label=f"simultaneous η={eta:g}")
        ax_path.plot(alt[:, 0], alt[:, 1], "--", lw=1, color=line.get_color(), label=f"alternating η={eta:g}")
        time_axis = eta * np.arange(steps + 1)
        ax_r.plot(time_axis, np.linalg.norm(sim, axis=1), color=line.get_color(), label=f"simultaneous η={eta:g}")
        ax_r.plot(time_axis, np.linalg.norm(alt, axis=1), "--", color=line.get_color(), label=f"alternating η={eta:g}")
    drifts = [metrics[f"bilinear/eta{eta:g}/circle_drift"] for eta in sorted(t.step_sizes)]
    # Measured: the largest ratio drift(smaller eta) / drift(next larger eta); below 1 means every
    # smaller step size stays closer to the continuous-time circle.
    worst_ratio = max((a / b for a, b in zip(drifts, drifts[1:])), default=0.0)
    checks.append(_check("smaller steps follow the continuous-time circle more closely", worst_ratio, 1.0,
                         "drift ratio < 1", "max distance from x = cos t, y = sin t by eta "
                         f"{sorted(t.step_sizes)}: {[round(d, 4) for d in drifts]}"))
    ax_path.set_aspect("equal")
    ax_path.set_title("trajectories from (1, 0)", fontsize=9)
    ax_path.legend(fontsize=6)
    ax_r.set_xlabel("time = step × η")
    ax_r.set_ylabel("radius")
    ax_r.set_title("distance to the equilibrium", fontsize=9)
    figs["bilinear_game.png"] = fig

    # 4. The generator costs' gradients at the optimal discriminator.
    g = t.generator
    grads = theory.generator_cost_gradients(g.data, g.g_mean, g.g_std, g.samples, t.seed)
    for cost, target, name in (("ml", "kl_data_g", "KL(p_data || p_g)"), ("kl", "kl_g_data", "KL(p_g || p_data)")):
        measured, analytic = np.array(grads[cost]), np.array(grads[target])
        rel = float(np.abs(measured - analytic).max() / np.abs(analytic).max())
        checks.append(_check(f"E grad of the `{cost}` cost = grad {name}", rel, tol.gradient, "equal",
                             f"d/d(mean, std): measured {np.round(measured, 4).tolist()}, "
                             f"analytic {np.round(analytic, 4).tolist()}"))
        metrics[f"gradients/{cost}/relative_error"] = rel

    return TheoryResults(seconds=time.perf_counter() - start, checks=checks, metrics=metrics), figs


def _write(out: Path, summary: TheoryResults, figs: dict) -> None:
    """Atomically: the folder appears whole or not at all."""
    with atomic_folder(out) as tmp:
        for name, fig in figs.items():
            figures.save(fig, tmp / name)
        (tmp / "summary.json").write_text(summary.model_dump_json(indent=1))
