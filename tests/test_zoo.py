"""The model zoo and `mde-hub convert`: writing converted checkpoints, downloads (redirects, resume, checksum, errors)
against a local HTTP server on 127.0.0.1, `zoo fetch` end to end, the zoo table, and the app's --online zoo models."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shlex
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from app_helpers import save_hf_dpt
from huggingface_hub import ModelCard
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import AutoImageProcessor, AutoModelForDepthEstimation, pipeline
from zoo_server import zoo_server  # noqa: F401 - the fixture

import mde_hub
from mde_hub import BaselineConfig, BaselineForDepthEstimation
from mde_hub.app.registry import ModelRegistry, ModelSource, discover_sources, load_predictor, zoo_sources
from mde_hub.cli import build_parser, main
from mde_hub.evaluation.evaluate import file_sha256
from mde_hub.evaluation.protocols import PROTOCOLS
from mde_hub.models.conversion import CONVERTERS, ConversionResult, convert_checkpoint
from mde_hub.outputs.conversion import write_converted_checkpoint
from mde_hub.outputs.hub import checkpoint_files
from mde_hub.zoo import ZOO, ZOO_MODELS, DownloadError, ZooEvaluation, ZooModel, fetch_zoo_model
from mde_hub.zoo.download import download

FAKE_FORMAT = "fake-safetensors"


def file_sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_converter(path, **options) -> ConversionResult:
    """A released format of the tests: a tiny Baseline's state dict in safetensors, plus an optimizer counter."""
    tensors = load_file(path)
    weights = {key: value for key, value in tensors.items() if not key.startswith("optimizer.")}
    with torch.device("meta"):
        model = BaselineForDepthEstimation(BaselineConfig.tiny(image_size=32, **options))
    model.load_state_dict(weights, strict=True, assign=True)
    skipped = [f"{key} (optimizer step counter)" for key in tensors if key.startswith("optimizer.")]
    return ConversionResult(model, source=f"the tests' fake release {Path(path).name}", skipped=skipped,
                            notes=["built by the tests' fake converter"])


def write_fake_release(path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    state = BaselineForDepthEstimation(BaselineConfig.tiny(image_size=32)).state_dict()
    save_file({**state, "optimizer.step": torch.tensor([1200])}, path)
    return path


@pytest.fixture
def fake_format(monkeypatch) -> str:
    monkeypatch.setitem(CONVERTERS, FAKE_FORMAT, f"{__name__}:fake_converter")
    return FAKE_FORMAT


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("MDE_HUB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def files(folder: Path) -> list[str]:
    """The files in `folder`, without the download lock files."""
    return sorted(p.name for p in folder.iterdir() if p.suffix != ".lock")


def image(height: int = 40, width: int = 52) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8))


def predict(folder: Path, picture: Image.Image) -> torch.Tensor:
    processor = AutoImageProcessor.from_pretrained(folder)
    model = AutoModelForDepthEstimation.from_pretrained(folder).eval()
    with torch.no_grad():
        return model(**processor(images=picture, return_tensors="pt")).predicted_depth


# Writing a converted checkpoint


def test_converted_dpt_transformers_folder_loads_with_auto_classes_and_pipeline(tmp_path) -> None:
    source = save_hf_dpt(tmp_path / "hf-dpt")
    result = convert_checkpoint("dpt-transformers", source)
    output = write_converted_checkpoint(result, tmp_path / "converted", format="dpt-transformers", source_file=source)
    assert sorted(p.name for p in output.iterdir()) == [
        "README.md", "config.json", "conversion_record.json", "model.safetensors", "preprocessor_config.json",
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left
    picture = image()
    inputs = mde_hub.image_processor_for(result.model.config)(images=picture, return_tensors="pt")
    with torch.no_grad():
        expected = result.model(**inputs).predicted_depth
    reloaded = AutoModelForDepthEstimation.from_pretrained(output).state_dict()
    assert all(torch.equal(reloaded[name], weight) for name, weight in result.model.state_dict().items())
    torch.testing.assert_close(predict(output, picture), expected)  # kernels may differ by an ulp (Intel vs AMD)
    depth = pipeline("depth-estimation", model=str(output))(picture)["predicted_depth"]
    assert tuple(depth.shape) == (40, 52) and torch.isfinite(depth).all()
    record = json.loads((output / "conversion_record.json").read_text())
    assert record["format"] == "dpt-transformers" and record["source_file"]["name"] == "hf-dpt"
    card = ModelCard.load(output / "README.md")
    assert card.data.license == "other" and card.data.pipeline_tag == "depth-estimation"
    assert "converted from released weights" in card.text and "unused skip unit" in card.text
    assert f"# {output.name}" in card.text and f'"{output}"' in card.text  # named and used by its final path


def test_card_states_source_file_checksum_skipped_entries_and_notes(tmp_path, fake_format) -> None:
    release = write_fake_release(tmp_path / "release.safetensors")
    result = convert_checkpoint(fake_format, release)
    output = write_converted_checkpoint(result, tmp_path / "out", format=fake_format, source_file=release,
                                        license="gpl-3.0", origin={"name": "tiny", "url": "http://example/x"})
    text = (output / "README.md").read_text()
    assert "`release.safetensors`" in text and file_sha256(str(release)) in text
    assert "optimizer.step (optimizer step counter)" in text and "built by the tests' fake converter" in text
    assert "zoo entry `tiny`" in text and "http://example/x" in text and "Licence of the weights: gpl-3.0" in text
    assert ModelCard.load(output / "README.md").data.license == "gpl-3.0"
    # `mde-hub card` on the converted checkpoint keeps the conversion and its licence
    assert main(["card", str(output)]) == 0
    card = ModelCard.load(output / "README.md")
    assert card.data.license == "gpl-3.0" and "optimizer.step" in card.text
    assert "conversion_record.json" in checkpoint_files(output)  # `mde-hub push` uploads the record


def test_a_non_empty_output_is_refused_unless_forced_and_replaced_whole(tmp_path, fake_format) -> None:
    release = write_fake_release(tmp_path / "release.safetensors")
    result = convert_checkpoint(fake_format, release)
    output = tmp_path / "out"
    output.mkdir()  # an empty folder is fine
    write_converted_checkpoint(result, output, format=fake_format)
    (output / "stale.txt").write_text("from before")
    with pytest.raises(ValueError, match="exists and is not empty.*--force"):
        write_converted_checkpoint(result, output, format=fake_format)
    assert (output / "stale.txt").exists()
    write_converted_checkpoint(result, output, format=fake_format, force=True)
    assert not (output / "stale.txt").exists() and (output / "model.safetensors").exists()
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        write_converted_checkpoint(result, tmp_path / "a-file", format=fake_format, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "out", "release.safetensors"]


def test_a_failed_write_leaves_neither_output_nor_temporary_folder(tmp_path, fake_format, monkeypatch) -> None:
    result = convert_checkpoint(fake_format, write_fake_release(tmp_path / "release.safetensors"))

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("mde_hub.outputs.conversion.write_model_card", broken)
    with pytest.raises(OSError, match="disk full"):
        write_converted_checkpoint(result, tmp_path / "out", format=fake_format)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release.safetensors"]


def test_a_foreign_model_without_its_processor_is_refused(tmp_path) -> None:
    import transformers
    from app_helpers import TINY_HF_DPT

    result = ConversionResult(transformers.DPTForDepthEstimation(transformers.DPTConfig(**TINY_HF_DPT)), source="transformers' own DPT")
    with pytest.raises(ValueError, match="image processor"):
        write_converted_checkpoint(result, tmp_path / "out")


def test_cli_convert_refuses_a_non_empty_output_and_passes_options(tmp_path, fake_format, capsys) -> None:
    release = write_fake_release(tmp_path / "release.safetensors")
    output = tmp_path / "out"
    assert main(["convert", fake_format, str(release), "--output", str(output), "--option", "max_depth=20"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {output}" in printed and "skipped (not a model weight): optimizer.step" in printed
    assert json.loads((output / "config.json").read_text())["max_depth"] == 20
    assert main(["convert", fake_format, str(release), "--output", str(output)]) == 2
    assert "exists and is not empty: refusing to overwrite it (--force replaces it)" in capsys.readouterr().err
    assert main(["convert", fake_format, str(release), "--output", str(output), "--force"]) == 0
    assert json.loads((output / "config.json").read_text())["max_depth"] == 10
    assert main(["convert", fake_format, str(release), "--output", str(tmp_path / "o2"), "--option", "bad"]) == 2
    assert main(["convert", "no-such-format", str(release), "--output", str(tmp_path / "o3")]) == 2
    assert "unknown conversion format 'no-such-format'; choose one of " in capsys.readouterr().err
    assert not (tmp_path / "o3").exists()


# Downloads against the local server


def test_download_follows_redirects_checks_the_prefix_and_shows_progress(tmp_path, zoo_server) -> None:
    data = bytes(range(256)) * 4000
    zoo_server.files["weights.pt"] = data
    progress = io.StringIO()
    sha = file_sha256_of(data)
    path = download(f"{zoo_server.url}/redirect/4/weights.pt", tmp_path / "weights.pt", sha256_prefix=sha[:8],
                    progress=progress)
    assert path.read_bytes() == data and files(tmp_path) == ["weights.pt"]
    assert [p for p, _ in zoo_server.requests] == [
        "/redirect/4/weights.pt", "/redirect/3/weights.pt", "/redirect/2/weights.pt", "/redirect/1/weights.pt",
        "/files/weights.pt",
    ]
    assert "weights.pt: 100% (1.0 of 1.0 MB)" in progress.getvalue()
    download(f"{zoo_server.url}/files/weights.pt", path, sha256=sha, progress=None)  # cached: no request
    assert len(zoo_server.requests) == 5


def test_a_dropped_connection_resumes_with_a_range_request(tmp_path, zoo_server) -> None:
    data = np.random.default_rng(0).bytes(3 << 20)
    zoo_server.files["big.bin"] = data
    progress = io.StringIO()
    path = download(f"{zoo_server.url}/drop/2/big.bin", tmp_path / "big.bin", sha256=file_sha256_of(data),
                    retry_delay=0, progress=progress)
    assert path.read_bytes() == data
    ranges = [header for _, header in zoo_server.requests]
    assert ranges[0] is None and ranges[1] == f"bytes={len(data) // 2}-"
    assert ranges[2] == f"bytes={len(data) // 2 + (len(data) - len(data) // 2) // 2}-"
    assert "retrying from byte 1,572,864 (1 of 5)" in progress.getvalue()


def test_a_server_that_ignores_range_starts_the_file_over(tmp_path, zoo_server) -> None:
    data = np.random.default_rng(1).bytes(1 << 20)
    zoo_server.files["f.bin"] = data
    path = download(f"{zoo_server.url}/norange/1/f.bin", tmp_path / "f.bin", sha256=file_sha256_of(data),
                    retry_delay=0, progress=None)
    assert path.read_bytes() == data and zoo_server.requests[1][1] is not None


def test_giving_up_keeps_the_part_and_a_later_call_resumes(tmp_path, zoo_server) -> None:
    data = np.random.default_rng(2).bytes(1 << 20)
    zoo_server.files["g.bin"] = data
    url = f"{zoo_server.url}/drop/2/g.bin"
    with pytest.raises(DownloadError, match=rf"{url}: connection .*gave up after 1 retries .*fetching again resumes"):
        download(url, tmp_path / "g.bin", retries=1, retry_delay=0, progress=None)
    assert (tmp_path / "g.bin.part").stat().st_size == len(data) // 2 + len(data) // 4
    download(url, tmp_path / "g.bin", sha256=file_sha256_of(data), progress=None)
    assert (tmp_path / "g.bin").read_bytes() == data and zoo_server.requests[-1][1] == "bytes=786432-"


def test_a_wrong_checksum_deletes_the_file_and_names_the_url(tmp_path, zoo_server) -> None:
    zoo_server.files["w.pt"] = b"not the published weights"
    url = f"{zoo_server.url}/files/w.pt"
    with pytest.raises(DownloadError, match=rf"{url}: wrong checksum: its sha256 is .* not start with the published "
                       r"501f0c75; the downloaded file was deleted"):
        download(url, tmp_path / "w.pt", sha256_prefix="501f0c75", progress=None)
    assert files(tmp_path) == []


def test_a_404_and_a_web_page_stop_at_once(tmp_path, zoo_server) -> None:
    url = f"{zoo_server.url}/files/missing.pt"
    with pytest.raises(DownloadError, match=rf"{url}: HTTP 404 Not Found"):
        download(url, tmp_path / "missing.pt", retry_delay=0, progress=None)
    assert len(zoo_server.requests) == 1  # not retried
    zoo_server.files["page.pt"] = b"x"
    with pytest.raises(DownloadError, match=r"answered with a web page \(text/html.*\), not the file.*; use --file"):
        download(f"{zoo_server.url}/html/page.pt", tmp_path / "page.pt", page_hint="use --file", progress=None)
    with pytest.raises(DownloadError, match=r"redirected to .*/files/gone.pt"):
        download(f"{zoo_server.url}/redirect/1/gone.pt", tmp_path / "gone.pt", progress=None)
    assert files(tmp_path) == []


def test_a_complete_part_is_not_downloaded_again(tmp_path, zoo_server) -> None:
    data = b"weights" * 1000
    zoo_server.files["p.pt"] = data
    (tmp_path / "p.pt.part").write_bytes(data)  # a run that stopped before its rename
    download(f"{zoo_server.url}/files/p.pt", tmp_path / "p.pt", sha256=file_sha256_of(data), progress=None)
    assert (tmp_path / "p.pt").read_bytes() == data and zoo_server.requests == [("/files/p.pt", "bytes=7000-")]
    (tmp_path / "q.pt.part").write_bytes(data + b"more than the file")  # a part that cannot be resumed
    zoo_server.files["q.pt"] = data
    download(f"{zoo_server.url}/files/q.pt", tmp_path / "q.pt", retry_delay=0, progress=None)
    assert (tmp_path / "q.pt").read_bytes() == data and files(tmp_path) == ["p.pt", "q.pt"]


def test_a_damaged_cached_file_is_fetched_again(tmp_path, zoo_server) -> None:
    zoo_server.files["c.pt"] = b"good weights"
    (tmp_path / "c.pt").write_bytes(b"damaged")
    download(f"{zoo_server.url}/files/c.pt", tmp_path / "c.pt", sha256=file_sha256_of(b"good weights"), progress=None)
    assert (tmp_path / "c.pt").read_bytes() == b"good weights"


# zoo fetch end to end


def tiny_entry(name: str, url: str | None, format: str, **fields) -> ZooModel:
    return ZooModel(
        name=name, architecture="mde_baseline", variant="tiny", paper="the tests", trained_on="nothing",
        format=format, file_name=fields.pop("file_name", f"{name}.bin"), url=url, page=fields.pop("page", url or "a page"),
        reference="tests/test_zoo.py", license="mit", license_note="test weights", download_note="local server",
        evaluations=(ZooEvaluation("nyu_depth_v2", "nyu_eigen"),), published_variant=None, **fields,
    )


@pytest.fixture
def tiny_dpt_zip(tmp_path) -> bytes:
    folder = save_hf_dpt(tmp_path / "zip-src" / "tiny-dpt")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "the tests' release archive")
        for file in sorted(folder.iterdir()):
            archive.write(file, f"tiny-dpt/{file.name}")
    return buffer.getvalue()


def test_zoo_fetch_downloads_unpacks_converts_and_writes_a_ready_checkpoint(
    tmp_path, cache, zoo_server, tiny_dpt_zip, monkeypatch, capsys
) -> None:
    zoo_server.files["tiny-dpt.zip"] = tiny_dpt_zip
    entry = tiny_entry("tiny-dpt", f"{zoo_server.url}/redirect/2/tiny-dpt.zip", "dpt-transformers",
                       file_name="tiny-dpt.zip", member="tiny-dpt", sha256=file_sha256_of(tiny_dpt_zip))
    monkeypatch.setitem(ZOO, entry.name, entry)
    output = tmp_path / "zoo" / "tiny-dpt"
    assert main(["zoo", "fetch", "tiny-dpt", "--output", str(output)]) == 0
    printed = capsys.readouterr()
    assert f"wrote {output}" in printed.out and "tiny-dpt.zip: 100%" in printed.err
    assert f"mde-hub evaluate --model {output} --dataset nyu_depth_v2_labeled.mat" in printed.out
    depth = pipeline("depth-estimation", model=str(output))(image())["predicted_depth"]
    assert torch.isfinite(depth).all()
    record = json.loads((output / "conversion_record.json").read_text())
    assert record["origin"]["url"] == entry.url and record["source_file"]["sha256"] == entry.sha256
    card = (output / "README.md").read_text()
    assert record["license"] == "mit" and "tiny-dpt.zip" in card and "Licence of the weights: mit (test weights)" in card
    assert (cache / "downloads" / "tiny-dpt.zip").read_bytes() == tiny_dpt_zip
    requests = len(zoo_server.requests)
    assert main(["zoo", "fetch", "tiny-dpt", "--output", str(output)]) == 0  # already there: nothing fetched
    assert "already holds tiny-dpt" in capsys.readouterr().out and len(zoo_server.requests) == requests
    (output / "extra").write_text("x")
    assert main(["zoo", "fetch", "tiny-dpt", "--output", str(tmp_path / "zoo")]) == 2  # another non-empty folder
    assert "not empty" in capsys.readouterr().err
    assert main(["zoo", "fetch", "tiny-dpt", "--output", str(output), "--force"]) == 0
    assert not (output / "extra").exists() and len(zoo_server.requests) == requests  # the cached download is reused
    (cache / "downloads" / "tiny-dpt.zip").unlink()
    capsys.readouterr()
    assert main(["zoo", "fetch", "tiny-dpt", "--output", str(output), "--force", "--quiet"]) == 0
    printed = capsys.readouterr()  # downloaded again, without a word on stderr
    assert printed.err == "" and f"wrote {output}" in printed.out and len(zoo_server.requests) > requests


def test_zoo_fetch_to_the_cache_is_listed_and_resumes_a_dropped_download(cache, zoo_server, fake_format,
                                                                        tmp_path, monkeypatch, capsys) -> None:
    data = write_fake_release(tmp_path / "fake.safetensors").read_bytes()
    zoo_server.files["fake.safetensors"] = data
    entry = tiny_entry("tiny-fake", f"{zoo_server.url}/drop/1/fake.safetensors", fake_format,
                       file_name="fake.safetensors", sha256_prefix=file_sha256_of(data)[:8])
    monkeypatch.setitem(ZOO, entry.name, entry)
    monkeypatch.setattr("mde_hub.zoo.download.time.sleep", lambda seconds: None)
    assert main(["zoo", "list"]) == 0
    assert re.search(r"tiny-fake .* fake-safetensors +mit +direct +no\n", capsys.readouterr().out)
    path = fetch_zoo_model("tiny-fake", progress=None)
    assert path == cache / "zoo" / "tiny-fake" and zoo_server.requests[1][1] is not None
    assert main(["zoo", "list"]) == 0
    assert re.search(rf"tiny-fake .* direct +{re.escape(str(path))}\n", capsys.readouterr().out)


def test_zoo_fetch_errors_name_the_url_and_leave_no_checkpoint(cache, zoo_server, fake_format, tmp_path,
                                                               monkeypatch, capsys) -> None:
    zoo_server.files["fake.safetensors"] = write_fake_release(tmp_path / "fake.safetensors").read_bytes()
    wrong = tiny_entry("wrong-sum", f"{zoo_server.url}/files/fake.safetensors", fake_format,
                       file_name="fake.safetensors", sha256_prefix="00000000")
    missing = tiny_entry("gone", f"{zoo_server.url}/files/gone.safetensors", fake_format)
    for entry in (wrong, missing):
        monkeypatch.setitem(ZOO, entry.name, entry)
    assert main(["zoo", "fetch", "wrong-sum"]) == 2
    assert f"{wrong.url}: wrong checksum" in capsys.readouterr().err
    assert main(["zoo", "fetch", "gone"]) == 2
    assert f"{missing.url}: HTTP 404 Not Found" in capsys.readouterr().err
    assert not (cache / "zoo").exists() and files(cache / "downloads") == []
    assert main(["zoo", "fetch", "no-such-model"]) == 2
    assert "no zoo model 'no-such-model'; the zoo has densedepth-nyu" in capsys.readouterr().err


def test_a_manual_download_is_named_and_taken_with_file(cache, fake_format, tmp_path, monkeypatch, capsys) -> None:
    release = write_fake_release(tmp_path / "downloaded by hand.safetensors")
    entry = tiny_entry("by-hand", None, fake_format, file_name="fake.safetensors", page="https://drive.example/folder",
                       sha256_prefix=file_sha256(str(release))[:8])
    monkeypatch.setitem(ZOO, entry.name, entry)
    assert main(["zoo", "fetch", "by-hand"]) == 2
    assert ("download fake.safetensors in a browser from https://drive.example/folder and run `mde-hub zoo fetch "
            "by-hand --file PATH`") in capsys.readouterr().err
    other = write_fake_release(tmp_path / "other.safetensors", seed=1)
    assert main(["zoo", "fetch", "by-hand", "--file", str(other)]) == 2
    assert "is not fake.safetensors of by-hand: its sha256 is" in capsys.readouterr().err
    assert main(["zoo", "fetch", "by-hand", "--file", str(release)]) == 0
    assert (cache / "downloads" / "fake.safetensors").read_bytes() == release.read_bytes()  # under its released name
    assert (cache / "zoo" / "by-hand" / "model.safetensors").exists()


# The table


def test_the_table_has_the_ten_released_files_and_invents_no_checksum() -> None:
    assert [entry.file_name for entry in ZOO_MODELS] == [
        "nyu.h5", "kitti.h5", "bts_nyu_v2_pytorch_densenet161.zip", "bts_eigen_v2_pytorch_densenet161.zip",
        "AdaBins_nyu.pt", "AdaBins_kitti.pt", "dpt_hybrid-midas-501f0c75.pt", "dpt_large-midas-2f21e586.pt",
        "dpt_hybrid_nyu-2ce69ec7.pt", "dpt_hybrid_kitti-cb926ef4.pt",
    ]
    for entry in ZOO_MODELS:
        assert entry.sha256 is None  # no author publishes a whole sha256
        if entry.format == "dpt-isl":  # DPT's names carry the first 8 hex digits of the sha256
            assert entry.url.endswith(entry.file_name) and entry.sha256_prefix == entry.file_name[-11:-3]
        else:
            assert entry.sha256_prefix is None
        assert entry.architecture in mde_hub.MODEL_CLASSES and entry.license in ("mit", "gpl-3.0")
        assert (entry.url is None) == (entry.format == "adabins")  # a Drive folder only: a manual step
    assert {entry.format for entry in ZOO_MODELS} == {"densedepth-keras", "bts", "adabins", "dpt-isl"}


def test_each_model_names_its_papers_protocol_and_published_numbers() -> None:
    for entry in ZOO_MODELS:
        for evaluation in entry.evaluations:
            assert evaluation.protocol in PROTOCOLS
            assert evaluation.flip_tta == (entry.architecture == "mde_adabins")  # AdaBins always flip-averages
            assert (evaluation.align != "none") == (entry.published_variant is None)  # relative DPTs are aligned
        rows = entry.published()
        if entry.published_variant is not None:
            assert {row.dataset for row in rows} == {e.dataset for e in entry.evaluations}, entry.name
            assert all(row.model == entry.architecture for row in rows)


def test_the_evaluate_commands_parse() -> None:
    for entry in ZOO_MODELS:
        for command in entry.evaluate_commands():
            args = build_parser().parse_args(shlex.split(command)[1:])
            assert args.protocol in PROTOCOLS and args.model == f"zoo/{entry.name}"


# The app


def test_the_app_lists_zoo_models_only_online_and_fetches_one_on_first_use(cache, zoo_server, fake_format, tmp_path,
                                                                           monkeypatch) -> None:
    data = write_fake_release(tmp_path / "fake.safetensors").read_bytes()
    zoo_server.files["fake.safetensors"] = data
    entry = tiny_entry("tiny-fake", f"{zoo_server.url}/files/fake.safetensors", fake_format,
                       file_name="fake.safetensors")
    manual = tiny_entry("tiny-manual", None, fake_format)
    monkeypatch.setattr("mde_hub.zoo.table.ZOO", {entry.name: entry, manual.name: manual})
    monkeypatch.setattr("mde_hub.zoo.ZOO", {entry.name: entry, manual.name: manual})
    offline = discover_sources(None, None)
    assert [source.kind for source in offline] == ["untrained"]  # default: no zoo, no network
    sources = zoo_sources(offline)
    assert [(s.name, s.kind) for s in sources] == [("tiny-fake", "zoo")]  # the manual one is not fetched yet
    registry = ModelRegistry(sources, loader=load_predictor)
    assert zoo_server.requests == []
    predictor = registry.get("tiny-fake")
    assert len(zoo_server.requests) == 1 and (cache / "zoo" / "tiny-fake" / "config.json").is_file()
    assert predictor.name == "tiny-fake" and np.isfinite(predictor.predict(image()).depth).all()
    with pytest.raises(ValueError, match="cannot fetch gone from the model zoo: no zoo model 'gone'"):
        load_predictor(ModelSource("gone", "gone", "zoo"))
