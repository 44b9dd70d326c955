"""`mde-hub evaluate` and `mde-hub predict` in several processes (`mde_hub.inference.distributed`): torchrun with two
CPU processes over gloo scores the metrics of one process and writes every output once; `predict --resume` skips
what an interrupted run finished."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from app_helpers import save_baseline

from mde_hub.cli import main as cli_main
from mde_hub.evaluation.metrics import DepthMetricAccumulator
from mde_hub.inference.distributed import ProcessShard, launched_shard
from mde_hub.outputs.prediction_files import images_to_predict, output_paths

REPO = Path(__file__).parent.parent


def test_shards_are_disjoint_cover_everything_and_stay_balanced() -> None:
    for total in (0, 1, 5, 12):
        for world in (1, 2, 3, 5):
            parts = [list(ProcessShard(rank, world).indices(total)) for rank in range(world)]
            assert sorted(index for part in parts for index in part) == list(range(total))
            assert max(map(len, parts)) - min(map(len, parts)) <= 1
    with pytest.raises(ValueError, match="rank must be in"):
        ProcessShard(2, 2)


def test_the_launchers_environment_gives_the_shard(monkeypatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert launched_shard() == ProcessShard(0, 1)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    shard = launched_shard()
    assert (shard.rank, shard.world_size, shard.is_main, shard.device("cuda"), shard.device("cpu")) == (
        3, 4, False, "cuda:1", "cpu")
    monkeypatch.setenv("RANK", "three")
    with pytest.raises(ValueError, match="RANK='three'.*must be integers"):
        launched_shard()


def test_accumulators_of_disjoint_shards_add_up_to_one_over_everything(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 9.0, (7, 24, 32))
    pred = gt * rng.uniform(0.8, 1.25, gt.shape)
    gt[2] = 0  # an image without a valid pixel is counted as skipped
    for reduction in ("per_image", "pooled"):
        whole = DepthMetricAccumulator("none", reduction)
        whole.update(pred, gt)
        shards = [DepthMetricAccumulator("none", reduction) for _ in range(2)]
        for rank, accumulator in enumerate(shards):
            accumulator.update(pred[rank::2], gt[rank::2])
        # what all_reduce(SUM) gives each process, without a process group
        state = [torch.cat([torch.from_numpy(a._sums), torch.tensor([a.num_images, a.num_skipped, a.num_pixels], dtype=torch.float64)])
                 for a in shards]
        monkeypatch.setattr("mde_hub.evaluation.metrics.sum_across_processes", lambda values: state[0] + state[1])
        shards[0].sum_across_processes()
        assert (shards[0].num_images, shards[0].num_skipped, shards[0].num_pixels) == (
            whole.num_images, whole.num_skipped, whole.num_pixels)
        for name, value in whole.compute().items():
            assert shards[0].compute()[name] == pytest.approx(value, rel=1e-12), (reduction, name)


def _photos(folder: Path, count: int) -> Path:
    folder.mkdir()
    for index in range(count):
        pixels = np.random.default_rng(index).integers(0, 255, (30 + 2 * index, 40, 3), dtype=np.uint8)
        PIL.Image.fromarray(pixels).save(folder / f"photo{index}.png")
    return folder


def test_resume_skips_the_images_whose_outputs_all_exist(tmp_path, capsys) -> None:
    photos, out, model = _photos(tmp_path / "photos", 4), tmp_path / "out", save_baseline(tmp_path / "ckpt", 0)
    argv = ["predict", str(photos), "--model", str(model), "--out", str(out), "--formats", "npy,color"]
    assert cli_main(argv) == 0
    (out / "photo1.color.png").unlink()  # as if the run had been killed before photo1's last file
    written = {path.name: path.stat().st_mtime_ns for path in out.iterdir()}
    capsys.readouterr()
    assert cli_main([*argv, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "3 image(s) skipped" in err and "predict: 1 image in" in err
    assert (out / "photo1.color.png").exists()
    unchanged = {name: mtime for name, mtime in written.items() if not name.startswith("photo1")}
    assert {name: (out / name).stat().st_mtime_ns for name in unchanged} == unchanged


def test_each_process_predicts_its_own_images(tmp_path) -> None:
    bases = {tmp_path / f"{index}.png": tmp_path / "out" / str(index) for index in range(5)}
    from mde_hub.models.baseline.configuration_baseline import BaselineConfig
    from mde_hub.models.depth_meaning import depth_meaning_of

    meaning = depth_meaning_of(BaselineConfig.tiny())
    parts = [images_to_predict(bases, ["npy"], meaning, ProcessShard(rank, 2), resume=True)[0] for rank in (0, 1)]
    assert [list(part) for part in parts] == [[tmp_path / f"{i}.png" for i in (0, 2, 4)], [tmp_path / f"{i}.png" for i in (1, 3)]]
    assert output_paths(bases[tmp_path / "0.png"], ["npy"], meaning)  # the files --resume looks for


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _torchrun(*argv: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "mde_hub", *argv]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


def test_two_processes_score_and_write_what_one_does(tmp_path, capsys) -> None:
    model = save_baseline(tmp_path / "ckpt", 0)
    evaluate = ["evaluate", "--model", str(model), "--dataset", "synthetic:indoor:5:3", "--protocol", "none",
                "--quiet"]
    assert cli_main([*evaluate, "--output", str(tmp_path / "one.json")]) == 0
    photos = _photos(tmp_path / "photos", 5)
    predict = ["predict", str(photos), "--model", str(model), "--formats", "npy", "--quiet"]
    assert cli_main([*predict, "--out", str(tmp_path / "one")]) == 0

    done = _torchrun(*evaluate, "--output", str(tmp_path / "two.json"), "--batch-size", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = (json.loads((tmp_path / name).read_text()) for name in ("one.json", "two.json"))
    assert (two["num_images"], two["settings"]["processes"]) == (5, 2)
    for name, value in one["metrics"].items():
        assert two["metrics"][name] == pytest.approx(value, rel=1e-9), name
    assert done.stdout.count("wrote ") == 1  # the first process writes the results

    done = _torchrun(*predict, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())
    for path in (tmp_path / "one").iterdir():
        np.testing.assert_allclose(np.load(tmp_path / "two" / path.name), np.load(path), rtol=1e-5)
    # each image predicted once, by one process (the two processes' lines may interleave in torchrun's stdout)
    predicted = re.findall(re.escape(str(photos)) + r"/(photo\d)\.png: ", done.stdout)
    assert sorted(predicted) == [f"photo{index}" for index in range(5)]
