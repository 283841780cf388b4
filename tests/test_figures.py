"""The report's comparison figures: every model's samples of a dataset side by side, with real
test images as the first panel on image data (a toy's data are drawn under every panel)."""
from __future__ import annotations

import numpy as np

from pipeline.data import datasets as data
from pipeline.reporting import report
from pipeline.trial.train import train
from tests.conftest import trial


def test_an_image_dataset_s_samples_are_shown_beside_real_test_images(datasets, tmp_path):
    digits = data.make_digits(0, 0.1, 0.2)
    data.save(digits, tmp_path / "data")
    data.save(datasets["ring8"], tmp_path / "data")
    (panel,) = report._real_images("digits", tmp_path / "data")
    assert panel[0] == "data (test images)"
    np.testing.assert_array_equal(panel[1], digits.x["test"][:36])  # the real images, as the samples are drawn
    assert report._real_images("ring8", tmp_path / "data") == []  # a toy's data lie under its samples instead

    result = train(trial("ae", digits, steps=20), digits)
    rows = report.study_figures("generation", [result], tmp_path / "figures", tmp_path / "data", every_curve=False)
    (heading, (figure,)) = rows[0]
    assert heading == "digits: samples of every model" and figure.name == "comparison-digits.png"
    assert figure.stat().st_size > 10_000


def test_a_trial_s_own_sample_grid_holds_real_images_beside_its_samples(datasets):
    from pipeline.orchestration.trainable import sample_grid

    digits = data.make_digits(0, 0.1, 0.2)
    drawn = np.random.default_rng(0).random((64, 1, 8, 8), dtype=np.float32)
    grid = sample_grid("gan-digits-s0", "prior", drawn, digits.x["test"][:36])
    assert [a.get_title() for a in grid.axes if a.get_visible()] == ["data (test images)", "samples (prior)"]
    toy = sample_grid("gan-ring8-s0", "prior", datasets["ring8"].x["test"][:50], datasets["ring8"].x["train"][:200])
    assert len(toy.axes) == 1 and len(toy.axes[0].collections) == 2  # the data in grey, the samples over them


def test_every_seed_of_each_row_has_its_panel_a_row_per_model(datasets, tmp_path):
    ring8 = datasets["ring8"]
    data.save(ring8, tmp_path / "data")
    results = [train(trial(m, ring8, steps=10, seed=s), ring8) for m in ("gan", "ae") for s in (0, 1)]
    panels, columns = report._every_seed(results, "ring8")
    assert columns == 2 and [label for label, _ in panels][:2] == ["gan s0", "gan s1"] and len(panels) == 4
    later, columns = report._every_seed([r.model_copy(update={"trial": r.trial.model_copy(update={"seed": r.trial.seed + 5})})
                                         for r in results], "ring8")
    assert columns == 2 and [label for label, _ in later][:2] == ["gan s5", "gan s6"]  # a column per seed run, no more
    one_seed, _ = report._every_seed(results[:1] + results[2:3], "ring8")
    assert one_seed == []  # one seed each: the comparison figure already shows it
    rows = report.study_figures("generation", results, tmp_path / "figures", tmp_path / "data", every_curve=False)
    assert ("ring8: every seed's samples (do the seeds agree?)", [tmp_path / "figures" / "comparison-seeds-ring8.png"]) in rows


def test_a_title_longer_than_its_panel_wraps_inside_the_figure_instead_of_being_clipped():
    from pipeline.files import figures

    title = "infogan-lambda_cat=1.0-digits-s0: rows = categories, columns = c1 from -2 to 2 (the other codes fixed)"
    fig = figures.samples_figure(np.zeros((100, 1, 28, 28)), title, columns=10)
    fig.canvas.draw()
    shown = fig.axes[0].title
    assert shown.get_text().replace("\n", " ") == title and shown.get_text().count("\n") >= 1
    box = shown.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width  # the whole title lies on the canvas
    figures.plt.close(fig)


def test_a_tall_figure_s_title_stays_clear_of_its_first_line_of_panels():
    from pipeline.files import figures

    panels = [(f"model {i} s{s}", np.random.default_rng(i).random((16, 1, 8, 8))) for i in range(9) for s in range(3)]
    fig = figures.comparison_figure(panels, "a line per model, a column per seed", per_row=3)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    first_line = [ax.title.get_window_extent(renderer) for ax in fig.axes[:3]]
    assert all(box.y1 < title.y0 for box in first_line)  # y grows upwards: the panels' titles lie below


def test_a_factor_s_categories_are_points_and_its_numbers_a_line():
    from pipeline.files import figures

    fig = figures.factor_figure({"ks": [("prior=gaussian", 1.0, 0.1), ("prior=mixture", 2.0, 0.2)],
                                 "mmd": [("lam=0.0", 1.0, 0.1), ("lam=0.3", 0.5, 0.1)],
                                 "tc": [("lr=0.1,lam=0.0", 1.0, 0.1), ("lr=0.2,lam=0.3", 0.5, 0.1)]}, "prior")
    categories, numbers, pairs = fig.axes
    assert categories.lines[0].get_linestyle() == "None"  # no line between unordered levels
    assert numbers.lines[0].get_linestyle() == "-"
    assert pairs.lines[0].get_linestyle() == "None"  # two factors at once: no order either
    figures.plt.close(fig)


def test_a_curves_figure_s_fixed_layout_keeps_every_label_on_the_canvas_and_apart():
    """curves_figure lays its panels out by fixed margins (no tight_layout): with the widest
    numbers a run logs (six-digit steps, 1e10 values, negative losses), a title of two lines and
    a panel title that wraps, nothing leaves the canvas, no panel's labels reach its neighbour's,
    and the titles stay clear of the panels and of each other."""
    from pipeline.files import figures

    steps = range(0, 400_001, 1000)
    curves = {"loss/disc": [(s, -1e-5 * s) for s in steps], "loss/gen": [(s, 123456.789 * s) for s in steps],
              "val/prior/" + "a_metric_name_long_enough_to_wrap" * 2: [(s, 1e6 + s) for s in steps], "val/empty": []}
    fig = figures.curves_figure(curves, "pm_gan-prior=mixture-lambda=0.3-digits-s0, a run name of two lines " * 3)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    canvas = fig.bbox
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
    for box in boxes:
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= canvas.width and box.y1 <= canvas.height
    for left, right in zip(boxes, boxes[1:]):
        assert left.x1 < right.x0  # neighbours' labels stay apart
    title = fig._suptitle.get_window_extent(renderer)
    assert title.y1 <= canvas.height and all(box.y1 < title.y0 for box in boxes)
    for ax in fig.axes:
        labels = [t.get_window_extent(renderer) for t in ax.get_xticklabels() if t.get_text()]
        assert labels and all(a.x1 < b.x0 for a, b in zip(labels, labels[1:]))  # tick labels apart
    figures.plt.close(fig)
