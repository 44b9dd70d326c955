"""GPU figures (run only when CUDA is available): the measured bf16 matmul peak, and each model's bf16 autocast
inference and training throughput with the TFLOP/s it achieves against that peak."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn

MATMUL_SIDE = 8192


def _cuda_seconds(run: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Mean seconds per call of `run` on the GPU, synchronised, after `warmup` calls."""
    for _ in range(warmup):
        run()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        run()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def matmul_peak_tflops(side: int = MATMUL_SIDE, repeats: int = 20) -> float:
    """Achieved bf16 TFLOP/s of a `side` x `side` x `side` matrix multiply: the reference peak for the models."""
    a = torch.randn(side, side, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(side, side, device="cuda", dtype=torch.bfloat16)
    return 2 * side**3 / _cuda_seconds(lambda: a @ b, repeats) / 1e12


def bf16_inference(model: nn.Module, flops_per_image: int, batch: int, size: tuple[int, int], repeats: int) -> tuple[float, float]:
    """(images/s, achieved TFLOP/s) of bf16-autocast inference at `batch` x `size` on the GPU."""
    model = model.cuda().eval()
    pixel_values = torch.randn(batch, 3, *size, device="cuda")

    def run() -> None:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
            model(pixel_values=pixel_values)

    images_per_s = batch / _cuda_seconds(run, repeats)
    return images_per_s, images_per_s * flops_per_image / 1e12


def bf16_training(model: nn.Module, flops_per_image: int, batch: int, size: tuple[int, int], repeats: int, max_depth: float) -> tuple[float, float]:
    """(images/s, achieved TFLOP/s counting a training step as 3 forwards) of bf16-autocast AdamW steps."""
    model = model.cuda().train()
    pixel_values = torch.randn(batch, 3, *size, device="cuda")
    labels = max_depth * (0.1 + 0.8 * torch.rand(batch, *size, device="cuda"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(pixel_values=pixel_values, labels=labels).loss
        loss.backward()
        optimizer.step()

    images_per_s = batch / _cuda_seconds(step, repeats)
    model.eval()
    return images_per_s, 3 * images_per_s * flops_per_image / 1e12
