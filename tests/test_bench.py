"""`mde-hub bench` (smoke, no timing assertions; it also compares our DPT-Hybrid with transformers'), the FLOP
counter and the memory probe."""

from __future__ import annotations

import json

import pytest
import torch

from mde_hub import BaselineConfig, BaselineForDepthEstimation
from mde_hub.benchmarking.measure import count_flops, median_seconds, peak_memory_bytes
from mde_hub.benchmarking.report import MODEL_COLUMNS
from mde_hub.cli import main


def test_flop_counter_matches_a_hand_count_of_the_baseline() -> None:
    # Tiny Baseline (channels 3 -> 8 -> 16 -> 32 -> 16 -> 8 -> 1, 4x4 kernels, stride 2) at 64x64, 2 FLOPs per MAC.
    # A conv costs 2 * C_out * H_out * W_out * C_in * 16; a transposed conv 2 * C_in * H_in * W_in * C_out * 16.
    encoder = 2 * 16 * (8 * 32 * 32 * 3 + 16 * 16 * 16 * 8 + 32 * 8 * 8 * 16)
    decoder = 2 * 16 * (32 * 8 * 8 * 16 + 16 * 16 * 16 * 8 + 8 * 32 * 32 * 1)
    assert encoder + decoder == 5_242_880
    assert count_flops(lambda: BaselineForDepthEstimation(BaselineConfig.tiny()), (1, 3, 64, 64)) == 5_242_880
    # batch and area scale the count linearly
    assert count_flops(lambda: BaselineForDepthEstimation(BaselineConfig.tiny()), (2, 3, 64, 128)) == 4 * 5_242_880


def test_flop_counter_counts_attention() -> None:
    # One 4-token, 8-wide single-head attention: q k^T and attn v are 2 * 4 * 4 * 8 FLOPs each.
    class Attention(torch.nn.Module):
        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            tokens = pixel_values.reshape(1, 1, 4, 8)
            return torch.nn.functional.scaled_dot_product_attention(tokens, tokens, tokens)

    assert count_flops(Attention, (1, 32)) == 2 * (2 * 4 * 4 * 8)


def test_peak_memory_sees_torch_allocations() -> None:
    peak = peak_memory_bytes(lambda: torch.ones(64, 2**20 // 4).sum())  # a 64 MiB float32 tensor
    if peak is None:
        pytest.skip("/proc/self/clear_refs is not available")
    assert 60 * 2**20 < peak < 200 * 2**20


def test_median_seconds_runs_warmups_then_repeats() -> None:
    calls = []
    assert median_seconds(lambda: calls.append(1), repeats=3, warmup=2) >= 0
    assert len(calls) == 5
    with pytest.raises(ValueError, match="repeats"):
        median_seconds(lambda: None, repeats=0)


def test_bench_quick_writes_the_tables(tmp_path, capsys) -> None:
    output = tmp_path / "bench.md"
    assert main(["bench", "--quick", "--compile", "none", "--models", "baseline", "--repeats", "1", "--output", str(output)]) == 0
    markdown = output.read_text()
    assert markdown == capsys.readouterr().out
    assert "| " + " | ".join(MODEL_COLUMNS) + " |" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| baseline-tiny |"))
    assert len(row.split(" | ")) == len(MODEL_COLUMNS) and "| skipped |" in row  # torch.compile skipped
    for section in ("## Machine", "## DPT-Hybrid: mde-hub against transformers", "## Data and evaluation", "GPU: "):
        assert section in markdown
    raw = json.loads(output.with_suffix(".json").read_text())
    (model,) = raw["models"]
    assert model["name"] == "baseline-tiny" and model["parameters"] == sum(
        p.numel() for p in BaselineForDepthEstimation(BaselineConfig.tiny()).parameters()
    )
    assert model["gflops"] == pytest.approx(5_242_880 * 1.5 / 1e9)  # 64x96
    assert set(model["paths_ms"]) == {"channels_last", "onnxruntime"} and model["train_images_per_s"] > 0
    assert max(model["paths_max_abs_diff"].values()) < 1e-4
    # our DPT-Hybrid, converted from transformers' (random weights): same output shape and values
    comparison = raw["dpt_comparison"]
    assert comparison["output_shape"] == [1, 64, 64] and comparison["max_abs_diff"] < 1e-5 and comparison["ratio"] > 0
    units = [row["unit"] for row in raw["data"]]
    assert units[-3:] == ["pairs/s", "images/s", "images/s"]  # the metrics, then evaluate at batch 1 and batch 8
    assert not any("compiled kernel" in row["what"] for row in raw["data"])  # --compile none: nothing compiled
    batch_one, batch_eight = raw["data"][-2:]
    assert batch_one["what"].endswith("batch 1: 1.00x batch 1") and "batch 8: " in batch_eight["what"]
    assert f"{batch_eight['per_second'] / batch_one['per_second']:.2f}x" in batch_eight["what"]
    assert [row["what"] for row in raw["startup"]] == ["`mde-hub --help`", "`mde-hub predict --help`"]
    assert all(row["seconds"] > 0 for row in raw["startup"]) and "## Command line start-up" in markdown


def test_bench_rejects_unknown_models(tmp_path, capsys) -> None:
    assert main(["bench", "--quick", "--models", "nonexistent", "--output", str(tmp_path / "b.md")]) == 2
    assert "matches no model row" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_quick_with_torch_compile(tmp_path) -> None:
    output = tmp_path / "bench.md"
    assert main(["bench", "--quick", "--compile", "all", "--models", "baseline", "--repeats", "1", "--output", str(output)]) == 0
    raw = json.loads(output.with_suffix(".json").read_text())
    (model,) = raw["models"]
    assert "compile" in model["paths_ms"] and model["compile_s"] > 0 and model["paths_max_abs_diff"]["compile"] < 1e-4
    (metrics_row,) = (row for row in raw["data"] if "compiled kernel (first call" in row["what"])
    assert metrics_row["unit"] == "pairs/s" and metrics_row["per_second"] > 0


def test_fusion_projects_before_upsampling_with_unchanged_outputs() -> None:
    """The optimisation the DPT profile pointed to: the same outputs (1e-5) as DPT's upsample-then-project order."""
    from mde_hub.models.dpt.modeling_dpt import FeatureFusionBlock

    torch.manual_seed(0)
    block = FeatureFusionBlock(256, has_skip=True).eval()
    path, skip = torch.randn(1, 256, 24, 32), torch.randn(1, 256, 24, 32)
    with torch.inference_mode():
        fused = block.residual_unit(path + block.skip_unit(skip))
        reference = block.projection(torch.nn.functional.interpolate(fused, scale_factor=2, mode="bilinear", align_corners=True))
        output = block(path, skip)
    assert output.shape == reference.shape == (1, 256, 48, 64)
    torch.testing.assert_close(output, reference, rtol=1e-5, atol=1e-5)


def test_precision_table_compares_bf16_with_fp32(tmp_path, capsys) -> None:
    import numpy as np
    from app_helpers import save_baseline

    from mde_hub.benchmarking.precision import compare_precision, render_precision_table, run_precision_benchmark
    from mde_hub.data.sample import DepthSample

    checkpoint = save_baseline(tmp_path / "checkpoints" / "tiny", 0)
    rng = np.random.default_rng(0)
    samples = [
        DepthSample.from_depth(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), rng.uniform(1, 6, (24, 32)).astype(np.float32),
                               None, f"f{index}")
        for index in range(2)
    ]
    row = compare_precision(checkpoint, samples)
    assert row.frames == 2 and 0 < row.median_relative_difference <= row.max_relative_difference < 5e-2
    for alignment in ("none", "median"):
        assert set(row.delta1[alignment]) == {"float32", "bfloat16"}
        assert all(0 <= value <= 1 for value in row.delta1[alignment].values())
        assert abs(row.delta1[alignment]["bfloat16"] - row.delta1[alignment]["float32"]) < 0.05
    assert row.seconds_per_frame["float32"] > 0 and row.seconds_per_frame["bfloat16"] > 0
    table = render_precision_table([row], "bfloat16", "test machine").splitlines()
    assert "bf16 (ms/frame)" in table[2] and table[4].startswith("| tiny | 2 | ")
    assert run_precision_benchmark(tmp_path / "checkpoints", tmp_path / "no-rgbd", 1, tmp_path / "p.md") == []
    assert "skipped the precision table: no icl_livingroom1 and 7scenes_redkitchen under" in capsys.readouterr().err
    assert not (tmp_path / "p.md").exists()
