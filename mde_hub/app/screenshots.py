"""Screenshots of the app's three tabs at 1400 px and 390 px wide for the README:
`python -m mde_hub.app.screenshots --out docs`.

Serves the checkpoints given with `--models`, by default those in ./checkpoints (as `python app.py` does), and
refuses to photograph the untrained fallback. Needs Debian's Chromium at /usr/bin/chromium and the `playwright`
package.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import PIL.Image

from .layout import launch
from .serve import open_registry, temporary_page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _save(page, path: Path) -> None:
    """A full-page screenshot, palette-quantised to keep the PNG small."""
    page.screenshot(path=str(path), full_page=True)
    with PIL.Image.open(path) as image:
        image.convert("RGB").quantize(colors=256, method=PIL.Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"wrote {path}")


WIDTHS = (1400, 390)
"""Viewport widths of the screenshots: a desktop window and a phone."""


def _tab_screenshots(page, image: str, depth: str, out: Path, width: int) -> None:
    """Every tab at `width` px: Compare runs all served models on `image` as soon as it is uploaded, Evaluate scores
    them against `depth`."""
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(page.demo_url)
    models = page.locator("#compare-models input[type=checkbox]")
    models.first.wait_for()  # checked before the page is live, the boxes look ticked but the upload runs two models
    for index in range(models.count()):
        models.nth(index).check()
    page.locator("#compare-image input[type=file]").set_input_files(image)
    page.wait_for_function(f"document.querySelectorAll('#depth-gallery img').length >= {models.count()}")
    page.locator("#point-cloud").scroll_into_view_if_needed()  # the viewer draws only while it is on screen
    page.wait_for_timeout(15000)  # let the 3D view load and render its 1.2 MB GLB (5 s was too short on two shared cores)
    _save(page, out / f"app_compare_{width}.png")
    page.get_by_role("tab", name="Evaluate").click()
    eval_models = page.locator("#eval-models input[type=checkbox]")
    for index in range(eval_models.count()):
        eval_models.nth(index).check()
    page.locator("#eval-image input[type=file]").set_input_files(image)
    page.locator("#gt-file input[type=file]").set_input_files(depth)
    page.locator("#eval-run").click()
    page.wait_for_function(f"document.querySelectorAll('#error-gallery img').length >= {eval_models.count()}")
    page.wait_for_timeout(1000)
    _save(page, out / f"app_evaluate_{width}.png")
    page.get_by_role("tab", name="Benchmarks").click()
    page.wait_for_function("document.querySelector('#bench-table').innerText.includes('published')")
    _save(page, out / f"app_benchmarks_{width}.png")


def take_screenshots(demo_url: str, image: str, depth: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": WIDTHS[0], "height": 900})
        page.set_default_timeout(120_000)
        page.demo_url = demo_url
        for width in WIDTHS:
            _tab_screenshots(page, image, depth, out, width)
        browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs", help="folder for app_{compare,evaluate,benchmarks}_{1400,390}.png")
    parser.add_argument("--models", nargs="*", help="checkpoints to serve (default: ./checkpoints/*)")
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} not found: apt-get install chromium")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    registry = open_registry(args.models, "checkpoints")
    if any(source.kind == "untrained" for source in registry.sources.values()):
        raise SystemExit("no trained checkpoint to show: pass --models or run from the repository root")
    with temporary_page(registry, prefix="mde-hub-screenshots-") as (demo, samples):
        launch(demo, port=None, prevent_thread_lock=True, quiet=True)
        try:
            take_screenshots(demo.local_url, samples[0].image, samples[0].depth, out)
        finally:
            demo.close()


if __name__ == "__main__":
    main()
