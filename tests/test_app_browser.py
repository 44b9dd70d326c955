"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright) at 1400 px: an upload runs the
models at once, a new colormap recolours without re-running them, five models' maps all keep their captions and
colour bars; evaluate a pair and see the metrics table; at 390 px the tables keep readable columns. Skips when
Chromium is absent."""

from __future__ import annotations

import os

import pytest
from app_helpers import make_checkpoints, save_baseline, start_app

from mde_hub.app.screenshots import CHROMIUM, CHROMIUM_ARGS

LONG_NAMES = ("densedepth-densenet121-k16-mix-scratch", "dpt-vit-tiny-mix-scratch-with-a-longer-name")
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    root = tmp_path_factory.mktemp("browser")
    models = make_checkpoints(root / "models")
    for seed, name in enumerate(LONG_NAMES, start=2):
        save_baseline(models / name, seed)
    demo, _, samples = start_app(models, root)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(demo.local_url)
        page.samples = samples
        yield page
        browser.close()
    demo.close()


def _captions(page) -> list[str]:
    return page.eval_on_selector_all("#depth-gallery .caption-label", "labels => labels.map(l => l.innerText)")


def test_upload_runs_at_once_and_a_new_colormap_recolours_without_running_again(page):
    models = page.locator("#compare-models")
    models.get_by_label("baseline-b").uncheck()
    models.get_by_label("hf-dpt").check()
    page.locator("#compare-image input[type=file]").set_input_files(page.samples[0].image)  # no button pressed
    # both maps shown and decoded (a busy machine can show the elements before their pixels)
    decoded = "Array.from(document.querySelectorAll('#depth-gallery img')).filter(i => i.complete && i.naturalWidth)"
    page.wait_for_function(f"{decoded}.length === 2")
    captions = _captions(page)
    assert captions[0].startswith("baseline-a | ") and captions[0].endswith(" m")
    assert captions[1].startswith("hf-dpt | ") and "relative depth" in captions[1]
    sizes = page.eval_on_selector_all("#depth-gallery img", "images => images.map(i => [i.naturalWidth, i.naturalHeight])")
    # the 320x240 map at the input's size, its caption drawn above and its colour bar below
    assert all(width == 320 and height > 240 for width, height in sizes)
    sources = page.eval_on_selector_all("#depth-gallery img", "images => images.map(i => i.src)")
    page.locator("#compare-colormap").get_by_label("turbo").check()
    page.wait_for_function(
        "old => Array.from(document.querySelectorAll('#depth-gallery img')).every((i, k) => i.src !== old[k])", arg=sources
    )
    # the captions carry each model's latency: unchanged, so the models did not run again
    assert _captions(page) == captions


def test_five_models_all_keep_their_captions_and_colour_bars_at_1400_px(page):
    page.get_by_role("tab", name="Compare").click()
    models = page.locator("#compare-models")
    for name in ("baseline-a", "baseline-b", "hf-dpt", *LONG_NAMES):
        models.get_by_label(name).check()
    page.locator("#compare-run").click()
    page.wait_for_function("document.querySelectorAll('#depth-gallery .caption-label').length === 5")
    page.wait_for_function("Array.from(document.querySelectorAll('#depth-gallery img')).every(i => i.naturalHeight > 0)")
    gallery = page.locator("#depth-gallery").bounding_box()
    boxes = page.eval_on_selector_all(
        "#depth-gallery .caption-label",
        "labels => labels.map(l => { const r = l.getBoundingClientRect(); "
        "return {text: l.innerText, x: r.x, y: r.y, right: r.right, bottom: r.bottom, clipped: l.scrollWidth > l.clientWidth}; })",
    )
    assert sorted(box["text"].split(" | ")[0] for box in boxes) == sorted(["baseline-a", "baseline-b", "hf-dpt", *LONG_NAMES])
    for box in boxes:  # each caption whole, inside the gallery
        assert not box["clipped"], box
        assert gallery["x"] <= box["x"] and box["right"] <= gallery["x"] + gallery["width"] + 1, box
        assert gallery["y"] <= box["y"] and box["bottom"] <= gallery["y"] + gallery["height"] + 1, box
    sizes = page.eval_on_selector_all("#depth-gallery img", "images => images.map(i => [i.naturalWidth, i.naturalHeight])")
    assert len(sizes) == 5 and all(height > 240 for _, height in sizes)  # a colour bar under every 240-row map


def test_evaluate_a_pair_and_see_the_metrics_table(page):
    sample = page.samples[0]
    page.get_by_role("tab", name="Evaluate").click()
    models = page.locator("#eval-models")
    for name in ("hf-dpt", *LONG_NAMES):
        models.get_by_label(name).uncheck()
    page.locator("#eval-image input[type=file]").set_input_files(sample.image)
    page.locator("#gt-file input[type=file]").set_input_files(sample.depth)
    page.locator("#eval-run").click()
    page.wait_for_function("document.querySelector('#metrics-table').innerText.includes('★')")
    text = page.locator("#metrics-table").inner_text()
    for column in ("abs_rel", "rmse", "delta1", "baseline-a", "baseline-b"):
        assert column in text
    assert text.count("★") == 9  # one best value per metric column (no ties between two random models)
    page.wait_for_function("document.querySelectorAll('#error-gallery img').length === 2")


def test_error_state_cleared_after_a_bad_model_id(page):
    """A refused model id marks the "Add a model" status line only: neither tab's model list shows an error badge,
    before or after a good action."""
    page.get_by_role("tab", name="Compare").click()
    page.get_by_text("Add a model").click()
    page.locator("#model-location textarea").fill("bad id!!")
    page.locator("#model-load").click()
    page.locator("#load-status .error").wait_for()  # the status line carries the error
    page.get_by_text("neither a checkpoint directory nor a valid Hub model id").first.wait_for()  # and the toast says why
    assert page.locator("#compare-models .error").count() == 0
    page.locator("#compare-image input[type=file]").set_input_files(page.samples[1].image)
    page.locator("#compare-run").click()
    page.wait_for_function("document.querySelectorAll('#depth-gallery img').length >= 1")
    assert page.locator("#compare-models .error").count() == 0
    assert "Error" not in page.locator("#compare-models").inner_text()
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#eval-models").wait_for()
    assert page.locator("#eval-models .error").count() == 0 and "Error" not in page.locator("#eval-models").inner_text()


def test_a_sample_pair_sets_its_encoding_and_protocol(page):
    page.get_by_role("tab", name="Evaluate").click()
    protocol = page.locator("#eval-protocol input")
    for encoding, expected in (("KITTI: value / 256", "kitti_garg_adabins"), ("millimetres", "none")):
        page.locator("tr", has_text=encoding).first.click()
        page.wait_for_function(
            f"document.querySelector('#eval-protocol input').value === {expected!r}", timeout=10_000
        )
        assert protocol.input_value() == expected


def test_tables_keep_readable_columns_on_a_phone(page):
    """At 390 px the Benchmarks table scrolls sideways with columns wide enough for a word, instead of squeezing its
    15 columns into the screen (one letter per line)."""
    page.set_viewport_size({"width": 390, "height": 900})
    try:
        page.get_by_role("tab", name="Benchmarks").click()
        page.wait_for_function("document.querySelector('#bench-table').innerText.includes('published')")
        widths = page.eval_on_selector_all("#bench-table th", "cells => cells.map(c => c.getBoundingClientRect().width)")
        scroll = page.eval_on_selector("#bench-table .virtual-table-viewport", "v => [v.scrollWidth, v.clientWidth]")
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})
    assert len(widths) == 15 and min(widths) >= 90, widths
    assert scroll[0] > 3 * scroll[1], scroll  # wider than the screen: scrolls sideways
