"""Outcrop, outpaint and transparent-border outpainting with the tiny models."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import paint_widgets as pw

FAST = {"steps": 2, "seam_steps": 2, "seed": 5, "prompt": "x"}


@pytest.fixture
def square() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)


def test_outcrop_reference_example_sizes_and_original_pixels_identical(mgr):
    img = np.random.default_rng(1).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    result = pw.outcrop(img, top=128, right=64, bottom=64, **FAST)
    out = np.asarray(result.image)
    assert result.image.size == (576, 704)  # the reference's 576x704
    assert np.array_equal(out[128:640, 0:512], img)
    assert result.commands[0].startswith("!fix <image> --outcrop top 128 right 64 bottom 64")


def test_outcrop_rounds_each_amount_up_to_64(mgr, square):
    result = pw.outcrop(square, left=100, bottom=1, **FAST)
    out = np.asarray(result.image)
    assert out.shape == (128 + 64, 128 + 128, 3)
    assert np.array_equal(out[0:128, 128:256], square)
    assert out[:, :128].std() > 0  # the new margin was painted, not left black


def test_outcrop_takes_prompt_and_seed_from_metadata_of_our_images(mgr, square, tmp_path):
    made = pw.inpaint(square, np.pad(np.ones((32, 32), bool), 48), "a lighthouse", steps=2, seed=99)
    path = made.save(tmp_path)[0]
    again = pw.outcrop(str(path), top=64, steps=2, seam_steps=2)
    assert again.seeds == [99]
    assert again.metadata[0]["params"]["prompt"] == "a lighthouse"


def test_outcrop_needs_a_side_and_rejects_negative(mgr, square):
    with pytest.raises(pw.InvalidInputError, match="at least one side"):
        pw.outcrop(square, **FAST)
    with pytest.raises(pw.InvalidInputError, match="top"):
        pw.outcrop(square, top=-64, **FAST)


@pytest.mark.parametrize(
    ("direction", "kept_out", "kept_in"),
    [
        ("top", np.s_[40:, :], np.s_[:-40, :]),
        ("bottom", np.s_[:-40, :], np.s_[40:, :]),
        ("left", np.s_[:, 40:], np.s_[:, :-40]),
        ("right", np.s_[:, :-40], np.s_[:, 40:]),
    ],
)
def test_outpaint_shifts_the_picture_and_keeps_the_canvas_size(mgr, square, direction, kept_out, kept_in):
    result = pw.outpaint(square, direction, 40, **FAST)
    out = np.asarray(result.image)
    assert out.shape == square.shape
    assert np.array_equal(out[kept_out], square[kept_in])
    assert f"-D {direction} 40" in result.commands[0]


def test_outpaint_defaults_to_half_the_image(mgr):
    img = np.random.default_rng(2).integers(0, 256, (96, 160, 3), dtype=np.uint8)
    out = np.asarray(pw.outpaint(img, "left", **FAST).image)
    assert np.array_equal(out[:, 80:], img[:, :80])
    out = np.asarray(pw.outpaint(img, "top", **FAST).image)
    assert np.array_equal(out[48:], img[:48])


@pytest.mark.parametrize(("direction", "pixels", "message"), [
    ("up", 10, "unknown direction"), ("top", -5, "pixels"), ("top", 128, "pixels"), ("left", 0, "pixels"),
])
def test_outpaint_bad_input(mgr, square, direction, pixels, message):
    with pytest.raises(pw.InvalidInputError, match=message):
        pw.outpaint(square, direction, pixels, **FAST)


def test_transparent_border_in_init_image_is_outpainted_and_holes_inpainted(mgr, square):
    rgba = np.dstack([square, np.full((128, 128), 255, np.uint8)])
    rgba[:32, :, :] = 0  # a black, fully transparent top border, as the reference prepares it
    rgba[70:90, 70:90, 3] = 0  # a hole inside, colour kept
    result = pw.inpaint(rgba, None, "x", steps=2, seed=1, seam_size=16, seam_steps=2)
    out = np.asarray(result.image)
    opaque = rgba[..., 3] == 255
    assert np.array_equal(out[opaque], square[opaque])
    assert out[:32].mean() > 20  # infilled and painted, not left black
    assert not np.array_equal(out[70:90, 70:90], square[70:90, 70:90])


def test_seam_pass_changes_only_the_painted_side_of_the_band(mgr, square, monkeypatch):
    from paint_widgets.engine import generation

    calls = []
    real = generation.generate_on_canvas

    def spy(mgr_, canvas, settings, **kwargs):
        calls.append((canvas.paint.copy(), settings.steps, settings.strength))
        return real(mgr_, canvas, settings, **kwargs)

    monkeypatch.setattr(generation, "generate_on_canvas", spy)
    pw.outcrop(square, top=128, steps=2, seam_steps=3, seed=1, prompt="x")
    (main_mask, _, main_strength), (band, seam_steps, seam_strength) = calls
    assert main_strength == 0.9 and seam_steps == 3 and seam_strength == 0.7
    assert band[128:].max() == 0  # never over the original picture
    # a band of seam_size/2 + seam_blur (48 + 16) above the old edge, nothing beyond
    assert band[100:128].min() > 0.5 and band[:128 - 48 - 16].max() == 0


def test_saved_outcrop_is_written_with_metadata(mgr, square, tmp_path):
    result = pw.outcrop(square, right=64, **FAST)
    (path,) = result.save(tmp_path)
    assert path.name == f"000000.{result.seeds[0]}.png"
    from paint_widgets.io import read_metadata

    meta = read_metadata(path)
    assert meta["command"] == result.commands[0]
    assert Image.open(path).size == (192, 128)
