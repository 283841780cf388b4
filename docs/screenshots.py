"""The documentation's MLflow screenshots, taken from this project's own run, and the pages a
newcomer reads first, in headless Chromium (tests/browser.py: Debian's `chromium` driven by
Playwright).

    python docs/screenshots.py

After `make repro`, `mlruns/` holds the committed run's tracking store: the MLflow UI is opened on
it (a server of its own, on a free port) and `generation`'s trials (its saved view) and its
sweep's comparison figure are written to docs/mlflow-runs.png and docs/mlflow-comparison.png.
The README rendered as a forge shows it and `reports/report.html` go to test-output/browser/,
to look at."""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.cli import ui_link  # noqa: E402
from pipeline.tracking import mlflow_api as tracking  # noqa: E402
from tests import browser  # noqa: E402

STUDY = "generation"


def close_assistant(p) -> None:
    """MLflow's assistant panel covers a third of the runs table."""
    if p.get_by_role("button", name="Close").count():
        p.get_by_role("button", name="Close").first.click()


def mlflow_pages(store: Path, docs: Path) -> list[Path]:
    with tracking.tracking_server(store) as uri, browser.page(1500, 950) as p:
        client = tracking.client(uri)
        trials = client.get_experiment_by_name("pm2gan/trials").experiment_id
        experiment = client.get_experiment_by_name(f"pm2gan/{STUDY}").experiment_id
        sweeps = [r for r in client.search_runs([experiment], order_by=["attributes.start_time DESC"])
                  if r.data.tags.get("kind") == "sweep" and r.info.status == "FINISHED"]
        p.goto(ui_link(uri, trials, STUDY))
        p.get_by_text("matching runs").first.wait_for(timeout=60_000)
        close_assistant(p)
        p.get_by_text("gan-digits-s0", exact=True).first.wait_for(timeout=60_000)
        # the view's first metrics are the toys' (modes): its rows on ring8, where they are defined
        search = p.get_by_placeholder(re.compile("metrics", re.I)).first
        search.fill(f"{search.input_value()} AND tags.dataset = 'ring8'")
        search.press("Enter")
        p.get_by_text("gan-ring8-s0", exact=True).first.wait_for(timeout=60_000)
        runs = docs / "mlflow-runs.png"
        p.screenshot(path=str(runs))
        figure = "figures/comparison-digits.png"
        p.goto(f"{uri}/#/experiments/{experiment}/runs/{sweeps[0].info.run_id}/artifacts/{figure}"
               "?workflowType=machine_learning")
        p.get_by_text(figure).first.wait_for(timeout=60_000)
        p.wait_for_function("[...document.images].some(i => i.complete && i.naturalWidth >= 1000)", timeout=60_000)
        for listed in client.list_artifacts(sweeps[0].info.run_id, "figures"):  # the tree, once it lists them all
            p.get_by_text(Path(listed.path).name, exact=True).first.wait_for(timeout=60_000)
        close_assistant(p)
        comparison = docs / "mlflow-comparison.png"
        p.screenshot(path=str(comparison))
    return [runs, comparison]


def first_pages() -> list[Path]:
    """The README rendered (GitHub-like: its tables, its images) and the report's first screen."""
    import markdown

    page = browser.OUTPUT / "readme.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    body = markdown.markdown((ROOT / "README.md").read_text(), extensions=["tables", "fenced_code"])
    body = body.replace('src="docs/', f'src="{(ROOT / "docs").as_uri()}/')
    page.write_text("<!doctype html><meta charset=utf-8><title>README</title><style>body{font:16px/1.5 sans-serif;"
                    "max-width:1000px;margin:2em auto}table{border-collapse:collapse;font-size:13px}td,th{border:1px "
                    "solid #ccc;padding:4px}img{max-width:100%}code{background:#f3f3f3}</style>" + body)
    shots = []
    with browser.page(1280, 1000) as p:
        p.goto(page.as_uri())
        shots.append(browser.screenshot(p, "readme", full_page=True))
        p.goto((ROOT / "reports" / "report.html").as_uri())
        assert browser.broken_images(p) == [], "report.html: an image does not load"
        shots.append(browser.screenshot(p, "report-top"))
    return shots


if __name__ == "__main__":
    if browser.skip_reason():
        sys.exit(f"screenshots: {browser.skip_reason()}")
    for shot in [*mlflow_pages(ROOT / "mlruns", ROOT / "docs"), *first_pages()]:
        print(f"screenshots: {shot.relative_to(ROOT)}")
