"""Long commands show their progress on stderr (a tqdm bar on a terminal, a line per tenth elsewhere) and end with a
one-line summary; `--quiet` prints neither, and stdout is the same either way."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from app_helpers import save_baseline

from mde_hub.cli import main as cli_main
from mde_hub.outputs.progress import CommandProgress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _summary_count(err: str, name: str, unit: str) -> int:
    """The count of the summary line `NAME: N UNITs in T s, R UNITs/s (W s in all)`, which must be the last line."""
    match = re.fullmatch(rf"{name}: (\d+) {unit}s? in [\d.]+ s, [\d.e+]+ {unit}s/s \([\d.]+ s in all\)",
                         err.splitlines()[-1])
    assert match is not None, err
    return int(match[1])


def _photos(folder: Path, count: int) -> Path:
    folder.mkdir()
    for index in range(count):
        pixels = np.random.default_rng(index).integers(0, 255, (20, 24, 3), dtype=np.uint8)
        PIL.Image.fromarray(pixels).save(folder / f"{index}.png")
    return folder


def _run(capsys, argv: list[str]) -> tuple[str, str]:
    capsys.readouterr()  # what the test printed before (saving a checkpoint draws transformers' bar)
    assert cli_main(argv) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_data_synth_reports_every_frame_then_the_summary(tmp_path, capsys) -> None:
    argv = ["data", "synth", "--n", "3", "--height", "24", "--width", "32"]
    out, err = _run(capsys, [*argv, "--out", str(tmp_path / "a")])
    assert err.splitlines()[:-1] == ["data synth: 1/3 frames (33%)", "data synth: 2/3 frames (66%)",
                                     "data synth: 3/3 frames (100%)"]
    assert _summary_count(err, "data synth", "frame") == 3
    quiet_out, quiet_err = _run(capsys, [*argv, "--out", str(tmp_path / "a"), "--quiet"])
    assert quiet_err == "" and quiet_out == out


def test_outdoor_synth_counts_its_frames_as_they_are_written(tmp_path, capsys) -> None:
    out, err = _run(capsys, ["data", "synth", "--kind", "outdoor", "--n", "2", "--height", "24", "--width", "32",
                             "--out", str(tmp_path / "o")])
    assert err.splitlines()[-2] == "data synth: 2/2 frames (100%)" and _summary_count(err, "data synth", "frame") == 2
    assert len(list((tmp_path / "o" / "depth").iterdir())) == 2


def test_predict_over_a_folder_counts_its_images(tmp_path, capsys) -> None:
    images = _photos(tmp_path / "images", 3)
    model = save_baseline(tmp_path / "ckpt", 0)
    argv = ["predict", str(images), "--model", str(model), "--out", str(tmp_path / "out"), "--formats", "npy"]
    out, err = _run(capsys, argv)
    assert err.splitlines()[:-1] == [f"predict: {n}/3 images ({n * 100 // 3}%)" for n in (1, 2, 3)]
    assert _summary_count(err, "predict", "image") == 3
    assert [line.split(":")[0] for line in out.splitlines()] == [str(images / f"{n}.png") for n in range(3)]
    quiet_out, quiet_err = _run(capsys, [*argv, "-q"])
    assert quiet_err == ""
    strip_latency = re.compile(r", \d+ ms$", re.M)  # the only part of a line that changes between runs
    assert strip_latency.sub("", quiet_out) == strip_latency.sub("", out)


def test_evaluate_counts_the_scored_images(tmp_path, capsys) -> None:
    model = save_baseline(tmp_path / "ckpt", 0)
    argv = ["evaluate", "--model", str(model), "--dataset", "synthetic:indoor:3", "--limit", "2", "--protocol", "none",
            "--output", str(tmp_path / "results.json")]
    out, err = _run(capsys, argv)
    assert err.splitlines()[-2] == "evaluate: 2/2 images (100%)" and _summary_count(err, "evaluate", "image") == 2
    assert "(2 images, protocol none)" in out
    quiet_out, quiet_err = _run(capsys, [*argv, "--quiet"])
    assert quiet_err == "" and quiet_out == out


def test_on_a_terminal_the_bar_ends_at_the_image_count(tmp_path, capsys, monkeypatch) -> None:
    model = save_baseline(tmp_path / "ckpt", 0)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    argv = ["evaluate", "--model", str(model), "--dataset", "synthetic:indoor:2", "--protocol", "none",
            "--output", str(tmp_path / "results.json")]
    assert cli_main(argv) == 0
    shown = terminal.getvalue()
    counts = re.findall(r"\| (\d+)/(\d+) \[", shown)  # tqdm: `evaluate: 100%|####| 2/2 [00:01<00:00, ...]`
    assert counts and counts[-1] == ("2", "2") and "\r" in shown
    assert _summary_count(shown, "evaluate", "image") == 2
    assert "| abs_rel |" in capsys.readouterr().out


def test_a_log_gets_a_line_per_tenth_and_labels_as_they_change() -> None:
    log = io.StringIO()
    with CommandProgress("bench", "step", stream=log) as progress:
        progress(0, 40, "compact")
        for done in range(1, 41):
            progress(done, 40, "compact" if done < 40 else "done")
    lines = log.getvalue().splitlines()
    assert lines[:-1] == ["bench: 0/40 steps (0%): compact"] + [
        f"bench: {n}/40 steps ({n * 100 // 40}%): compact" for n in range(4, 40, 4)] + ["bench: 40/40 steps (100%): done"]
    assert _summary_count(log.getvalue(), "bench", "step") == 40


def test_a_failed_command_prints_no_summary() -> None:
    log = io.StringIO()
    with pytest.raises(ValueError, match="bad frame"):
        with CommandProgress("evaluate", "image", stream=log) as progress:
            progress(0, 2)
            raise ValueError("bad frame")
    assert log.getvalue() == ""


def test_library_bars_are_hidden_in_a_log_and_restored_after() -> None:
    import transformers.utils.logging

    assert transformers.utils.logging.is_progress_bar_enabled()
    with CommandProgress("evaluate", "image", stream=io.StringIO()):
        assert not transformers.utils.logging.is_progress_bar_enabled()  # `Loading weights` would write \r noise
    assert transformers.utils.logging.is_progress_bar_enabled()
    with CommandProgress("evaluate", "image", stream=_Terminal()):
        assert transformers.utils.logging.is_progress_bar_enabled()
    with CommandProgress("evaluate", "image", quiet=True, stream=_Terminal()):
        assert not transformers.utils.logging.is_progress_bar_enabled()
    assert transformers.utils.logging.is_progress_bar_enabled()
