"""Figures shared by the trials (MLflow images) and the report: one look for both."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")  # headless: trials and CI have no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def samples_figure(samples: np.ndarray, title: str, reference: np.ndarray | None = None, max_images: int = 100,
                   columns: int | None = None):
    """A grid of images (N, 1, H, W) (`columns` per row, else a square), or a scatter of 2-D
    points over the data (`reference`)."""
    if samples.ndim == 4:
        n = min(len(samples), max_images)
        cols = columns or int(math.ceil(math.sqrt(n)))
        rows = int(math.ceil(n / cols))
        h, w = samples.shape[2:]
        canvas = np.ones((rows * (h + 1) + 1, cols * (w + 1) + 1))
        for i in range(n):
            r, c = divmod(i, cols)
            canvas[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = samples[i, 0]
        fig, ax = plt.subplots(figsize=(4, 4 * rows / cols))
        ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.axis("off")
    else:
        fig, ax = plt.subplots(figsize=(4, 4))
        if reference is not None:
            ax.scatter(reference[:, 0], reference[:, 1], s=2, c="lightgray", label="data")
        ax.scatter(samples[:, 0], samples[:, 1], s=2, c="tab:blue", alpha=0.6, label="samples")
        ax.set_aspect("equal")
        ax.legend(loc="upper right", fontsize=7, markerscale=4)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def curves_figure(curves: dict[str, list[tuple[int, float]]], title: str):
    """Training curves: one line per key ('loss/gen', ...), step on x."""
    keys = sorted(curves)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        steps, values = zip(*curves[key]) if curves[key] else ((), ())
        ax.plot(steps, values, lw=1)
        ax.set_title(key, fontsize=8)
        ax.set_xlabel("step", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def save(fig, path) -> None:
    fig.savefig(path, dpi=100)
    plt.close(fig)
