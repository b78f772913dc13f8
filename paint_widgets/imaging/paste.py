"""Paste-back and colour correction: keep every pixel the user did not paint.

A VAE round trip shifts every pixel a little. Compositing the original back
through a dilated-then-feathered paint mask makes pixels outside that area
bit-identical to the input, and puts the seam on pixels that were repainted anyway.
"""

from __future__ import annotations

import numpy as np

from .masks import feather, grow


def paste_alpha(mask: np.ndarray, *, dilate: int = 8, blur: int = 8) -> np.ndarray:
    """The compositing alpha for paste-back: ``mask`` grown by ``dilate`` then feathered.

    Growing by at least ``blur`` keeps the original paint area fully repainted
    (alpha 1 there) while the soft edge lies on repainted pixels.
    """
    soft = mask.astype(np.float32)
    grown = grow(soft, max(int(dilate), 0))
    # max() keeps the painted area fully repainted even where a small disk is coarse
    return np.maximum(feather(grown, blur), soft)


def paste_back(
    original: np.ndarray,
    generated: np.ndarray,
    mask: np.ndarray,
    *,
    dilate: int = 8,
    blur: int = 8,
) -> np.ndarray:
    """Composite ``generated`` over ``original`` (both ``uint8`` RGB) through the paint mask.

    Every pixel where :func:`paste_alpha` is 0 is copied from ``original`` unchanged.
    """
    alpha = paste_alpha(mask, dilate=dilate, blur=blur)[..., None]
    blended = original.astype(np.float32) * (1.0 - alpha) + generated.astype(np.float32) * alpha
    out = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    keep = alpha[..., 0] == 0
    out[keep] = original[keep]
    return out


def colour_correct(original: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Match the generated image's per-channel mean/std to the original's on unmasked pixels.

    Models drift in colour; measuring the drift where the original must be kept and
    undoing it everywhere removes colour seams. Safe on flat images (std 0: shift only)
    and when nothing is unmasked (returns ``generated`` unchanged).
    """
    keep = mask <= 0
    if not keep.any():
        return generated.copy()
    src = generated.astype(np.float32)
    ref = original.astype(np.float32)
    out = np.empty_like(src)
    for c in range(src.shape[2]):
        g, o = src[..., c][keep], ref[..., c][keep]
        g_mean, o_mean = float(g.mean()), float(o.mean())
        g_std, o_std = float(g.std()), float(o.std())
        scale = o_std / g_std if g_std > 1e-6 else 1.0
        out[..., c] = (src[..., c] - g_mean) * scale + o_mean
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
