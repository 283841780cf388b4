"""Headless Chromium (Debian's `chromium`), driven through Playwright, for the tests that look
at pages as a person does: the HTML report from the file system and the MLflow UI. Playwright
only drives the system's browser here; it downloads none. Screenshots go to
test-output/browser/ (or $PM2GAN_TEST_OUTPUT/browser/)."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from tests.checkout import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OUTPUT = Path(os.environ.get("PM2GAN_TEST_OUTPUT", ROOT / "test-output")) / "browser"


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if CHROMIUM is None:
        return ("no Chromium on this machine: `make test` installs Debian's `chromium` where it can (as root, "
                "with apt); elsewhere install it and run the tests again")
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (`pip install -e '.[test]'`)"
    return None


@contextlib.contextmanager
def page(width: int = 1400, height: int = 1000):
    """A fresh page in headless Chromium (no sandbox: CI runs as root, which Chromium's sandbox refuses)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def broken_images(p) -> list[str]:
    """The page's images that did not load (a broken link, a bad data URI), by alt text."""
    return p.evaluate("[...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
                      ".map(i => i.alt || i.src.slice(0, 60))")


def screenshot(p, name: str, full_page: bool = False) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    p.screenshot(path=str(path), full_page=full_page)
    return path
