"""End to end in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright): upload an image, run two
models and see two depth maps; evaluate a pair and see the metrics table. Skips when Chromium is absent."""

from __future__ import annotations

import os

import pytest
from app_helpers import make_checkpoints, start_app

from mde_hub.app.screenshots import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api")
    root = tmp_path_factory.mktemp("browser")
    demo, _, samples = start_app(make_checkpoints(root / "models"), root)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        page.goto(demo.local_url)
        page.samples = samples
        yield page
        browser.close()
    demo.close()


def test_upload_run_two_models_and_see_two_depth_maps(page):
    page.locator("#compare-image input[type=file]").set_input_files(page.samples[0].image)
    models = page.locator("#compare-models")
    models.get_by_label("baseline-b").uncheck()
    models.get_by_label("hf-dpt").check()
    page.locator("#compare-run").click()
    page.wait_for_function("document.querySelectorAll('#depth-gallery img').length === 2")
    gallery = page.locator("#depth-gallery")
    gallery.get_by_text("baseline-a |").wait_for()
    gallery.get_by_text("hf-dpt |").wait_for()
    assert " m" in gallery.get_by_text("baseline-a |").inner_text()
    assert "relative depth" in gallery.get_by_text("hf-dpt |").inner_text()
    sizes = page.eval_on_selector_all("#depth-gallery img", "images => images.map(i => [i.naturalWidth, i.naturalHeight])")
    assert sizes == [[320, 240], [320, 240]]  # the depth maps loaded, at the input's size


def test_evaluate_a_pair_and_see_the_metrics_table(page):
    sample = page.samples[0]
    page.get_by_role("tab", name="Evaluate").click()
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
