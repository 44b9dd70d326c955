"""Dataset layouts recognised by path, depth statistics, preview grids and `mde-hub data inspect`."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest

from mde_hub.cli import main as cli_main
from mde_hub.data import DepthSample
from mde_hub.data.folder import write_rgbd_folder
from mde_hub.data.registry import LAYOUTS, open_dataset, open_split
from mde_hub.outputs.preview import depth_statistics, preview_grid, write_preview


def two_samples() -> list[DepthSample]:
    first = DepthSample.from_depth(np.zeros((2, 4, 3), np.uint8), np.array([[1.0, 2.0, 0.0, 0.0], [3.0, 4.0, 0.0, 0.0]]), None, "a")
    second = DepthSample.from_depth(np.zeros((2, 2, 3), np.uint8), np.array([[10.0, np.nan], [10.0, 10.0]]), None, "b")
    return [first, second]


def test_statistics_worked_by_hand() -> None:
    stats = depth_statistics(two_samples())
    assert stats.num_samples == 2 and stats.image_sizes == {(2, 4): 1, (2, 2): 1}
    assert stats.valid_fraction == pytest.approx(7 / 12)  # 4 of 8 pixels, then 3 of 4
    assert (stats.min_depth, stats.max_depth) == (1.0, 10.0)
    assert stats.mean_depth == pytest.approx((1 + 2 + 3 + 4 + 30) / 7)
    assert stats.median_depth == pytest.approx((2.5 + 10.0) / 2)  # median of the per-image medians


def test_preview_grid_stacks_image_over_depth() -> None:
    samples = [DepthSample.from_depth(np.full((30, 40, 3), 200, np.uint8), np.full((30, 40), 2.0), None, str(i)) for i in range(5)]
    grid = np.asarray(preview_grid(samples, columns=2, tile_width=40))
    assert grid.shape == (3 * 60, 2 * 40, 3)  # 3 rows of (image 30 + depth 30) px, 2 columns
    assert (grid[:30, :40] == 200).all() and not (grid[30:60, :40] == 200).all()
    assert (grid[120:, 40:] == 0).all()  # the sixth cell is empty


def test_write_preview_spreads_its_samples_over_the_first_total(tmp_path) -> None:
    samples = [DepthSample.from_depth(np.full((8, 8, 3), 10 * i, np.uint8), np.full((8, 8), 1.0), None, str(i)) for i in range(10)]
    write_preview(samples, tmp_path / "preview.png", total=9, count=4)  # every 2nd of the first 9, the first 4 of those
    expected = preview_grid([samples[i] for i in (0, 2, 4, 6)])
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(tmp_path / "preview.png")), np.asarray(expected))
    write_preview(samples, tmp_path / "few.png", total=3, count=8)  # fewer than count: all of them
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(tmp_path / "few.png")), np.asarray(preview_grid(samples[:3])))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["few.png", "preview.png"]


def test_unknown_layout_lists_the_known_ones(tmp_path) -> None:
    with pytest.raises(ValueError, match="no layout mde-hub recognises") as error:
        open_dataset(tmp_path)
    assert all(layout.name in str(error.value) for layout in LAYOUTS)
    with pytest.raises(ValueError, match="unknown layout 'nope'"):
        open_dataset(tmp_path, layout="nope")


def test_inspect_command_on_real_frames(shared_rgbd, tmp_path, capsys) -> None:
    preview = tmp_path / "grid.png"
    assert cli_main(["data", "inspect", f"{shared_rgbd}/icl_livingroom1", "--limit", "20", "--preview", str(preview)]) == 0
    out = capsys.readouterr().out
    assert "RgbdFolder, 211 samples" in out and "samples       20" in out and "480x640 (20)" in out
    assert PIL.Image.open(preview).size == (4 * 256, 2 * 2 * 192)  # 8 tiles of 256x192, image over depth
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # no temporary file left behind


def test_inspect_reports_errors_without_a_traceback(tmp_path, capsys) -> None:
    assert cli_main(["data", "inspect", str(tmp_path / "missing")]) == 2
    assert "error: no dataset at" in capsys.readouterr().err


def test_inspect_refuses_an_empty_preview_before_any_work(tmp_path, capsys) -> None:
    """Before, `--preview-count 0` divided by zero (a traceback) after the statistics were printed."""
    preview = tmp_path / "grid.png"
    for flag, value in [("--preview-count", "0"), ("--preview-count", "-1"), ("--limit", "0")]:
        with pytest.raises(SystemExit) as exited:
            cli_main(["data", "inspect", "synthetic:indoor:2", flag, value, "--preview", str(preview)])
        captured = capsys.readouterr()
        assert exited.value.code == 2 and f"argument {flag}: must be at least 1; got {value}" in captured.err
        assert captured.out == "" and "Traceback" not in captured.err
    samples = two_samples()
    with pytest.raises(ValueError, match="a preview needs at least one sample; got 0 to show of the first 2"):
        write_preview(samples, preview, total=2, count=0)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind,layout", [("indoor", "NyuDenseDepth"), ("outdoor", "RgbdFolder")])
def test_synth_then_inspect(kind: str, layout: str, tmp_path, capsys) -> None:
    out = tmp_path / kind
    assert cli_main(["data", "synth", "--kind", kind, "--n", "2", "--out", str(out), "--height", "48", "--width", "64"]) == 0
    assert cli_main(["data", "inspect", str(out), "--preview", str(tmp_path / "grid.png")]) == 0
    printed = capsys.readouterr().out
    assert f"{layout}, 2 samples" in printed and "48x64 (2)" in printed
    reopened = open_dataset(out)
    assert reopened[1].depth.max() <= (10.0 if kind == "indoor" else 80.0) and reopened[1].valid.any()
    assert cli_main(["data", "synth", "--n", "0", "--out", str(out)]) == 2


def test_a_split_the_data_set_lacks_is_refused_by_every_layout(tmp_path, capsys) -> None:
    frames = [DepthSample.from_depth(np.zeros((4, 6, 3), np.uint8), np.ones((4, 6)), None, str(i)) for i in range(3)]
    folder = write_rgbd_folder(frames, tmp_path / "video")
    assert open_split(folder, default_split="test")[1] is None and len(open_dataset(folder)) == 3  # all frames
    for split in ("train", "test", "all"):
        with pytest.raises(ValueError, match=r"video \(rgbd_folder layout\) has no split '\w+': it is one set of frames"):
            open_dataset(folder, split=split)
    with pytest.raises(ValueError, match=r"\(rgbd_folder layout\) does not take split_file: it takes none"):
        open_dataset(folder, split_file="splits.mat")
    assert cli_main(["data", "inspect", str(folder), "--split", "train", "--preview", str(tmp_path / "grid.png")]) == 2
    assert "(rgbd_folder layout) has no split 'train'" in capsys.readouterr().err
    synth = tmp_path / "synth"  # DenseDepth layout with a training CSV only
    assert cli_main(["data", "synth", "--n", "2", "--out", str(synth), "--height", "48", "--width", "64"]) == 0
    assert open_split(synth)[1] == "train"
    with pytest.raises(ValueError, match=r"synth \(densedepth layout\) has no split 'test' \(the default here\): its splits are train"):
        open_dataset(synth, default_split="test")
    with pytest.raises(ValueError, match=r"\(densedepth layout\) has no split 'test': its splits are train"):
        open_dataset(synth, split="test")
    for layout in LAYOUTS:  # every layout checks the split before opening anything
        if not callable(layout.splits):
            with pytest.raises(ValueError, match=rf"\({layout.name} layout\) has no split 'nope'"):
                layout.resolve_split(tmp_path, "nope")
