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
import time
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
from mde_hub.cli import build_parser
from mde_hub.cli import main as cli_main
from mde_hub.data.synthetic import SyntheticDepthDataset
from mde_hub.evaluation.evaluate import evaluate
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.outputs.hub import (
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    PUSH_PATTERNS,
    PushError,
    checkpoint_files,
    push_checkpoint,
)

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


COMMIT = r"/api/models/user/[\w-]+/commit/\w+"


def _count(hub: local_hub_server.LocalHub, request: str) -> int:
    return sum(re.fullmatch(request, made) is not None for made in hub.requests)


def test_push_retries_transient_failures_only(local_hub, tmp_path) -> None:
    _save_checkpoint(tmp_path / "ckpt")
    local_hub.fail("POST", "/api/repos/create", 503)
    local_hub.fail("POST", COMMIT, 429)
    commit = push_checkpoint(tmp_path / "ckpt", "user/flaky", backoff=0.01)
    assert (_count(local_hub, "POST /api/repos/create"), _count(local_hub, f"POST {COMMIT}")) == (2, 2)
    assert commit.oid == HfApi().model_info("user/flaky").sha and "model.safetensors" in _repo_files("user/flaky")

    (tmp_path / "ckpt" / "README.md").write_text("---\nlicense: mit\n---\n# changed\n")  # a commit with a change
    local_hub.fail("POST", COMMIT, 400, times=None)  # a client error is final: not repeated
    with pytest.raises(PushError, match=r"the Hub answered HTTP 400 to POST http://127\.0\.0\.1:\d+/api/models/"
                       r"user/flaky/commit/main \(local_hub fault injected: HTTP 400\); user/flaky keeps the files"):
        push_checkpoint(tmp_path / "ckpt", "user/flaky", commit_message="second", backoff=0.01)
    assert _count(local_hub, f"POST {COMMIT}") == 3
    assert local_hub.unhandled == []


def test_push_to_a_stalled_hub_times_out(local_hub, tmp_path, capsys) -> None:
    _save_checkpoint(tmp_path / "ckpt")
    capsys.readouterr()
    local_hub.stall("POST", "/api/repos/create")
    start = time.monotonic()
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/stalled", "--timeout", "0.3", "--retries", "0"]) == 2
    assert time.monotonic() - start < 1.5
    err = capsys.readouterr().err
    assert err == (f"mde-hub: error: cannot push to user/stalled: the Hub did not answer POST {local_hub.endpoint}"
                   "/api/repos/create within 0.3 s (--timeout)\n")

    start = time.monotonic()
    with pytest.raises(PushError, match=r"within 0\.2 s \(--timeout\) \(3 attempts\)$"):
        push_checkpoint(tmp_path / "ckpt", "user/stalled", timeout=0.2, retries=2, backoff=0.01)
    assert time.monotonic() - start < 1.5 and _count(local_hub, "POST /api/repos/create") == 4
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/stalled", "--timeout", "0"]) == 2
    assert capsys.readouterr().err.endswith("the timeout must be a positive number of seconds (--timeout); got 0.0\n")
    options = build_parser().parse_args(["push", "ckpt", "user/x"])
    assert (options.timeout, options.retries) == (DEFAULT_TIMEOUT, DEFAULT_RETRIES)


def test_push_to_a_closed_port_says_so_in_one_line(local_hub, tmp_path, capsys) -> None:
    _save_checkpoint(tmp_path / "ckpt")
    capsys.readouterr()
    local_hub.close()
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/x", "--retries", "0"]) == 2
    err = capsys.readouterr().err
    assert err == (f"mde-hub: error: cannot push to user/x: cannot connect to the Hub at {local_hub.endpoint}/ "
                   "([Errno 111] Connection refused): check the network and HF_ENDPOINT\n")
    assert local_hub.token not in err


def test_failed_commit_publishes_nothing(local_hub, tmp_path, capsys) -> None:
    _save_checkpoint(tmp_path / "ckpt")
    capsys.readouterr()
    local_hub.fail("POST", COMMIT, 500, times=None)
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/new", "--retries", "0"]) == 2
    err = capsys.readouterr().err
    assert err.endswith("/api/models/user/new/commit/main (local_hub fault injected: HTTP 500); nothing was published "
                        "and the repo user/new it created was deleted\n") and local_hub.token not in err
    assert not HfApi().repo_exists("user/new")
    HfApi().create_repo("user/old")
    with pytest.raises(PushError, match="nothing was published and the branch dev it created was deleted$"):
        push_checkpoint(tmp_path / "ckpt", "user/old", revision="dev", retries=0)
    assert [ref.name for ref in HfApi().list_repo_refs("user/old").branches] == ["main"]
    assert local_hub.unhandled == []


def test_failed_commit_to_a_repo_leaves_it_as_it_was_and_a_rerun_resumes(local_hub, tmp_path) -> None:
    _save_checkpoint(tmp_path / "ckpt")
    HfApi().create_repo("user/old")
    local_hub.fail("POST", COMMIT, 500, times=None)
    with pytest.raises(PushError, match="user/old keeps the files it had .*; run the same push again to retry$"):
        push_checkpoint(tmp_path / "ckpt", "user/old", retries=1, backoff=0.01)
    assert _count(local_hub, f"POST {COMMIT}") == 2 and _repo_files("user/old") == [".gitattributes"]

    local_hub.faults.clear()  # the network is back: the rerun sends no weights again, they are on the Hub already
    uploads = _count(local_hub, "PUT /lfs-upload/.*")
    push_checkpoint(tmp_path / "ckpt", "user/old", retries=0)
    assert _count(local_hub, "PUT /lfs-upload/.*") == uploads == 1
    assert "model.safetensors" in _repo_files("user/old")
    assert local_hub.unhandled == []


@pytest.mark.parametrize("name", ["README.md", "results.json", "model.safetensors", "config.json"])
def test_push_refuses_links_out_of_the_folder(local_hub, tmp_path, capsys, name) -> None:
    _save_checkpoint(tmp_path / "ckpt")
    capsys.readouterr()
    outside = tmp_path / "elsewhere" / name
    outside.parent.mkdir()
    if (tmp_path / "ckpt" / name).exists():
        (tmp_path / "ckpt" / name).rename(outside)
    else:
        outside.write_text('{"private": "not for the Hub"}')
    (tmp_path / "ckpt" / name).symlink_to(outside)
    assert cli_main(["push", str(tmp_path / "ckpt"), "user/linked"]) == 2
    assert capsys.readouterr().err == (
        f"mde-hub: error: {tmp_path / 'ckpt' / name} is a symbolic link to {outside}, outside {tmp_path / 'ckpt'}: "
        "refusing to upload it; copy the file into the folder if it belongs to the checkpoint\n"
    )
    assert local_hub.requests == []

    (tmp_path / "ckpt" / "kept").mkdir()  # a link to a file inside the folder is pushed as that file
    (tmp_path / "ckpt" / name).unlink()
    outside.rename(tmp_path / "ckpt" / "kept" / name)
    (tmp_path / "ckpt" / name).symlink_to(Path("kept") / name)
    assert name in checkpoint_files(tmp_path / "ckpt")


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
