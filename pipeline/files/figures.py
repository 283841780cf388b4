"""Figures shared by the trials (MLflow images) and the report: one look for both."""
from __future__ import annotations

import math
import textwrap

import matplotlib

matplotlib.use("Agg")  # headless: trials and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def samples_figure(samples: np.ndarray, title: str, reference: np.ndarray | None = None, max_images: int = 100,
                   columns: int | None = None, modes: np.ndarray | None = None):
    """A grid of images (N, 1, H, W) (`columns` per row, else a square), or a scatter of 2-D
    points over the data (`reference`) with the true modes' centres (`modes`) marked."""
    shape = (4, 4 * _grid_rows(min(len(samples), max_images), columns) / _grid_cols(min(len(samples), max_images),
                                                                                    columns)) if samples.ndim == 4 else (4, 4)
    fig, ax = plt.subplots(figsize=shape)
    _draw_samples(ax, samples, title, reference, max_images, columns, modes)
    fig.tight_layout()
    return fig


def comparison_figure(panels: list[tuple[str, np.ndarray]], title: str, reference: np.ndarray | None = None,
                      modes: np.ndarray | None = None, per_row: int = 5, max_images: int = 36):
    """Every model's samples of one dataset side by side, on the same axes for 2-D data: the
    figure to compare families by eye."""
    fig, axes = _panels(len(panels), per_row, 3.0, 3.0)
    for ax, (label, samples) in zip(axes, panels):
        _draw_samples(ax, samples, label, reference, max_images, None, modes, legend=False)
        if samples.ndim != 4 and reference is not None:  # one scale for all panels: spread is comparable
            pad = 0.15 * np.ptp(reference, axis=0)
            ax.set_xlim(reference[:, 0].min() - pad[0], reference[:, 0].max() + pad[0])
            ax.set_ylim(reference[:, 1].min() - pad[1], reference[:, 1].max() + pad[1])
    # a toy's modes are narrower than a marker (ring8's std is 0.01): its data lie under the red x
    _suptitle(fig, title + ("  (blue: samples; red x: the true modes, the data in grey around them)"
                            if modes is not None else ""), 10)
    _layout(fig)
    return fig


def losses_figure(panels: list[tuple[str, dict[str, list[tuple[int, float]]]]], title: str, per_row: int = 5):
    """Each model's players' losses (its `loss/*` curves, overlaid) in a panel of its own, the
    models side by side: who wins the game, and when, at a glance."""
    fig, axes = _panels(len(panels), per_row, 3.2, 2.6)
    for ax, (label, curves) in zip(axes, panels):
        for key in sorted(curves):
            if curves[key]:
                steps, values = zip(*curves[key])
                ax.plot(steps, values, lw=1, label=key.split("/", 1)[1])
        _title(ax, label, 9)
        ax.set_xlabel("step", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=6, loc="best")
    _suptitle(fig, title, 10)
    _layout(fig)
    return fig


def factor_figure(points: dict[str, list[tuple[str, float, float]]], title: str):
    """A metric against a study's factor (a hyperparameter it varies): one panel per metric,
    mean ± std over seeds at each value, in the values' order. Values that are numbers
    ('lam=0.3') are joined by a line; categories ('prior=mixture') and points of several factors
    are points alone: no line runs between unordered levels."""
    names = list(points)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        labels, means, stds = zip(*points[name])
        ordered = all(_is_number(_value(label)) for label in labels)
        ax.errorbar(range(len(labels)), means, yerr=stds, marker="o", capsize=3, lw=1, ls="-" if ordered else "none")
        ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=20)
        _title(ax, name, 8)
        ax.tick_params(labelsize=7)
    _suptitle(fig, title, 9)
    _layout(fig)
    return fig


# A series over training: its label, the x positions, means and the interval's two ends; dashed
# for a baseline (one value, the same at every point).
Series = tuple[str, list[float], list[float], list[float], list[float], bool]
OUTCOME_LEVELS = ("does not hold", "inconclusive", "holds")


def trajectory_figure(outcomes: list[tuple[float, str]], panels: list[tuple[str, list[Series]]], title: str,
                      settled_after: float, per_row: int = 4):
    """A verdict over training: the verdict at each point (first panel), then each number the
    rule read, one panel per dataset and metric, every row's mean with its interval shaded and
    the baselines dashed; x is the fraction of each trial's budget, the settling line marked."""
    fig, axes = _panels(1 + len(panels), per_row, 3.4, 2.7)
    xs, levels = zip(*outcomes) if outcomes else ((), ())
    ax = axes[0]
    ax.step(xs, [OUTCOME_LEVELS.index(o) for o in levels], where="post", color="black", lw=1)
    ax.scatter(xs, [OUTCOME_LEVELS.index(o) for o in levels], c=[("tab:red", "tab:gray", "tab:green")[
        OUTCOME_LEVELS.index(o)] for o in levels], zorder=3, s=18)
    ax.set_yticks(range(len(OUTCOME_LEVELS)), OUTCOME_LEVELS, fontsize=7)
    ax.set_ylim(-0.5, len(OUTCOME_LEVELS) - 0.5)
    _title(ax, "verdict on validation data", 8)
    for ax, (name, series) in zip(axes[1:], panels):
        for i, (label, x, mean, low, high, dashed) in enumerate(series):
            colour = "grey" if dashed else f"C{i % 10}"
            ax.plot(x, mean, ls="--" if dashed else "-", lw=1, color=colour, marker=None if dashed else ".", ms=3,
                    label=label)
            ax.fill_between(x, low, high, color=colour, alpha=0.15, lw=0)
        _title(ax, name, 8)
        ax.legend(fontsize=5, loc="best")
    for ax in axes:
        ax.axvline(settled_after, color="black", lw=0.6, ls=":")
        ax.set_xlim(0, 1.02)
        ax.set_xlabel("fraction of the budget", fontsize=7)
        ax.tick_params(labelsize=6)
    _suptitle(fig, title, 9)
    _layout(fig)
    return fig


def _value(label: str) -> str:
    """A factor level's value: '0.3' of 'lam=0.3'; a level of several factors stays whole."""
    return label.split("=", 1)[1] if label.count("=") == 1 else label


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


# A character of the figures' sans-serif font is about this share of its size in points wide.
CHAR_WIDTH = 0.6


def _wrapped(text: str, inches: float, fontsize: float) -> str:
    """`text` in lines that fit `inches` at `fontsize`: a long run name wraps, never clipped."""
    return "\n".join(textwrap.wrap(text, max(10, int(inches * 72 / (fontsize * CHAR_WIDTH))),
                                    break_long_words=True, break_on_hyphens=False)) or text


def _title(ax, text: str, fontsize: float) -> None:
    """An axes' title wrapped to the axes' width."""
    width = ax.get_position().width * ax.figure.get_figwidth()
    ax.set_title(_wrapped(text, width, fontsize), fontsize=fontsize)


def _suptitle(fig, text: str, fontsize: float) -> None:
    """A figure's title wrapped to the figure's width, a fixed distance below its top edge."""
    fig.suptitle(_wrapped(text, fig.get_figwidth() * 0.95, fontsize), fontsize=fontsize,
                 y=1 - TITLE_GAP / fig.get_figheight(), va="top")


TITLE_GAP, TITLE_LINE = 0.08, 0.2  # inches: above the figure's title, and each line of it


def _layout(fig) -> None:
    """tight_layout under the figure's title: the title's lines keep their room at the top in
    inches, so that on a tall figure (a line of panels per model) the first line's panel titles
    stay clear of it (matplotlib keeps a share of the height, too little there)."""
    title = fig.get_suptitle()
    room = (TITLE_GAP + TITLE_LINE * (title.count("\n") + 1) + 0.05) / fig.get_figheight() if title else 0.0
    fig.tight_layout(rect=(0, 0, 1, 1 - room))


def _panels(n: int, per_row: int, width: float, height: float):
    """A figure of n panels, per_row to a row (a suptitle's room above): the figure and its n axes."""
    cols = min(per_row, n)
    rows = int(math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows + 0.4), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def _grid_cols(n: int, columns: int | None) -> int:
    return columns or int(math.ceil(math.sqrt(n)))


def _grid_rows(n: int, columns: int | None) -> int:
    return int(math.ceil(n / _grid_cols(n, columns)))


def _draw_samples(ax, samples: np.ndarray, title: str, reference, max_images: int, columns: int | None, modes,
                  legend: bool = True) -> None:
    if samples.ndim == 4:
        n = min(len(samples), max_images)
        cols, rows = _grid_cols(n, columns), _grid_rows(n, columns)
        h, w = samples.shape[2:]
        canvas = np.ones((rows * (h + 1) + 1, cols * (w + 1) + 1))
        for i in range(n):
            r, c = divmod(i, cols)
            canvas[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = samples[i, 0]
        ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.axis("off")
    else:
        if reference is not None:
            ax.scatter(reference[:, 0], reference[:, 1], s=3, c="0.6", label="data")  # seen under the samples
        ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:blue", alpha=0.6, label="samples")
        if modes is not None:
            ax.scatter(modes[:, 0], modes[:, 1], s=30, c="tab:red", marker="x", lw=1.2, label="true modes")
        ax.set_aspect("equal")
        if legend:
            ax.legend(loc="upper right", fontsize=7, markerscale=2)
        ax.tick_params(labelsize=6)
    _title(ax, title, 9)


# A curves figure's margins, inches: room for tick labels at 6 pt and the "step" label at 7 pt.
# Fixed rather than measured: tight_layout draws the figure's text once more just to measure it,
# and the report and every trial draw one such figure per row (3 panels of 160 points: 0.21 s a
# figure with it, 0.12 s without, on 2026-12-05's 2-core machine).
# tests/test_figures.py checks that nothing falls off or overlaps.
CURVE_LEFT, CURVE_RIGHT, CURVE_BOTTOM, CURVE_GAP, PANEL_TITLE_LINE = 0.55, 0.15, 0.45, 0.6, 0.16


def curves_figure(curves: dict[str, list[tuple[int, float]]], title: str):
    """Training curves: one line per key ('loss/gen', ...), step on x."""
    keys = sorted(curves)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.6), squeeze=False)
    width, height = fig.get_size_inches()
    panel = (width - CURVE_LEFT - CURVE_RIGHT - CURVE_GAP * (len(keys) - 1)) / len(keys)
    fig.subplots_adjust(left=CURVE_LEFT / width, right=1 - CURVE_RIGHT / width, bottom=CURVE_BOTTOM / height,
                        wspace=CURVE_GAP / panel)  # before the titles: they wrap to the panel's width
    for ax, key in zip(axes[0], keys):
        steps, values = zip(*curves[key]) if curves[key] else ((), ())
        ax.plot(steps, values, lw=1)
        _title(ax, key, 8)
        ax.set_xlabel("step", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.locator_params(axis="x", nbins=5)  # 400,000 steps: six-digit labels that stay apart
        for axis in (ax.xaxis, ax.yaxis):
            axis.get_offset_text().set_fontsize(6)  # "1e6" above a panel, at its tick labels' size
    _suptitle(fig, title, 9)
    title_lines = fig.get_suptitle().count("\n") + 1
    panel_lines = max(ax.get_title().count("\n") + 1 for ax in axes[0])
    top = TITLE_GAP + TITLE_LINE * title_lines + 0.1 + PANEL_TITLE_LINE * panel_lines + 0.18  # + an offset's "1e6"
    fig.subplots_adjust(top=1 - top / height)
    return fig


def save(fig, path) -> None:
    fig.savefig(path, dpi=100)
    plt.close(fig)
