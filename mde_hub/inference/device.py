"""Where and in what precision a `DepthPredictor` runs: a checked torch device, and the autocast dtype its
`dtype` names ("auto" decided by `auto_dtype`). Weights stay float32; only autocast's ops run in lower precision."""

from __future__ import annotations

from pathlib import Path

import torch

DTYPES: dict[str, torch.dtype] = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
"""The precisions a predictor runs in, by name; float32 runs without autocast."""
DTYPE_CHOICES = ("auto", *DTYPES)

NATIVE_BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""/proc/cpuinfo flags of x86 CPUs that compute bf16 dot products in hardware (AVX512-BF16, AMX); without one,
oneDNN emulates bf16 and autocast runs slower than float32."""
_CPUINFO = Path("/proc/cpuinfo")


def available_devices() -> list[str]:
    """The devices this machine offers: cpu, each cuda:N, mps where present."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append("mps")
    return devices


def resolve_device(name: str | torch.device) -> torch.device:
    """`name` ("cpu", "cuda", "cuda:N", "mps") as a torch device that exists here; ValueError naming it and the
    available devices otherwise. "cuda" is the current CUDA device."""
    available = available_devices()
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"unknown device {name!r} ({error}); available: {', '.join(available)}") from None
    if device.type == "cuda" and device.index is None and torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
    if device.type == "cpu":
        return torch.device("cpu")
    if str(device) not in available:
        raise ValueError(f"device {name!r} is not available on this machine; available: {', '.join(available)}")
    return device


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where it cannot be read: not Linux)."""
    try:
        text = _CPUINFO.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


BF16_CPU_MIN_PARAMETERS = 20_000_000
"""On a CPU, `auto` takes bf16 only for models at least this large. Measured on a 2-core Sapphire Rapids (AMX;
BENCHMARKS.md, "bf16 on the CPU"): a 2048^2 bf16 matmul ran 3.0x faster than fp32 and DPT-Hybrid (121M
parameters) 1.3x faster under bf16 autocast, but the five compact checkpoints (1.3-7.2M) ran 1.4-2.5x *slower*:
their time goes into small layers, where autocast's casts cost more than bf16 saves."""


def auto_dtype(device: torch.device, parameters: int | None = None) -> str:
    """What `dtype="auto"` runs: bfloat16 on a CUDA device that supports it, and on a CPU with native bf16
    (`NATIVE_BF16_CPU_FLAGS`; torch's `get_cpu_capability()` names only the vector width, so the flags decide) for
    a model of at least `BF16_CPU_MIN_PARAMETERS` parameters (`parameters`; None: not known yet, taken as large);
    float32 everywhere else."""
    if device.type == "cpu":
        large = parameters is None or parameters >= BF16_CPU_MIN_PARAMETERS
        return "bfloat16" if large and cpu_flags() & NATIVE_BF16_CPU_FLAGS else "float32"
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    return "float32"


def resolve_dtype(name: str, device: torch.device, parameters: int | None = None) -> str:
    """`name` (one of `DTYPE_CHOICES`) as the precision that runs on `device` for a model of `parameters`
    parameters (see `auto_dtype`); ValueError for any other name."""
    if name not in DTYPE_CHOICES:
        raise ValueError(f"unknown dtype {name!r}; choose from {', '.join(DTYPE_CHOICES)}")
    return auto_dtype(device, parameters) if name == "auto" else name
