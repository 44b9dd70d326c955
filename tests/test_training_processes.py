"""train/train.py as users run it: in a subprocess, under torchrun with two CPU processes (DDP over gloo), and with
`--push_to_hub` to the loopback Hub server of tests/local_hub.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import local_hub as local_hub_server
import torch
from huggingface_hub import HfApi
from safetensors.torch import load_file
from transformers import AutoModelForDepthEstimation

from mde_hub import BaselineConfig, BaselineForDepthEstimation
from mde_hub.training import RECORD_NAME
from mde_hub.training.run import masked_command

local_hub = local_hub_server.local_hub
REPO = Path(__file__).parent.parent
TRAIN_SCRIPT = str(REPO / "train" / "train.py")


def tiny_run(output_dir: Path, *extra: str) -> list[str]:
    """A tiny Baseline on 8 synthetic 32x32 frames, evaluated on 4."""
    return [
        "--model_type", "mde_baseline", "--config_preset", "tiny", "--config_overrides", '{"image_size": 32}',
        "--dataset", "synthetic", "--synthetic_size", "8", "--synthetic_eval_size", "4", "--synthetic_height", "32",
        "--synthetic_width", "32", "--output_dir", str(output_dir), "--dataloader_num_workers", "0",
        "--disable_tqdm", "true", "--use_cpu", "true", "--per_device_train_batch_size", "2", "--logging_steps", "1",
        "--report_to", "none", *extra,
    ]


def subprocess_env() -> dict[str, str]:
    """This test's environment (offline, or pointed at the local Hub by its fixture), one thread per process."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_torchrun_trains_with_two_cpu_processes(tmp_path) -> None:
    """2 processes x batch 2 over 8 frames: DistributedSampler shards each epoch, so an epoch is 2 steps (not 4 as in
    one process); 2 epochs = 4 synchronised steps, one record and one set of weights written by rank 0."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
        "--master_port", str(free_port()), TRAIN_SCRIPT,
        *tiny_run(tmp_path, "--num_train_epochs", "2", "--save_strategy", "epoch", "--eval_strategy", "epoch",
                  "--ddp_backend", "gloo"),
    ]
    done = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    record = json.loads((tmp_path / RECORD_NAME).read_text())
    assert record["global_step"] == 4 and record["epochs"] == 2.0
    assert record["hardware"].endswith(", 2 processes")
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    state = json.loads((tmp_path / "trainer_state.json").read_text())
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [1, 2, 3, 4]
    assert len([entry for entry in state["log_history"] if "eval_delta1" in entry]) == 3  # 2 epochs + final
    trained = load_file(tmp_path / "model.safetensors")
    untrained = BaselineForDepthEstimation(BaselineConfig.tiny(image_size=32)).state_dict()
    assert any(not torch.equal(trained[key], untrained[key]) for key in trained)


def test_train_script_pushes_model_processor_and_record_to_the_hub(tmp_path, local_hub) -> None:
    """`--push_to_hub` uploads, through Trainer, what `from_pretrained` needs: the loaded weights equal the local ones."""
    repo_id = f"{local_hub.user}/tiny-baseline"
    command = [
        sys.executable, TRAIN_SCRIPT,
        *tiny_run(tmp_path, "--max_steps", "2", "--save_strategy", "no", "--eval_strategy", "no", "--push_to_hub",
                  "true", "--hub_model_id", repo_id, "--hub_token", local_hub.token),
    ]
    done = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert local_hub.token not in (tmp_path / RECORD_NAME).read_text()  # the token is masked in the record

    files = set(HfApi().list_repo_files(repo_id))
    assert {"config.json", "preprocessor_config.json", "model.safetensors", RECORD_NAME} <= files
    loaded = AutoModelForDepthEstimation.from_pretrained(repo_id).state_dict()
    local = load_file(tmp_path / "model.safetensors")
    assert local.keys() == loaded.keys() and all(torch.equal(local[key], loaded[key]) for key in local)


def test_recorded_command_masks_tokens() -> None:
    argv = ["train/train.py", "--hub_token", "hf_secret", "--hub_model_id", "u/m", "--hub_token=hf_other", "--seed", "1"]
    assert masked_command(argv) == (
        "train/train.py --hub_token '<TOKEN>' --hub_model_id u/m '--hub_token=<TOKEN>' --seed 1"
    )
