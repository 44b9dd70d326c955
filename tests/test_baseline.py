"""The Baseline: the slide's layer counts and sizes, metric output range, and its SSIM + L1 loss."""

from __future__ import annotations

import os
import subprocess
import sys

import torch
from torch import nn

from mde_hub import BaselineConfig, BaselineForDepthEstimation, image_processor_for
from mde_hub.cli import main as cli_main
from mde_hub.models.losses import l1_loss, ssim_loss


def test_three_convs_down_three_deconvs_up_at_256() -> None:
    model = BaselineForDepthEstimation(BaselineConfig()).eval()
    convs = [m for m in model.modules() if type(m) is nn.Conv2d]
    deconvs = [m for m in model.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.stride) for c in convs] == [(3, 64, (2, 2)), (64, 128, (2, 2)), (128, 256, (2, 2))]
    assert [(d.in_channels, d.out_channels) for d in deconvs] == [(256, 128), (128, 64), (64, 1)]
    assert image_processor_for(model.config).size == {"height": 256, "width": 256}
    with torch.no_grad():
        output = model(pixel_values=torch.randn(1, 3, 256, 256), output_hidden_states=True)
    assert output.predicted_depth.shape == (1, 256, 256)
    assert [tuple(h.shape[1:]) for h in output.hidden_states] == [(64, 128, 128), (128, 64, 64), (256, 32, 32)]
    assert 0 < output.predicted_depth.min() and output.predicted_depth.max() < 10.0


def test_loss_is_ssim_plus_tenth_l1_on_valid_pixels() -> None:
    torch.manual_seed(0)
    model = BaselineForDepthEstimation(BaselineConfig.tiny())
    pixels = torch.rand(2, 3, 32, 32)
    labels = torch.rand(2, 32, 32) * 9 + 0.5
    labels[0, :5] = 0.0  # invalid rows
    output = model(pixel_values=pixels, labels=labels)
    pred = output.predicted_depth
    expected = ssim_loss(pred, labels, value_range=10.0) + 0.1 * l1_loss(pred, labels)
    torch.testing.assert_close(output.loss, expected)


def test_labels_of_another_size_are_met_by_resizing_the_prediction() -> None:
    model = BaselineForDepthEstimation(BaselineConfig.tiny())
    output = model(pixel_values=torch.rand(1, 3, 32, 32), labels=torch.full((1, 48, 48), 2.0))
    assert torch.isfinite(output.loss)


def test_cli_lists_the_baseline(capsys) -> None:
    assert cli_main(["models"]) == 0
    assert "mde_baseline" in capsys.readouterr().out
    console_script = os.path.join(os.path.dirname(sys.executable), "mde-hub")  # installed by `pip install -e .`
    result = subprocess.run([console_script, "models"], capture_output=True, text=True, check=True)
    assert "metric depth in metres, 0.001-10 m" in result.stdout
