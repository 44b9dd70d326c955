"""DepthImageProcessor: every common image kind in, the right tensor out; depth maps and post-processing."""

from __future__ import annotations

import io

import numpy as np
import PIL.Image
import pytest
import torch
from app_helpers import save_baseline, save_hf_dpt
from transformers import pipeline

from mde_hub import DepthImageProcessor, DptConfig, image_processor_for
from mde_hub.data.images import load_image, to_rgb_tensor
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.processing.image_processing_depth import resize_maps

NO_RESIZE = dict(do_resize=False, do_normalize=False)


def test_rgba_grayscale_palette_cmyk_become_rgb() -> None:
    rgba = PIL.Image.new("RGBA", (4, 3), (255, 0, 0, 10))
    assert torch.equal(to_rgb_tensor(rgba)[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))  # alpha dropped, colour kept
    gray = PIL.Image.new("L", (4, 3), 51)
    assert torch.allclose(to_rgb_tensor(gray), torch.full((3, 3, 4), 0.2))
    palette = PIL.Image.new("P", (4, 3))
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.putpixel((1, 1), 1)
    rgb = to_rgb_tensor(palette)
    assert rgb[:, 1, 1].tolist() == [0.0, 1.0, 0.0] and rgb[:, 0, 0].tolist() == [0.0, 0.0, 0.0]
    cmyk = PIL.Image.new("CMYK", (4, 3), (0, 255, 255, 0))  # pure red in CMYK
    assert torch.allclose(to_rgb_tensor(cmyk)[:, 0, 0], torch.tensor([1.0, 0.0, 0.0]))


def test_sixteen_bit_images_use_their_full_range() -> None:
    array = np.array([[0, 65535], [32768, 13107]], dtype=np.uint16)
    image = PIL.Image.fromarray(array)
    assert image.mode.startswith("I;16")
    expected = torch.tensor([[0, 255], [128, 51]], dtype=torch.float32) / 255  # value / 257, rounded, as 8 bits
    for source in (image, array):
        rgb = to_rgb_tensor(source)
        assert rgb.shape == (3, 2, 2)
        torch.testing.assert_close(rgb[0], expected)


def test_exif_orientation_is_applied(tmp_path) -> None:
    image = PIL.Image.new("RGB", (20, 10), (0, 0, 0))
    image.paste((255, 255, 255), (0, 0, 5, 10))  # white band on the left
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=100)
    loaded = load_image(path)
    assert loaded.size == (10, 20)
    rgb = DepthImageProcessor(**NO_RESIZE)(loaded)["pixel_values"][0]
    assert rgb.shape == (3, 20, 10)
    assert rgb[:, :2, :].mean() > 0.9 and rgb[:, -2:, :].mean() < 0.1  # the band is now on top
    assert PIL.Image.open(path).size == (20, 10)  # the raw file really is stored sideways


def test_array_layouts_and_bad_values() -> None:
    hwc = np.random.default_rng(0).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    chw = np.moveaxis(hwc, -1, 0)
    torch.testing.assert_close(to_rgb_tensor(hwc), to_rgb_tensor(chw))
    torch.testing.assert_close(to_rgb_tensor(torch.from_numpy(hwc)), to_rgb_tensor(hwc))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_rgb_tensor(np.full((4, 4, 3), 200.0, dtype=np.float32))
    with pytest.raises(ValueError, match="NaN"):
        to_rgb_tensor(np.full((4, 4, 3), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        to_rgb_tensor(np.zeros((2, 4, 4, 3), dtype=np.uint8))
    with pytest.raises(TypeError, match="str"):
        to_rgb_tensor("image.png")


def test_unreadable_files_name_the_file(tmp_path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="notes.png"):
        load_image(text)
    truncated = tmp_path / "cut.png"
    buffer = io.BytesIO()
    PIL.Image.new("RGB", (64, 64), (10, 20, 30)).save(buffer, format="PNG")
    truncated.write_bytes(buffer.getvalue()[:60])
    with pytest.raises(ValueError, match="cut.png"):
        load_image(truncated)
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_image(tmp_path / "missing.png")


def test_fixed_resize_and_normalisation() -> None:
    processor = DepthImageProcessor(size={"height": 32, "width": 48}, image_mean=[0.5] * 3, image_std=[0.25] * 3)
    white = PIL.Image.new("RGB", (100, 70), (255, 255, 255))
    pixels = processor(white)["pixel_values"]
    assert pixels.shape == (1, 3, 32, 48)
    torch.testing.assert_close(pixels, torch.full_like(pixels, 2.0))  # (1 - 0.5) / 0.25


def test_keep_aspect_ratio_with_multiple_constraint() -> None:
    # DPT-style "minimal" resize: 480x640 towards 384x384 scales by 0.8 (closer to 1 than 0.6) -> 384x512.
    processor = DepthImageProcessor(size={"height": 384, "width": 384}, keep_aspect_ratio=True, ensure_multiple_of=32)
    assert processor.output_size(480, 640) == (384, 512)
    # 375x1242 scales by 384/375 = 1.024 -> 384x1271.8 -> nearest multiples of 32: 384x1280.
    assert processor.output_size(375, 1242) == (384, 1280)
    assert DepthImageProcessor(do_resize=False, ensure_multiple_of=32).output_size(481, 650) == (480, 640)


def test_the_aspect_preserving_resize_of_a_thin_strip_is_capped_at_max_output_pixels() -> None:
    """DPT's minimal resize keeps the scale closer to 1: a 128x61200 strip towards 128x128 would be 128x61184, a
    ViT input of 30,592 tokens; the bound (4 x 128 x 128 pixels) keeps it at 32x2048, the aspect ratio as close as
    multiples of 32 allow. Images within the bound keep the released sizes."""
    processor = image_processor_for(DptConfig.tiny(position_embedding_size=128))
    assert processor.output_pixel_bound() == 4 * 128 * 128
    assert processor.output_size(128, 61200) == (32, 2048)
    assert processor.output_size(61200, 128) == (2048, 32)
    assert processor.output_size(480, 640) == (128, 160) and processor.output_size(128, 512) == (128, 512)
    assert processor(np.zeros((128, 20000, 3), np.uint8))["pixel_values"].shape == (1, 3, 32, 2048)
    # the short side already at its minimum (32): only the long one is shortened, to 65536 / 32 pixels
    assert DepthImageProcessor(size={"height": 64, "width": 64}, keep_aspect_ratio=True, ensure_multiple_of=32,
                               max_output_pixels=65536).output_size(40, 100000) == (32, 2048)
    large = DepthImageProcessor(size={"height": 384, "width": 384}, keep_aspect_ratio=True, ensure_multiple_of=32)
    assert large.output_size(300, 61200) == (32, 10944)  # not 384x78336 (30 MP)
    assert large.output_size(375, 1242) == (384, 1280) and large.output_size(1000, 4000) == (384, 1536)


def test_without_resizing_an_image_above_max_output_pixels_is_refused() -> None:
    processor = DepthImageProcessor(do_resize=False, size={"height": 32, "width": 32}, max_output_pixels=10_000)
    assert processor(np.zeros((100, 100, 3), np.uint8))["pixel_values"].shape == (1, 3, 100, 100)
    with pytest.raises(ValueError, match=r"a 200x100 image is a 200x100 model input, 0\.02 MP: above max_output_pix"):
        processor(np.zeros((100, 200, 3), np.uint8))


def test_depth_maps_become_labels_without_blending_invalid_pixels() -> None:
    processor = DepthImageProcessor(size={"height": 4, "width": 4}, do_normalize=False)
    depth = np.array([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0], [4.0, 4.0, 8.0, 8.0], [4.0, 4.0, 8.0, 8.0]]) 
    depth = np.kron(depth, np.ones((2, 2))).astype(np.float32)  # 8x8, four constant 4x4 quadrants
    batch = processor(PIL.Image.new("RGB", (8, 8)), depth_maps=depth)
    labels = batch["labels"]
    assert labels.shape == (1, 4, 4)
    assert set(labels.unique().tolist()) == {0.0, 2.0, 4.0, 8.0}  # nearest: no value between 0 and 2
    torch.testing.assert_close(labels[0], torch.tensor(depth[::2, ::2]))
    with pytest.raises(ValueError, match="2 images but 1 depth"):
        processor([PIL.Image.new("RGB", (8, 8))] * 2, depth_maps=[depth])
    with pytest.raises(ValueError, match="ambiguous"):
        processor(PIL.Image.new("RGB", (8, 8)), depth_maps=PIL.Image.new("I;16", (8, 8)))


def test_post_processing_resizes_to_each_target_size() -> None:
    processor = DepthImageProcessor()
    predicted = torch.stack([torch.full((8, 8), 3.0), torch.full((8, 8), 5.0)])
    results = processor.post_process_depth_estimation({"predicted_depth": predicted}, [(20, 30), (5, 7)])
    assert [r["predicted_depth"].shape for r in results] == [(20, 30), (5, 7)]
    torch.testing.assert_close(results[0]["predicted_depth"], torch.full((20, 30), 3.0))
    torch.testing.assert_close(results[1]["predicted_depth"], torch.full((5, 7), 5.0))
    with pytest.raises(ValueError, match="2 target sizes for a batch of 1"):
        processor.post_process_depth_estimation({"predicted_depth": predicted[:1]}, [(2, 2), (2, 2)])
    step = torch.zeros(1, 8, 8)
    step[:, :, 4:] = 10.0
    bicubic = DepthImageProcessor(depth_resample="bicubic").post_process_depth_estimation({"predicted_depth": step}, [(16, 16)])
    assert bicubic[0]["predicted_depth"].min() >= 0.0  # bicubic overshoot never gives negative depth


def test_opencv_bicubic_is_cv2_inter_cubic() -> None:
    """Values of cv2.resize(src, (1280, 3), interpolation=cv2.INTER_CUBIC) for a float64 3x1242 src (OpenCV 5.1.0;
    the generic cubic resize is unchanged since 4.x): OpenCV rounds source positions to float32, so at ~1200 px
    torch's bicubic is off by ~4e-5 while "opencv_bicubic" is exact."""
    source = torch.from_numpy(np.sin(np.arange(1242) * 0.7))[None, None].expand(1, 3, 3, 1242)
    columns = [0, 1, 639, 1110, 1179, 1180, 1244, 1279]
    cv2_values = [-0.006960471878384129, 0.6113683644694055, 0.456827773259578, -0.05207548791704503,
                  0.3162453572733468, -0.3439352984976956, 0.13809481378347685, 1.0009679861440743]
    resized = resize_maps(source, (3, 1280), "opencv_bicubic", antialias=True, clamp_bicubic=True)
    assert resized.dtype == torch.float64 and resized.shape == (1, 3, 3, 1280)
    np.testing.assert_allclose(resized[0, :, :, columns].numpy(), np.broadcast_to(cv2_values, (3, 3, 8)), atol=1e-12)
    plain = resize_maps(source, (3, 1280), "bicubic", antialias=False, clamp_bicubic=False)
    assert abs(plain[0, 0, 0, 1110].item() - cv2_values[3]) > 3e-5
    processor = DepthImageProcessor(size={"height": 3, "width": 1280}, resample="opencv_bicubic", do_normalize=False)
    image = np.random.default_rng(0).integers(0, 256, (3, 1242, 3), dtype=np.uint8)
    pixels = processor(image)["pixel_values"]
    assert pixels.dtype == torch.float32 and pixels.shape == (1, 3, 3, 1280)
    # 8-bit values enter as k / 255 in float64, as cv2.imread(...) / 255.0, even when given as float32 k / 255
    as_opencv = resize_maps(torch.from_numpy(image / 255.0).permute(2, 0, 1)[None], (3, 1280), "opencv_bicubic")
    assert torch.equal(pixels, as_opencv.float())
    assert torch.equal(processor(torch.from_numpy(image).permute(2, 0, 1) / 255)["pixel_values"], pixels)


def test_save_and_load_round_trip(tmp_path) -> None:
    processor = DepthImageProcessor(size={"height": 352, "width": 1216}, keep_aspect_ratio=True, ensure_multiple_of=32)
    processor.save_pretrained(tmp_path)
    loaded = DepthImageProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == processor.to_dict()


@pytest.mark.parametrize(
    "bad",
    [{"size": {"height": 0, "width": 4}}, {"ensure_multiple_of": 0}, {"resample": "lanczos"},
     {"max_output_pixels": 1000}],
)
def test_invalid_arguments_are_named(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        DepthImageProcessor(**bad)


def test_the_pipeline_reads_images_as_the_predictor_does(tmp_path) -> None:
    """transformers' pipeline opens images with Pillow's convert("RGB"): a 16-bit PNG became nearly white and a float
    image 0s and 1s (depth up to 1.06 m off on a shipped model). `pipeline("depth-estimation")` on an mde-hub model
    reads them as `DepthPredictor` does; transformers' own models keep transformers' pipeline."""
    estimator = pipeline("depth-estimation", model=str(save_baseline(tmp_path / "model", 0)))
    predictor = DepthPredictor.from_pretrained(tmp_path / "model")
    gray = np.random.default_rng(0).integers(0, 256, (48, 64), dtype=np.uint8)
    PIL.Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "gray16.png")  # holds gray * 257: gray exactly
    expected = predictor.predict(np.repeat(gray[..., None], 3, axis=-1)).depth
    np.testing.assert_allclose(estimator(str(tmp_path / "gray16.png"))["predicted_depth"].numpy(), expected, rtol=1e-5,
                               atol=1e-6)
    unit = PIL.Image.fromarray(gray.astype(np.float32) / 255, mode="F")
    np.testing.assert_allclose(estimator(unit)["predicted_depth"].numpy(), expected, rtol=1e-5, atol=1e-6)
    nan = np.where(gray > 200, np.nan, gray / 255).astype(np.float32)
    PIL.Image.fromarray(nan, mode="F").save(tmp_path / "nan.tif")
    with pytest.raises(ValueError, match=r"nan\.tif: float image contains NaN or infinite values"):
        estimator(str(tmp_path / "nan.tif"))
    with pytest.raises(ValueError, match=r"float images must hold values in \[0, 1\]; got values in \[0, 255\]"):
        estimator(PIL.Image.fromarray(gray.astype(np.float32), mode="F"))
    theirs = pipeline("depth-estimation", model=str(save_hf_dpt(tmp_path / "hf-dpt")))
    assert theirs(str(tmp_path / "gray16.png"))["predicted_depth"].shape == (48, 64)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"image_mean": [float("nan"), 0.5, 0.5]}, r"image_mean must be 3 finite numbers; got \[nan, 0.5, 0.5\]"),
        ({"image_mean": [0.5, 0.5]}, r"image_mean must be 3 finite numbers; got \[0.5, 0.5\]"),
        ({"image_std": [0.2, float("inf"), 0.2]}, r"image_std must be 3 finite numbers > 0; got \[0.2, inf, 0.2\]"),
        ({"image_std": [0.2, 0.2, float("nan")]}, r"image_std must be 3 finite numbers > 0; got \[0.2, 0.2, nan\]"),
        ({"image_std": [0.2, 0.0, 0.2]}, r"image_std must be 3 finite numbers > 0; got \[0.2, 0.0, 0.2\]"),
        ({"image_std": [-0.2, 0.2, 0.2]}, r"image_std must be 3 finite numbers > 0"),
        ({"size": {"height": float("nan"), "width": 4}}, r"size must be .*; got \{'height': nan, 'width': 4\}"),
    ],
)
def test_non_finite_or_out_of_range_normalisation_is_named(bad: dict, message: str) -> None:
    """A NaN mean (or a NaN, infinite, zero or negative std) turned every pixel, so every prediction, into NaN."""
    with pytest.raises(ValueError, match=message):
        DepthImageProcessor(**bad)
