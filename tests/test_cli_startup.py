"""`mde-hub --help` imports neither torch nor transformers, timm or gradio (the package exports lazily and the command
registers the models only once a command runs), while a plain `import mde_hub` still registers every model with
transformers' Auto classes and exports every public name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from app_helpers import save_baseline

import mde_hub

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "timm", "gradio", "mde_hub.models.auto")
CONSOLE_SCRIPT = "import sys\nfrom mde_hub.cli import main\nif __name__ == '__main__':\n    sys.exit(main())\n"
"""What pip writes as the `mde-hub` console script (`[project.scripts]`)."""


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def _imported(importtime_stderr: str) -> set[str]:
    """The modules a `python -X importtime` run imported (one `import time: self | cumulative | name` line each)."""
    lines = [line.rpartition("|")[2].strip() for line in importtime_stderr.splitlines() if line.startswith("import time:")]
    return set(lines[1:])  # the first line is the column header


@pytest.mark.parametrize("command", [["--help"], ["predict", "--help"], ["evaluate", "--help"], ["zoo", "fetch", "--help"]])
def test_help_through_python_m_imports_no_heavy_module(command: list[str]) -> None:
    result = _run("-X", "importtime", "-m", "mde_hub", *command)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage: mde-hub")
    imported = _imported(result.stderr)
    assert {"mde_hub", "mde_hub.cli", "argparse"} <= imported
    assert [name for name in imported if name.split(".")[0] in HEAVY or name in HEAVY] == []


def test_help_through_the_console_script_imports_no_heavy_module(tmp_path: Path) -> None:
    script = tmp_path / "mde-hub"  # named as pip names it: the package recognises its command by this name
    script.write_text(CONSOLE_SCRIPT)
    result = _run("-X", "importtime", str(script), "--help")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "zoo" in result.stdout and "evaluate" in result.stdout
    imported = _imported(result.stderr)
    assert "mde_hub.cli" in imported and not imported & {"torch", "transformers", "timm", "gradio"}


def test_the_command_registers_the_models_before_it_runs(tmp_path: Path) -> None:
    """Started as the command, the package skips registration at import: `main` must register before predicting."""
    checkpoint = save_baseline(tmp_path / "ckpt", 0)
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    result = _run("-m", "mde_hub", "predict", str(tmp_path / "a.png"), "--model", str(checkpoint), "--out",
                  str(tmp_path / "out"), "--formats", "npy", "--quiet")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr == "" and result.stdout.startswith(f"{tmp_path / 'a.png'}: metric depth")
    assert np.load(tmp_path / "out" / "a.depth.npy").shape == (20, 24)


def test_plain_import_registers_the_auto_classes_and_exports_every_name(tmp_path: Path) -> None:
    checkpoint = save_baseline(tmp_path / "ckpt", 0)
    PIL.Image.fromarray(np.full((20, 24, 3), 128, dtype=np.uint8)).save(tmp_path / "a.png")
    check = f"""
import mde_hub
from transformers import AutoConfig, pipeline
assert type(AutoConfig.for_model("mde_baseline")).__name__ == "BaselineConfig"
assert all(getattr(mde_hub, name) is not None for name in mde_hub.__all__)
from mde_hub import *  # noqa: F403
depth = pipeline("depth-estimation", model={str(checkpoint)!r})({str(tmp_path / "a.png")!r})["predicted_depth"]
print(tuple(depth.shape), float(depth.min()) > 0)
"""
    result = _run("-c", check, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["(20,", "24)", "True"]


def test_every_public_name_is_listed_and_resolves_to_its_module() -> None:
    from mde_hub.models.auto import MODEL_CLASSES, register_auto_classes
    from mde_hub.models.dpt import DptConfig

    assert sorted(mde_hub.__all__) == sorted(name for names in mde_hub._EXPORTS.values() for name in names)
    assert mde_hub.DptConfig is DptConfig and mde_hub.MODEL_CLASSES is MODEL_CLASSES
    assert mde_hub.register_auto_classes is register_auto_classes
    assert set(mde_hub.__all__) <= set(dir(mde_hub))
    with pytest.raises(AttributeError, match="module 'mde_hub' has no attribute 'NoSuchModel'"):
        mde_hub.NoSuchModel  # noqa: B018


@pytest.mark.parametrize(("argv0", "orig_argv", "is_cli"), [
    ("/venv/bin/mde-hub", ["/venv/bin/python", "/venv/bin/mde-hub", "--help"], True),
    ("C:\\venv\\Scripts\\mde-hub.exe", ["python", "mde-hub.exe"], True),
    ("-m", ["python", "-X", "importtime", "-m", "mde_hub", "--help"], True),
    ("-m", ["python", "-mmde_hub.cli", "evaluate"], True),
    ("-m", ["python", "-m", "mde_hub.app.screenshots"], False),
    ("-m", ["python", "-m", "pytest", "-m", "mde_hub"], False),
    ("-c", ["python", "-c", "import mde_hub"], False),
    ("train/train.py", ["python", "train/train.py"], False),
    ("/home/me/mde-hub-tools.py", ["python", "/home/me/mde-hub-tools.py"], False),
])
def test_the_command_is_recognised_by_how_python_was_started(monkeypatch, argv0, orig_argv, is_cli) -> None:
    monkeypatch.setattr(sys, "argv", [argv0])
    monkeypatch.setattr(sys, "orig_argv", orig_argv)
    assert mde_hub._started_as_cli() is is_cli
