"""`mde-hub push` and `hf upload` against a local Hub server, read back with the real clients from a fresh cache."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import local_hub as local_hub_server
import pytest
import torch
from huggingface_hub import HfApi, ModelCard, hf_hub_download
from huggingface_hub.errors import RepositoryNotFoundError
from transformers import AutoImageProcessor, AutoModelForDepthEstimation

from mde_hub import BaselineConfig, BaselineForDepthEstimation, DepthImageProcessor, image_processor_for
from mde_hub.cli import main as cli_main
from mde_hub.data.synthetic import SyntheticDepthDataset
from mde_hub.evaluation.evaluate import evaluate
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.outputs.hub import PUSH_PATTERNS, checkpoint_files

local_hub = local_hub_server.local_hub  # the fixture
README = Path(__file__).resolve().parents[1] / "README.md"
HF_CLI = Path(sys.executable).with_name("hf")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _save_checkpoint(path: Path, **save_kwargs) -> BaselineForDepthEstimation:
    """A tiny random Baseline with its processor, beside training leftovers that must not be pushed."""
    torch.manual_seed(0)
    model = BaselineForDepthEstimation(BaselineConfig.tiny(image_size=32))
    model.save_pretrained(path, **save_kwargs)
    image_processor_for(model.config).save_pretrained(path)
    (path / "optimizer.pt").write_bytes(b"\x80\x04not pushed")
    (path / "training_args.bin").write_bytes(b"\x80\x04not pushed")
    (path / "checkpoint-10").mkdir()
    (path / "checkpoint-10" / "config.json").write_text("{}")
    (path / "trainer_state.json").write_text("{}")
    return model


def _assert_same_weights(loaded: torch.nn.Module, original: torch.nn.Module) -> None:
    expected, actual = original.state_dict(), loaded.state_dict()
    assert sorted(actual) == sorted(expected)
    for name, tensor in expected.items():
        assert actual[name].dtype == tensor.dtype and torch.equal(actual[name], tensor), name


def _repo_files(repo_id: str, revision: str | None = None) -> list[str]:
    return sorted(s.rfilename for s in HfApi().model_info(repo_id, revision=revision).siblings)


def test_push_round_trip_is_bit_identical(local_hub, tmp_path, capsys) -> None:
    model = _save_checkpoint(tmp_path / "ckpt")
    results = tmp_path / "ckpt" / "results.json"  # an evaluation JSON: pushed, and its numbers go into the card
    frames = SyntheticDepthDataset("indoor", size=2, height=48, width=64, seed=0)
    evaluate(DepthPredictor.from_pretrained(tmp_path / "ckpt"), frames, protocol="none").to_json(results)
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/tiny-depth", "--message", "First weights"]) == 0
    commit_url = capsys.readouterr().out.strip()
    assert re.fullmatch(rf"{local_hub.endpoint}/user/tiny-depth/commit/[0-9a-f]{{40}}", commit_url)

    api = HfApi()
    info = api.model_info("user/tiny-depth", files_metadata=True)
    pushed = ["README.md", "config.json", "model.safetensors", "preprocessor_config.json", "results.json"]
    assert sorted(s.rfilename for s in info.siblings) == [".gitattributes", *pushed]
    assert commit_url.endswith(info.sha) and not info.private
    commits = api.list_repo_commits("user/tiny-depth")
    assert [c.title for c in commits] == ["First weights", "initial commit"]  # everything in one commit
    weights = next(s for s in info.siblings if s.rfilename == "model.safetensors")
    assert weights.lfs is not None and weights.lfs.sha256 == _sha256(tmp_path / "ckpt" / "model.safetensors")

    loaded = AutoModelForDepthEstimation.from_pretrained("user/tiny-depth")
    _assert_same_weights(loaded, model)
    processor = AutoImageProcessor.from_pretrained("user/tiny-depth")
    assert isinstance(processor, DepthImageProcessor)
    assert processor.to_dict() == DepthImageProcessor.from_pretrained(tmp_path / "ckpt").to_dict()
    downloaded = Path(hf_hub_download("user/tiny-depth", "model.safetensors"))
    assert str(downloaded).startswith(os.environ["HF_HUB_CACHE"])  # a fresh cache, not the local folder
    assert _sha256(downloaded) == _sha256(tmp_path / "ckpt" / "model.safetensors")
    card = ModelCard.load("user/tiny-depth")  # generated, since the checkpoint had no README.md
    assert card.data.pipeline_tag == "depth-estimation" and "user/tiny-depth" in card.text
    abs_rel = json.loads(results.read_text())["metrics"]["abs_rel"]
    assert [r.metric_value for r in card.data.eval_results if r.metric_type == "abs_rel"] == [abs_rel]
    assert local_hub.unhandled == []


def test_private_repo_needs_the_token(local_hub, tmp_path, monkeypatch, capsys) -> None:
    model = _save_checkpoint(tmp_path / "ckpt")
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/secret-depth", "--private"]) == 0
    assert HfApi().model_info("user/secret-depth").private

    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(RepositoryNotFoundError):
        HfApi().model_info("user/secret-depth")
    with pytest.raises(OSError, match="user/secret-depth"):
        AutoModelForDepthEstimation.from_pretrained("user/secret-depth")
    loaded = AutoModelForDepthEstimation.from_pretrained("user/secret-depth", token=local_hub.token)
    _assert_same_weights(loaded, model)

    assert cli_main(["push", str(tmp_path / "ckpt"), "user/secret-depth"]) == 2  # anonymous pushes are refused early
    assert "not logged in" in capsys.readouterr().err
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_token_the_hub_knows")
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/secret-depth"]) == 2
    assert "refused to let this token write to user/secret-depth (HTTP 401)" in capsys.readouterr().err
    assert local_hub.unhandled == []


def test_sharded_checkpoint_to_a_new_branch(local_hub, tmp_path, capsys) -> None:
    model = _save_checkpoint(tmp_path / "ckpt", max_shard_size="40KB")
    files = checkpoint_files(tmp_path / "ckpt")
    shards = [name for name in files if name.startswith("model-")]
    assert len(shards) >= 2 and "model.safetensors.index.json" in files
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/sharded", "--revision", "dev"]) == 0
    capsys.readouterr()

    assert _repo_files("user/sharded") == [".gitattributes"]  # main untouched
    assert _repo_files("user/sharded", revision="dev") == sorted([".gitattributes", "README.md", *files])
    loaded = AutoModelForDepthEstimation.from_pretrained("user/sharded", revision="dev")
    _assert_same_weights(loaded, model)
    assert local_hub.unhandled == []


def _readme_hf_upload_command() -> list[str]:
    text = README.read_text().replace("\\\n", " ")  # join continued lines
    lines = [line.strip() for line in text.splitlines()
             if line.strip().startswith("hf upload ") and "--repo-type space" not in line]  # a Space's upload aside
    assert len(lines) == 1, "README shows one `hf upload` command for a model"
    return shlex.split(lines[0])


def test_readme_hf_upload_command_pushes_what_mde_hub_push_does(local_hub, tmp_path) -> None:
    command = _readme_hf_upload_command()
    includes = [command[i + 1] for i, word in enumerate(command) if word == "--include"]
    assert sorted(includes) == sorted(PUSH_PATTERNS)

    model = _save_checkpoint(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "README.md").write_text("---\nlicense: apache-2.0\npipeline_tag: depth-estimation\n---\n# tiny\n")
    argv = [str(tmp_path / "ckpt") if word == "./my-model" else "user/uploaded" if word == "user/name" else word
            for word in command[2:]]
    result = subprocess.run([str(HF_CLI), "upload", *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

    assert _repo_files("user/uploaded") == sorted([".gitattributes", *checkpoint_files(tmp_path / "ckpt")])
    _assert_same_weights(AutoModelForDepthEstimation.from_pretrained("user/uploaded"), model)
    assert local_hub.unhandled == []


def test_push_refuses_incomplete_checkpoints(tmp_path, capsys) -> None:
    assert cli_main(["push", str(tmp_path / "missing"), "user/x"]) == 2
    assert f"no checkpoint directory at {tmp_path / 'missing'}" in capsys.readouterr().err

    _save_checkpoint(tmp_path / "ckpt")
    weights = (tmp_path / "ckpt" / "model.safetensors").read_bytes()
    (tmp_path / "ckpt" / "model.safetensors").unlink()
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/x"]) == 2
    assert "no model.safetensors (or model.safetensors.index.json) in" in capsys.readouterr().err

    (tmp_path / "ckpt" / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/x"]) == 2
    assert "pickled pytorch_model.bin weights only" in capsys.readouterr().err

    (tmp_path / "ckpt" / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/x"]) == 2
    assert "model.safetensors is not a readable safetensors file" in capsys.readouterr().err

    (tmp_path / "ckpt" / "model.safetensors").write_bytes(weights)
    (tmp_path / "ckpt" / "preprocessor_config.json").unlink()
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/x"]) == 2
    assert "no preprocessor_config.json in" in capsys.readouterr().err

    (tmp_path / "ckpt" / "config.json").write_text('{"model_type": "bert"}')
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/x"]) == 2
    assert "model_type 'bert' is not a depth estimation model" in capsys.readouterr().err


def _request(hub, method: str, path: str, body: bytes = b"", token: str | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(hub.endpoint + path, data=body or None, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_local_hub_refuses_what_the_hub_refuses(local_hub) -> None:
    """The fixture is only a fair test if bad uploads fail: unverified LFS objects, binary blobs, wrong content."""
    HfApi().create_repo("user/strict")
    content = b"\x00\x01 weights"
    oid = hashlib.sha256(content).hexdigest()

    def commit(line: dict) -> int:
        body = b"\n".join(json.dumps(item).encode() for item in [{"key": "header", "value": {"summary": "x"}}, line])
        return _request(local_hub, "POST", "/api/models/user/strict/commit/main", body, local_hub.token)[0]

    assert commit({"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", "oid": oid, "size": 10}}) == 400
    encoded = base64.b64encode(content).decode()
    assert commit({"key": "file", "value": {"path": "w.bin", "content": encoded, "encoding": "base64"}}) == 400

    batch = json.dumps({"operation": "upload", "objects": [{"oid": oid, "size": len(content)}]}).encode()
    status, _, answer = _request(local_hub, "POST", "/user/strict.git/info/lfs/objects/batch", batch, local_hub.token)
    actions = json.loads(answer)["objects"][0]["actions"]
    assert status == 200 and _request(local_hub, "POST", "/user/strict.git/info/lfs/objects/batch", batch)[0] == 401
    upload_path = actions["upload"]["href"][len(local_hub.endpoint):]
    assert _request(local_hub, "PUT", upload_path, b"\x00\x01 tampered")[0] == 400
    verify = json.dumps({"oid": oid, "size": len(content)}).encode()
    assert _request(local_hub, "POST", "/user/strict.git/info/lfs/objects/verify", verify, local_hub.token)[0] == 404

    head = HfApi().model_info("user/strict").sha
    status, headers, _ = _request(local_hub, "GET", "/user/strict/resolve/main/w.bin")
    assert (status, headers["X-Error-Code"], headers["X-Repo-Commit"]) == (404, "EntryNotFound", head)
    status, headers, _ = _request(local_hub, "GET", "/user/strict/resolve/nope/.gitattributes")
    assert (status, headers["X-Error-Code"]) == (404, "RevisionNotFound")
    assert _request(local_hub, "GET", "/api/models/user/strict/discussions")[0] == 501
    assert local_hub.unhandled == ["GET /api/models/user/strict/discussions"]
