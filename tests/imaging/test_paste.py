"""Paste-back keeps unpainted pixels bit-identical; colour correction is safe."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from paint_widgets.imaging.paste import colour_correct, paste_alpha, paste_back


@settings(max_examples=30, deadline=None)
@given(h=st.integers(16, 80), w=st.integers(16, 80), dilate=st.integers(0, 10), blur=st.integers(0, 10),
       seed=st.integers(0, 1000))
def test_pixels_outside_the_paste_area_are_bit_identical(h, w, dilate, blur, seed):
    rng = np.random.default_rng(seed)
    original = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    generated = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.float32)
    mask[h // 3: h // 2, w // 3: w // 2] = 1.0
    out = paste_back(original, generated, mask, dilate=dilate, blur=blur)
    alpha = paste_alpha(mask, dilate=dilate, blur=blur)
    assert np.array_equal(out[alpha == 0], original[alpha == 0])
    # the painted area itself is fully the generated image
    assert np.array_equal(out[mask == 1], generated[mask == 1]) or blur > dilate


def test_far_pixels_untouched_and_seam_lies_outside_the_mask():
    original = np.full((64, 64, 3), 10, np.uint8)
    generated = np.full((64, 64, 3), 200, np.uint8)
    mask = np.zeros((64, 64), np.float32)
    mask[24:40, 24:40] = 1
    out = paste_back(original, generated, mask, dilate=4, blur=4)
    assert (out[24:40, 24:40] == 200).all()  # dilate >= blur: the mask is fully repainted
    assert (out[:15] == 10).all() and (out[:, :15] == 10).all()
    assert 10 < out[32, 18, 0] < 200  # the soft edge is outside the painted area


def test_partial_mask_blends_partially():
    original = np.zeros((32, 32, 3), np.uint8)
    generated = np.full((32, 32, 3), 200, np.uint8)
    mask = np.full((32, 32), 0.5, np.float32)
    out = paste_back(original, generated, mask, dilate=0, blur=0)
    assert (out == 100).all()


def test_colour_correction_matches_unmasked_statistics_and_is_safe_on_flat_images():
    rng = np.random.default_rng(0)
    original = rng.integers(50, 150, (32, 32, 3), dtype=np.uint8)
    generated = np.clip(original.astype(int) + 40, 0, 255).astype(np.uint8)  # a colour drift
    mask = np.zeros((32, 32), np.float32)
    mask[8:16, 8:16] = 1
    fixed = colour_correct(original, generated, mask)
    keep = mask == 0
    assert abs(fixed[keep].mean() - original[keep].mean()) < 1.0
    flat = np.full((16, 16, 3), 77, np.uint8)
    out = colour_correct(flat, np.full((16, 16, 3), 90, np.uint8), np.zeros((16, 16), np.float32))
    assert np.isfinite(out).all() and (out == 77).all()
    full = np.ones((16, 16), np.float32)
    assert np.array_equal(colour_correct(flat, flat, full), flat)
