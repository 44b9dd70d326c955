"""Faults: training killed with SIGKILL (between saves and in the middle of a checkpoint save) resumes to the same final
step and the same weights as an uninterrupted run; predict and evaluate never leave a truncated output file.

The training runs are real `train/train.py` processes. A kill inside a save is placed deterministically by a small
driver that patches one Trainer or safetensors function to SIGKILL its own process at that point; the kill between
saves comes from outside, as soon as the first checkpoint is complete.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from safetensors.torch import load_file
from test_training_processes import TRAIN_SCRIPT, subprocess_env

from mde_hub import cli
from mde_hub.training import main, parse_arguments, run_training
from mde_hub.training.run import checkpoint_problem, latest_complete_checkpoint, resume_argument

MAX_STEPS, SAVE_STEPS = 24, 8


def train_argv(output_dir: Path, *extra: str) -> list[str]:
    """A tiny Baseline, 24 steps of batch 2 over 8 synthetic 48x48 frames, a checkpoint every 8 steps."""
    return [
        "--model_type", "mde_baseline", "--config_preset", "tiny", "--config_overrides", '{"image_size": 48}',
        "--dataset", "synthetic", "--synthetic_size", "8", "--synthetic_eval_size", "2", "--synthetic_height", "48",
        "--synthetic_width", "48", "--output_dir", str(output_dir), "--dataloader_num_workers", "0", "--disable_tqdm",
        "true", "--use_cpu", "true",
        "--per_device_train_batch_size", "2", "--max_steps", str(MAX_STEPS), "--save_steps", str(SAVE_STEPS),
        "--eval_strategy", "no", "--logging_steps", "1", "--report_to", "none", "--seed", "5",
        "--learning_rate", "1e-3", *extra,
    ]


def run_train(output_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, TRAIN_SCRIPT, *train_argv(output_dir, *extra)], env=subprocess_env(), capture_output=True,
        text=True, timeout=300,
    )


# Run in a child process: train.py's main, with `TARGET` patched to SIGKILL the process when it is called at step 16.
KILL_DRIVER = """
import os, signal, sys
from transformers import Trainer
import transformers.modeling_utils as modeling_utils
from mde_hub.training import main

def kill():
    os.kill(os.getpid(), signal.SIGKILL)

def rng_state(self, output_dir, original=Trainer._save_rng_state):
    if self.state.global_step == 16:
        kill()  # weights, optimizer and scheduler are written; trainer_state.json is not
    return original(self, output_dir)

def half_weights(tensors, filename, metadata=None, original=modeling_utils.safe_save_file):
    if "checkpoint-16" in str(filename):
        original(tensors, filename, metadata=metadata)
        data = open(filename, "rb").read()
        open(filename, "wb").write(data[: len(data) // 2])
        kill()  # model.safetensors is half written
    return original(tensors, filename, metadata=metadata)

if sys.argv[1] == "rng_state":
    Trainer._save_rng_state = rng_state
else:
    modeling_utils.safe_save_file = half_weights
sys.exit(main(sys.argv[2:]))
"""


def train_in_process(output_dir: Path, *extra: str) -> dict:
    """`run_training` in this process with one thread like the subprocesses (OMP_NUM_THREADS=1); its record."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return run_training(parse_arguments(train_argv(output_dir, *extra)), "in process")
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """The uninterrupted run's folder: checkpoint-8, -16, -24 and the final model."""
    output = tmp_path_factory.mktemp("uninterrupted")
    assert train_in_process(output)["global_step"] == MAX_STEPS
    return output


@pytest.fixture(scope="module")
def uninterrupted(finished_run) -> dict[str, torch.Tensor]:
    return load_file(finished_run / "model.safetensors")


def _assert_same_weights(output: Path, reference: dict[str, torch.Tensor]) -> None:
    weights = load_file(output / "model.safetensors")
    assert weights.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(weights[key], value), key


def _resume_and_check(output: Path, reference: dict[str, torch.Tensor]) -> subprocess.CompletedProcess:
    resumed = run_train(output, "--resume_from_checkpoint", "true")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    record = json.loads((output / "training_record.json").read_text())
    assert record["global_step"] == MAX_STEPS
    _assert_same_weights(output, reference)
    return resumed


@pytest.mark.parametrize("where", ["rng_state", pytest.param("half_weights", marks=pytest.mark.slow)])
def test_kill_during_checkpoint_save_is_never_resumed_from(where, uninterrupted, tmp_path) -> None:
    """SIGKILL inside the save of checkpoint-16 (after the weights, or halfway through writing them): the resume
    skips that folder, starts again from checkpoint-8 and ends with the uninterrupted run's weights, bit for bit."""
    output = tmp_path / "run"
    killed = subprocess.run(
        [sys.executable, "-c", KILL_DRIVER, where, *train_argv(output)], env=subprocess_env(), capture_output=True,
        text=True, timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    partial = output / "checkpoint-16"
    assert partial.is_dir() and "its save was interrupted" in checkpoint_problem(str(partial))
    if where == "half_weights":  # the weights Trainer would have loaded are damaged
        with pytest.raises(Exception):
            load_file(partial / "model.safetensors")
    with pytest.warns(UserWarning, match="skipping .*checkpoint-16 has no trainer_state.json"):
        assert latest_complete_checkpoint(str(output)) == str(output / "checkpoint-8")
    with pytest.raises(ValueError, match="checkpoint-16 has no trainer_state.json: its save was interrupted"):
        resume_argument(str(partial), str(output))
    resumed = _resume_and_check(output, uninterrupted)
    assert "skipping" in resumed.stderr and "checkpoint-16" in resumed.stderr
    state = json.loads((output / "trainer_state.json").read_text())
    logged = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert logged[:MAX_STEPS] == list(range(1, MAX_STEPS + 1))


@pytest.mark.slow
def test_training_killed_from_outside_resumes_to_the_same_final_step(uninterrupted, tmp_path) -> None:
    """A real SIGKILL sent as soon as a checkpoint is complete; the resumed run finishes at step 24 with the same
    weights as the uninterrupted one."""
    output = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, TRAIN_SCRIPT, *train_argv(output)], env=subprocess_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 240
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a checkpoint caught while being written is skipped with a warning
        while latest_complete_checkpoint(str(output)) is None and process.poll() is None:
            assert time.monotonic() < deadline, "no complete checkpoint within 240 s"
            time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert not (output / "training_record.json").exists()
    _resume_and_check(output, uninterrupted)


# Damaged checkpoints: a truncated or garbage file in the newest checkpoint, or one without its optimizer state.

DAMAGES = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: np.random.default_rng(0).bytes(len(data)),
}


def _stopped_after_16(finished_run: Path, output: Path, name: str | None = None, damage: str | None = None) -> Path:
    """A run stopped after checkpoint-16 (checkpoint-8 and -16 of the finished run), with `name` in checkpoint-16
    damaged (`DAMAGES`) or, for damage "missing", deleted."""
    for step in (8, 16):
        shutil.copytree(finished_run / f"checkpoint-{step}", output / f"checkpoint-{step}")
    if name is not None:
        path = output / "checkpoint-16" / name
        if damage == "missing":
            path.unlink()
        else:
            path.write_bytes(DAMAGES[damage](path.read_bytes()))
    return output


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"])
def test_a_damaged_file_makes_a_checkpoint_unusable_and_is_named(finished_run, tmp_path, name, damage) -> None:
    """Header, size and archive checks only: the folder and the file are named, and an older intact checkpoint is
    taken by "true" with a warning, while the damaged one given by path is an error."""
    output = _stopped_after_16(finished_run, tmp_path / "run", name, damage)
    damaged = output / "checkpoint-16"
    assert checkpoint_problem(str(output / "checkpoint-8")) is None
    problem = checkpoint_problem(str(damaged))
    assert problem is not None and problem.startswith(f"{damaged / name} is damaged"), problem
    skipped = rf"skipping {re.escape(problem)}; resuming from {re.escape(str(output / 'checkpoint-8'))} instead"
    with pytest.warns(UserWarning, match=skipped):
        assert resume_argument("true", str(output)) == str(output / "checkpoint-8")
    with pytest.raises(ValueError, match=f"^--resume_from_checkpoint {re.escape(str(damaged))}: {re.escape(problem)}$"):
        resume_argument(str(damaged), str(output))


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("name", ["model.safetensors", "optimizer.pt", "scheduler.pt"])
def test_resume_true_falls_back_to_the_newest_intact_checkpoint(finished_run, uninterrupted, tmp_path, name, damage):
    """Before, each of these ended in a traceback (SafetensorError, UnpicklingError, "failed finding central
    directory") and checkpoint-8 was never tried. Now the run resumes from checkpoint-8, passes step 16 again
    (checkpoint-16 is written anew, whole) and ends with the uninterrupted run's weights, bit for bit."""
    output = _stopped_after_16(finished_run, tmp_path / "run", name, damage)
    with pytest.warns(UserWarning, match=f"skipping .*checkpoint-16/{name} is damaged.*resuming from .*checkpoint-8"):
        assert train_in_process(output, "--resume_from_checkpoint", "true")["global_step"] == MAX_STEPS
    _assert_same_weights(output, uninterrupted)
    assert checkpoint_problem(str(output / "checkpoint-16")) is None


@pytest.mark.parametrize("name", ["optimizer.pt", "scheduler.pt"])
def test_a_checkpoint_without_its_optimizer_state_is_an_error_unless_allowed(finished_run, uninterrupted, tmp_path,
                                                                            capsys, name) -> None:
    """Before, Trainer resumed silently with a fresh optimizer and schedule (another final loss). Now that needs
    --allow_fresh_optimizer, which warns; the fresh optimizer then gives other weights than the uninterrupted run."""
    output = _stopped_after_16(finished_run, tmp_path / "run", name, "missing")
    resume = ["--resume_from_checkpoint", "true"]
    assert main(train_argv(output, *resume)) == 2
    err = capsys.readouterr().err
    assert f"train.py: error: --resume_from_checkpoint true: {output / 'checkpoint-16'} has no {name}, so the " in err
    assert "pass --allow_fresh_optimizer" in err and not (output / "training_record.json").exists()
    with pytest.raises(ValueError, match=f"checkpoint-16 has no {name}"):
        resume_argument(str(output / "checkpoint-16"), str(output))
    if name == "scheduler.pt":
        return  # one run with the flag is enough
    with pytest.warns(UserWarning, match=f"checkpoint-16 has no {name}: resuming with a fresh optimizer"):
        assert train_in_process(output, *resume, "--allow_fresh_optimizer")["global_step"] == MAX_STEPS
    weights = load_file(output / "model.safetensors")
    assert any(not torch.equal(weights[key], value) for key, value in uninterrupted.items())


# Outputs: every file goes through atomic_output, so a failure midway keeps the old file and leaves no temporary.


def _break_writes_after(monkeypatch, count: int) -> None:
    """Make the `count`-th PIL PNG save and every later one write half a file and fail with OSError."""
    original = PIL.Image.Image.save
    calls = []

    def save(self, fp, format=None, **params):
        calls.append(fp)
        if len(calls) < count:
            return original(self, fp, format=format, **params)
        original(self, fp, format=format, **params)
        data = Path(fp).read_bytes()
        Path(fp).write_bytes(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PIL.Image.Image, "save", save)


def test_predict_failing_midway_keeps_old_outputs_and_leaves_no_partial_file(tmp_path, monkeypatch, capsys) -> None:
    from app_helpers import save_baseline

    model = save_baseline(tmp_path / "model", 0)
    photo = tmp_path / "photo.png"
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "out"
    argv = ["predict", str(photo), "--model", str(model), "--out", str(out), "--formats", "png16,npy,color"]
    assert cli.main(argv) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    assert sorted(before) == ["photo.color.png", "photo.depth.npy", "photo.depth.png"]
    for name in before:
        (out / name).write_bytes(b"old " + name.encode())  # mark the previous run's files
    _break_writes_after(monkeypatch, 1)  # the 16-bit PNG, the first file predict writes
    capsys.readouterr()
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.endswith(
        f"mde-hub: error: no space left on device: cannot write {out / 'photo.depth.png'}; free some space or choose "
        "another output folder\n"
    )
    old = {name: b"old " + name.encode() for name in before}
    assert {path.name: path.read_bytes() for path in out.iterdir()} == old


def test_a_full_disk_is_named_not_a_byte_count(tmp_path, monkeypatch, capsys) -> None:
    """The .npy is written to /dev/full, which fails every write with ENOSPC as a full disk does. Before, numpy's
    own short write reported `307200 requested and 27616 written` and lost the errno."""
    from app_helpers import save_baseline

    from mde_hub.outputs import depth_files

    model = save_baseline(tmp_path / "model", 0)
    photo = tmp_path / "photo.png"
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "out"
    monkeypatch.setattr(depth_files, "open", lambda path, mode: builtins.open("/dev/full", mode), raising=False)
    assert cli.main(["predict", str(photo), "--model", str(model), "--out", str(out), "--formats", "npy", "-q"]) == 2
    assert capsys.readouterr().err.endswith(
        f"mde-hub: error: no space left on device: cannot write {out / 'photo.depth.npy'}; free some space or choose "
        "another output folder\n"
    )
    assert list(out.iterdir()) == []  # no temporary left


def test_atomic_output_keeps_the_errno_of_a_full_disk(tmp_path) -> None:
    from mde_hub.data.files import atomic_output

    for code in (errno.ENOSPC, errno.EDQUOT):
        with pytest.raises(OSError, match=f"cannot write {tmp_path / 'a.bin'}; free some space") as raised:
            with atomic_output(tmp_path / "a.bin") as temporary:
                temporary.write_bytes(b"half")
                raise OSError(code, os.strerror(code))
        assert raised.value.errno == code
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(PermissionError):  # other errors pass unchanged
        with atomic_output(tmp_path / "b.bin"):
            raise PermissionError(errno.EACCES, "denied")


def _aged(path: Path, seconds: float) -> Path:
    path.write_bytes(b"partial")
    os.utime(path, (time.time() - seconds,) * 2)
    return path


def test_predict_removes_the_temporaries_a_killed_run_left_and_only_those(tmp_path, capsys) -> None:
    """A temporary of one of this run's outputs goes when its writer's process is gone and it is over a minute old,
    or when it is over an hour old; a live process's, a fresh one and other names stay."""
    from app_helpers import save_baseline

    from mde_hub.data.files import DEAD_WRITER_GRACE_S, STALE_AFTER_S

    model = save_baseline(tmp_path / "model", 0)
    photo = tmp_path / "photo.png"
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)).save(photo)
    writer = subprocess.Popen([sys.executable, "-c", ""])
    writer.wait()  # its process id is then free
    dead, live = writer.pid, os.getppid()
    out = tmp_path / "out"
    out.mkdir()
    stale = [
        _aged(out / f".photo.depth.npy.{dead}.k3j4h5g6.npy", DEAD_WRITER_GRACE_S + 60),
        _aged(out / ".photo.color.png.ab_cd123.png", STALE_AFTER_S + 60),  # before the PID was in the name
    ]
    kept = [
        _aged(out / f".photo.depth.npy.{live}.k3j4h5g6.npy", DEAD_WRITER_GRACE_S + 60),  # its writer runs
        _aged(out / f".photo.depth.png.{dead}.k3j4h5g6.png", 5),  # within the grace
        _aged(out / ".photo.color.png.zz99zz99.png", STALE_AFTER_S - 60),
        _aged(out / ".other.depth.npy.k3j4h5g6.npy", STALE_AFTER_S + 60),  # not an output of this run
        _aged(out / ".photo.depth.npy.notes", STALE_AFTER_S + 60),
    ]
    argv = ["predict", str(photo), "--model", str(model), "--out", str(out), "--formats", "png16,npy,color"]
    assert cli.main(argv) == 0
    assert "mde-hub: removed 2 temporary file(s) a killed run left" in capsys.readouterr().err
    assert not any(path.exists() for path in stale) and all(path.exists() for path in kept)
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == {
        "photo.depth.npy", "photo.depth.png", "photo.color.png"
    }


def test_evaluate_killed_while_writing_keeps_the_old_results(tmp_path) -> None:
    """`mde-hub evaluate` SIGKILLed halfway through writing its JSON: results.json still holds the previous run's
    results, whole; only a hidden temporary is left beside it."""
    from app_helpers import save_baseline

    model = save_baseline(tmp_path / "model", 0)
    results = tmp_path / "results.json"
    results.write_text('{"previous": true}\n')
    driver = (
        "import os, signal, sys, pathlib\n"
        "from mde_hub import cli\n"
        "def write_text(self, data, *args, **kwargs):\n"
        "    with open(self, 'w') as handle:\n"
        "        handle.write(data[: len(data) // 2]); handle.flush()\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "pathlib.Path.write_text = write_text\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    command = [sys.executable, "-c", driver, "evaluate", "--model", str(model), "--dataset", "synthetic:indoor:1",
               "--protocol", "none", "--output", str(results)]
    done = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    assert json.loads(results.read_text()) == {"previous": True}
    (leftover,) = [p for p in tmp_path.iterdir() if p.name.startswith(".results.json.")]
    with pytest.raises(ValueError):
        json.loads(leftover.read_text())  # the half-written JSON only ever existed under the temporary name
    assert os.path.getsize(leftover) > 0
    assert re.fullmatch(r"\.results\.json\.\d+\.[a-z0-9_]{8}\.json", leftover.name)  # the writer's PID in it
    os.utime(leftover, (time.time() - 120,) * 2)  # past the grace: its writer is dead
    assert cli.main(command[3:]) == 0  # the next run removes it
    assert not leftover.exists() and json.loads(results.read_text()) != {"previous": True}


def test_atomic_output_flushes_the_file_before_the_rename_and_the_folder_after(tmp_path, monkeypatch) -> None:
    """Survives a power loss too: the data reach the disk before the new name points at them, and the rename itself
    is made durable by syncing the folder."""
    from mde_hub.data import files

    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    def replace(source, target) -> None:
        events.append(("replace", str(target)))
        real_replace(source, target)

    monkeypatch.setattr(files.os, "fsync", fsync)
    monkeypatch.setattr(files.os, "replace", replace)
    target = tmp_path / "depth.npy"
    with files.atomic_output(target) as temporary:
        temporary.write_bytes(b"0123456789")
    (first, second, third) = events
    assert first[0] == "fsync" and Path(first[1]).name.startswith(".depth.npy.")
    assert second == ("replace", str(target))
    assert third == ("fsync", str(tmp_path))
    assert target.read_bytes() == b"0123456789"
