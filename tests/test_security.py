"""Security rules (RELIABILITY.md): safetensors-only loading unless pickles are explicitly allowed, no model needs
remote code, the app binds loopback and loads typed local paths only beside its served checkpoints, model ids cannot
reach the file system, online it refuses Hub models beyond its memory bound before downloading them and typed ids
outside --online-models, and Hub tokens stay out of logs and of the files training writes."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import local_hub as local_hub_server
import numpy as np
import PIL.Image
import pytest
import torch
from app_helpers import save_baseline
from huggingface_hub import HfApi
from huggingface_hub import constants as hub_constants
from safetensors.torch import load_file, save_file
from transformers import AutoModelForDepthEstimation, pipeline

import app
from mde_hub import MODEL_CLASSES, cli, image_processor_for
from mde_hub.app import layout
from mde_hub.app.registry import ModelRegistry, ModelSource, discover_sources, parse_online_models
from mde_hub.app.serve import server_address
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.models.loading import hub_weights_bytes
from mde_hub.training import build_model, parse_arguments, run_training

local_hub = local_hub_server.local_hub


def _pickled(checkpoint: Path) -> Path:
    """The checkpoint with its weights as a pickled pytorch_model.bin only."""
    torch.save(load_file(checkpoint / "model.safetensors"), checkpoint / "pytorch_model.bin")
    (checkpoint / "model.safetensors").unlink()
    return checkpoint


def test_pickled_weights_load_only_when_explicitly_allowed(tmp_path, capsys) -> None:
    reference = DepthPredictor.from_pretrained(save_baseline(tmp_path / "reference", 0)).model.state_dict()
    checkpoint = _pickled(save_baseline(tmp_path / "pickled", 0))
    with pytest.raises(ValueError, match="pickled pytorch_model.bin weights only, and pickle files can run code"):
        DepthPredictor.from_pretrained(checkpoint)
    allowed = DepthPredictor.from_pretrained(checkpoint, allow_pickle=True).model.state_dict()
    assert allowed.keys() == reference.keys() and all(torch.equal(allowed[k], reference[k]) for k in reference)
    photo = tmp_path / "photo.png"
    PIL.Image.fromarray(np.zeros((32, 32, 3), dtype=np.uint8)).save(photo)
    argv = ["predict", str(photo), "--model", str(checkpoint), "--out", str(tmp_path / "out"), "--formats", "npy"]
    assert cli.main(argv) == 2 and "--allow-pickle" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert cli.main([*argv, "--allow-pickle"]) == 0 and (tmp_path / "out" / "photo.depth.npy").is_file()


def test_fine_tuning_from_a_pickled_checkpoint_is_refused(tmp_path) -> None:
    checkpoint = _pickled(save_baseline(tmp_path / "pickled", 0))
    parsed = parse_arguments(["--model_name_or_path", str(checkpoint), "--output_dir", str(tmp_path / "run")])
    with pytest.raises(OSError, match="model.safetensors"):
        build_model(parsed.model)
    safe = build_model(parse_arguments(["--model_name_or_path", str(save_baseline(tmp_path / "safe", 0)),
                                        "--output_dir", str(tmp_path / "run")]).model)
    assert safe.config.model_type == "mde_baseline"


def _edited_weights(checkpoint: Path, drop: str | None = None, add: str | None = None) -> Path:
    """The checkpoint with the tensor `drop` removed from its model.safetensors, or a tensor `add` added."""
    weights = load_file(checkpoint / "model.safetensors")
    if drop is not None:
        del weights[drop]
    if add is not None:
        weights[add] = torch.zeros(3)
    save_file(weights, checkpoint / "model.safetensors", metadata={"format": "pt"})
    return checkpoint


def test_every_entry_point_refuses_a_checkpoint_lacking_a_tensor(tmp_path) -> None:
    """transformers would fill it with random values and only print a load report; the Auto class, the pipeline,
    DepthPredictor and fine-tuning refuse it, naming the key, unless `strict_weights=False` is asked for."""
    checkpoint = _edited_weights(save_baseline(tmp_path / "partial", 0), drop="decoder.0.bias")
    message = r"partial: the checkpoint lacks 1 of the model's weights \(decoder\.0\.bias\); refusing to fill"
    with pytest.raises(ValueError, match=message):
        AutoModelForDepthEstimation.from_pretrained(checkpoint)
    with pytest.raises(ValueError, match=message):
        pipeline("depth-estimation", model=str(checkpoint))
    with pytest.raises(ValueError, match=message):
        DepthPredictor.from_pretrained(checkpoint)
    fine_tuning = parse_arguments(["--model_name_or_path", str(checkpoint), "--output_dir", str(tmp_path / "run")])
    with pytest.raises(ValueError, match=message):
        build_model(fine_tuning.model)
    lenient = {"strict_weights": False, "output_loading_info": True}
    model, info = AutoModelForDepthEstimation.from_pretrained(checkpoint, **lenient)
    assert info["missing_keys"] == {"decoder.0.bias"} and type(model).__name__ == "BaselineForDepthEstimation"


def test_a_checkpoint_with_tensors_the_model_lacks_is_refused(tmp_path) -> None:
    checkpoint = _edited_weights(save_baseline(tmp_path / "extra", 0), add="decoder.9.weight")
    with pytest.raises(ValueError, match=r"extra: the checkpoint holds 1 weights the model has no place for "
                                         r"\(decoder\.9\.weight\): it was saved from another architecture"):
        AutoModelForDepthEstimation.from_pretrained(checkpoint)
    assert type(AutoModelForDepthEstimation.from_pretrained(checkpoint, strict_weights=False)).__name__ == (
        "BaselineForDepthEstimation"
    )


def test_hub_repo_with_pickled_weights_only_is_refused(local_hub, tmp_path) -> None:
    checkpoint = _pickled(save_baseline(tmp_path / "pickled", 0))
    repo_id = f"{local_hub.user}/pickled-only"
    HfApi().create_repo(repo_id)
    HfApi().upload_folder(repo_id=repo_id, folder_path=str(checkpoint))
    # transformers asks the Hub for a safetensors conversion (its discussions API, which the local Hub does not
    # serve) instead of downloading the pickle; either way the .bin is never fetched
    with pytest.raises((ValueError, OSError)):
        DepthPredictor.from_pretrained(repo_id)
    assert list(Path(hub_constants.HF_HUB_CACHE).rglob("pytorch_model.bin")) == []
    assert DepthPredictor.from_pretrained(repo_id, allow_pickle=True).model.config.model_type == "mde_baseline"
    assert len(list(Path(hub_constants.HF_HUB_CACHE).rglob("pytorch_model.bin"))) == 1


@pytest.mark.parametrize("model_type", sorted(MODEL_CLASSES))
def test_every_model_loads_without_remote_code(model_type, tmp_path) -> None:
    config_class, model_class = MODEL_CLASSES[model_type]
    torch.manual_seed(0)
    model = model_class(config_class.tiny())
    model.save_pretrained(tmp_path)
    image_processor_for(model.config).save_pretrained(tmp_path)
    assert "auto_map" not in (tmp_path / "config.json").read_text()
    loaded = AutoModelForDepthEstimation.from_pretrained(tmp_path, trust_remote_code=False, use_safetensors=True)
    assert type(loaded) is model_class
    predictor = DepthPredictor.from_pretrained(tmp_path)
    assert all(torch.equal(predictor.model.state_dict()[k], v) for k, v in model.state_dict().items())


def test_app_binds_loopback_by_default() -> None:
    assert not app.parse_args([]).allow_local_paths
    assert server_address(None, None, environ={}) == ("127.0.0.1", 7860)  # without GRADIO_SERVER_NAME/PORT
    assert inspect.signature(layout.launch).parameters["host"].default == "127.0.0.1"


@pytest.fixture
def registry_roots(tmp_path):
    """A registry serving served/a; served/b sits beside it, outside/c does not; `loads` records what was loaded."""
    save_baseline(tmp_path / "served" / "a", 0)
    save_baseline(tmp_path / "served" / "b", 1)
    save_baseline(tmp_path / "outside" / "c", 2)
    (tmp_path / "served" / "link").symlink_to(tmp_path / "outside" / "c")
    loads = []

    def loader(source: ModelSource):
        loads.append(source)
        return DepthPredictor.from_pretrained(source.location)

    def make(allow_local_paths: bool = False) -> ModelRegistry:
        sources = discover_sources([str(tmp_path / "served" / "a")], None)
        return ModelRegistry(sources, loader=loader, allow_local_paths=allow_local_paths)

    return tmp_path, make, loads


def test_typed_local_paths_load_only_beside_the_served_checkpoints(registry_roots, monkeypatch) -> None:
    root, make, loads = registry_roots
    registry = make()
    assert registry.local_roots == [str(root / "served")]
    assert registry.add(str(root / "served" / "b")) == "b"
    refused = "the page loads local checkpoints only from the folders the app serves"
    for location in [root / "outside" / "c", root / "served" / "link", root / "served" / ".." / "outside" / "c"]:
        with pytest.raises(ValueError, match=refused):
            registry.add(str(location))
    monkeypatch.chdir(root / "served")
    for location in ["../outside/c", "/etc", "~", "../../../../etc", "a/../../outside/c"]:
        with pytest.raises(ValueError, match=refused):
            registry.add(location)
    assert [source.name for source in loads] == ["b"]  # nothing outside was even opened
    assert make(allow_local_paths=True).add(str(root / "outside" / "c")) == "c"


BAD_IDS = ["user/../../x", "user/name/extra", "--x/y", "a..b/c", "user/x y", "..\\x\\y", "C:\\x"]


@pytest.mark.parametrize("model_id", BAD_IDS)
def test_model_ids_cannot_name_paths(model_id, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    registry = ModelRegistry(discover_sources(None, None), loader=lambda source: pytest.fail(f"loaded {source}"))
    with pytest.raises(ValueError, match="(nor a valid Hub model id|folders the app serves)"):
        registry.add(model_id)


def test_online_app_refuses_too_large_hub_models_before_downloading(local_hub, tmp_path) -> None:
    checkpoint = save_baseline(tmp_path / "model", 0)
    HfApi().create_repo("user/depth")
    HfApi().upload_folder(repo_id="user/depth", folder_path=str(checkpoint))
    weights = sum(t.numel() * t.element_size() for t in load_file(checkpoint / "model.safetensors").values())
    assert hub_weights_bytes("user/depth") == weights

    small = ModelRegistry(discover_sources(None, None), max_bytes=weights - 1)
    with pytest.raises(ValueError, match=r"^user/depth needs 0\.1 MiB for its weights \(by the Hub's metadata; nothing "
                       r"was downloaded\), more than the app's model memory bound of 0\.1 MiB \(--max-model-memory\)$"):
        small.add("user/depth")
    assert list(Path(hub_constants.HF_HUB_CACHE).rglob("*.safetensors")) == []
    served = ModelRegistry(discover_sources(["user/depth"], None), max_bytes=weights - 1)  # --models ids too
    with pytest.raises(ValueError, match="nothing was downloaded"):
        served.get("user/depth")
    with pytest.raises(ValueError, match="'user/missing': user/missing has no readable safetensors weights"):
        small.add("user/missing")
    local_hub.fail("HEAD", "/user/depth/resolve/main/model.safetensors", 500, times=None)
    with pytest.raises(ValueError, match=r"^cannot load 'user/depth': cannot read the size of user/depth's weights "
                       r"from the Hub: Server error '500 Internal Server Error' for url 'http://127\.0\.0\.1:\d+/"):
        ModelRegistry(discover_sources(None, None), max_bytes=weights).add("user/depth")
    local_hub.faults.clear()
    assert ModelRegistry(discover_sources(None, None), max_bytes=weights).add("user/depth") == "user/depth"


def test_online_models_list_the_hub_ids_visitors_may_type(tmp_path, monkeypatch) -> None:
    assert parse_online_models("user/a, user/b,") == {"user/a", "user/b"} and parse_online_models(None) is None
    with pytest.raises(ValueError, match="nor a valid Hub model id"):
        parse_online_models("user/a,../x")
    assert app.parse_args(["--online-models", "user/a,user/b"]).online_models == "user/a,user/b"
    monkeypatch.chdir(tmp_path)
    loaded = []
    registry = ModelRegistry(discover_sources(None, None), loader=loaded.append, online_models=frozenset({"user/a"}))
    with pytest.raises(ValueError, match=r"^user/b: this app loads only the Hub models it was started with "
                       r"\(--online-models: user/a\)$"):
        registry.add("user/b")
    none = ModelRegistry(discover_sources(None, None), loader=loaded.append, online_models=parse_online_models(""))
    with pytest.raises(ValueError, match=r"\(--online-models: none\)$"):
        none.add("user/a")
    assert loaded == []


def test_hub_token_never_reaches_training_files_or_logs(tmp_path, monkeypatch, capfd) -> None:
    secret = "hf_" + "S3cretT0ken" * 3
    monkeypatch.delenv("HF_TOKEN", raising=False)
    argv = ["--model_type", "mde_baseline", "--config_preset", "tiny", "--config_overrides", '{"image_size": 32}',
            "--dataset", "synthetic", "--synthetic_size", "4", "--synthetic_eval_size", "2", "--synthetic_height", "32",
            "--synthetic_width", "32", "--output_dir", str(tmp_path), "--dataloader_num_workers", "0", "--disable_tqdm",
            "true", "--use_cpu", "true", "--max_steps", "2", "--save_steps", "1", "--eval_strategy", "no",
            "--report_to", "none", "--hub_token", secret]
    run_training(parse_arguments(argv), "train.py --hub_token <TOKEN>")
    assert os.environ["HF_TOKEN"] == secret  # huggingface_hub still finds it for push_to_hub
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.name == "training_args.bin" for path in files)
    assert [path for path in files if secret.encode() in path.read_bytes()] == []
    captured = capfd.readouterr()
    assert secret not in captured.out + captured.err


def test_push_errors_do_not_echo_the_token(local_hub, tmp_path, monkeypatch, capsys) -> None:
    checkpoint = save_baseline(tmp_path / "model", 0)
    secret = "hf_" + "unknownT0ken" * 3
    monkeypatch.setenv("HF_TOKEN", secret)  # a token the Hub does not know: 401
    assert cli.main(["push", str(checkpoint), f"{local_hub.user}/model"]) == 2
    err = capsys.readouterr().err
    assert "mde-hub: error: " in err and "HTTP 401" in err and secret not in err
    monkeypatch.setenv("HF_TOKEN", local_hub.token)
    assert cli.main(["push", str(checkpoint), "someone-else/model"]) == 2  # 403: another namespace
    err = capsys.readouterr().err
    assert "the Hub refused to let this token write to someone-else/model" in err and local_hub.token not in err
