"""The app starts on loopback with its embedded defaults and answers a prediction request."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
from gradio_client import Client, handle_file

import app


@pytest.fixture(scope="module")
def running_app():
    demo = app.build_demo(app.discover_models(None))
    demo.queue().launch(server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True)
    yield demo
    demo.close()


def test_predict_endpoint_returns_a_colourised_depth_map(running_app, tmp_path) -> None:
    image_path = tmp_path / "photo.png"
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(image_path)
    client = Client(running_app.local_url, verbose=False)
    depth_image, summary = client.predict(handle_file(str(image_path)), next(iter(app.discover_models(None))), "magma", api_name="/predict")
    depth = np.asarray(PIL.Image.open(depth_image))
    assert depth.shape == (48, 64, 3)
    assert " m, " in summary and "metric depth" in summary


def test_missing_image_is_a_clear_error(running_app) -> None:
    client = Client(running_app.local_url, verbose=False)
    with pytest.raises(Exception, match="Upload an image first"):
        client.predict(None, next(iter(app.discover_models(None))), "gray", api_name="/predict")
