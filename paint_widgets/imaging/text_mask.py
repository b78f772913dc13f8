"""A text mask kept as a heatmap: threshold it, refine it, combine it, show it.

:class:`TextMask` holds the image and CLIPSeg's confidence heatmap at the image's
size (float32 in [0, 1]); :func:`paint_widgets.text_mask` makes one. Everything
here is numpy/Pillow/OpenCV: moving the threshold, growing or feathering the
mask, or drawing a preview never runs the model again.

Mask convention (as everywhere in the project): ``True`` / ``1.0`` = paint here,
and a pixel is selected when ``heatmap >= threshold``.

The three ``!mask`` images follow InvokeAI 2.x's ``txt2mask``:

- :meth:`TextMask.selected`: the image with the heatmap as its alpha, so the
  selected area is opaque and the rest fades out ("the selected area highlighted").
- :meth:`TextMask.deselected`: the reverse, alpha ``1 - heatmap``.
- :meth:`TextMask.masked`: black and white by the threshold, in InvokeAI's mask-file
  convention: **black = selected** (what ``-M`` paints), white = kept.

InvokeAI thresholded the 352x352 heatmap and then Lanczos-resized the binary mask;
here the heatmap is resized first (bilinear) and thresholded at full size, so the
mask edge is as smooth as the heatmap and ``masked`` agrees exactly with
:meth:`TextMask.mask`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from PIL import Image

from ..errors import InvalidInputError, MaskError
from ..io import require_number
from . import masks
from .masks import CombineMode

#: Overlay colour of previews (RGB) and its opacity.
PREVIEW_COLOR: tuple[int, int, int] = (255, 0, 80)
PREVIEW_OPACITY = 0.5


def check_threshold(threshold: float) -> float:
    """``threshold`` as a float in [0, 1]; :class:`InvalidInputError` otherwise."""
    try:
        return require_number(threshold, "text mask threshold", low=0.0, high=1.0)
    except InvalidInputError as err:
        raise InvalidInputError(
            f"{err}; the threshold is CLIPSeg's confidence in [0, 1]: lower selects more, "
            "higher selects less (0.5 is the default)"
        ) from None


def _as_heatmap(heatmap: np.ndarray, what: str = "heatmap") -> np.ndarray:
    arr = np.asarray(heatmap)
    if arr.ndim != 2:
        raise MaskError(f"{what} must be a 2-D array (H, W), not shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise MaskError(f"{what} must be a float array in [0, 1], not {arr.dtype}")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        raise MaskError(f"{what} contains NaN or infinite values")
    if out.size and (out.min() < 0.0 or out.max() > 1.0):
        out = np.clip(out, 0.0, 1.0)  # a new array: never change the caller's
    return out


@dataclass(eq=False, repr=False)
class Instance:
    """One object a SAM 3 text mask found: its prompt, score in [0, 1] and bool ``(H, W)`` mask."""

    prompt: str
    score: float
    mask: np.ndarray


def instance_heatmap(instances: Sequence[Instance], shape: tuple[int, int], prompt: str | None = None) -> np.ndarray:
    """float32 ``(H, W)``: each pixel's best score among the instances covering it (0 where none).

    So ``heatmap >= t`` is exactly the union of the instances scoring at least ``t``.
    ``prompt``: only that prompt's instances.
    """
    heat = np.zeros(shape, np.float32)
    for inst in instances:
        if prompt is None or inst.prompt == prompt:
            np.maximum(heat, np.where(inst.mask, np.float32(inst.score), np.float32(0)), out=heat)
    return heat


@dataclass(eq=False, repr=False)
class TextMask:
    """An image and the text-mask heatmap for it; the mask is ``heatmap >= threshold``.

    Attributes:
        image: uint8 ``(H, W, 3)`` RGB.
        heatmap: float32 ``(H, W)`` in [0, 1], CLIPSeg's confidence (the union of
            ``prompts``: the per-pixel maximum).
        prompt: the prompt as given (``"face|hair"``; a list is joined with ``|``).
        threshold: the default threshold for the methods below.
        prompts: the single prompts the heatmap is the union of.
        parts: one heatmap per prompt (same order), for :meth:`part`.
        instances: with a SAM 3 model, the objects found (best score first); the heatmap
            is then :func:`instance_heatmap` of them. Empty for CLIPSeg.
    """

    image: np.ndarray
    heatmap: np.ndarray
    prompt: str = ""
    threshold: float = 0.5
    prompts: tuple[str, ...] = ()
    parts: tuple[np.ndarray, ...] = field(default=())
    instances: tuple[Instance, ...] = field(default=())

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
            raise InvalidInputError(
                f"TextMask image must be uint8 (H, W, 3), not {image.dtype} {image.shape}"
            )
        self.image = np.ascontiguousarray(image[..., :3])
        self.heatmap = _as_heatmap(self.heatmap)
        if self.heatmap.shape != self.image.shape[:2]:
            raise MaskError(
                f"heatmap is {self.heatmap.shape[1]}x{self.heatmap.shape[0]} but the image is "
                f"{self.image.shape[1]}x{self.image.shape[0]}"
            )
        self.threshold = check_threshold(self.threshold)
        self.prompts = tuple(self.prompts) or ((self.prompt,) if self.prompt else ())
        self.parts = tuple(_as_heatmap(p, "part heatmap") for p in self.parts)
        if any(p.shape != self.heatmap.shape for p in self.parts):
            raise MaskError("every part heatmap must have the image's shape")

    # ------------------------------------------------------------------ basics

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)``."""
        return self.heatmap.shape

    @property
    def size(self) -> tuple[int, int]:
        """``(W, H)`` as PIL counts it."""
        return self.heatmap.shape[1], self.heatmap.shape[0]

    def _t(self, threshold: float | None) -> float:
        return self.cutoff(self.threshold if threshold is None else check_threshold(threshold))

    def cutoff(self, threshold: float) -> float:
        """The value the heatmap is compared with (``heatmap >= cutoff``) at ``threshold``.

        ``threshold`` itself, except for SAM 3 instances at 0: a pixel of no instance
        has heat 0, and the mask stays the union of the instances rather than the whole
        image, so the cutoff is the smallest positive float there.
        """
        if self.instances and threshold <= 0.0:
            return float(np.nextafter(np.float32(0), np.float32(1)))
        return threshold

    def mask(self, threshold: float | None = None) -> np.ndarray:
        """``bool (H, W)``: True where ``heatmap >= threshold`` (default: :attr:`threshold`).

        With SAM 3 instances: the union of the instances scoring at least ``threshold``.
        """
        return self.heatmap >= self._t(threshold)

    def coverage(self, threshold: float | None = None) -> float:
        """Share of the image selected at ``threshold``, in [0, 1]."""
        return float(np.count_nonzero(self.mask(threshold))) / self.heatmap.size

    def with_threshold(self, threshold: float) -> TextMask:
        """The same heatmap with another default threshold (no copy of the arrays)."""
        return TextMask(self.image, self.heatmap, self.prompt, check_threshold(threshold),
                        self.prompts, self.parts, self.instances)

    def without(self, *drop: int) -> TextMask:
        """A SAM 3 text mask without the instances at the given indices (no model run)."""
        if not self.instances:
            raise InvalidInputError("this TextMask has no instances (CLIPSeg gives a heatmap only)")
        for i in drop:
            if not 0 <= i < len(self.instances):
                raise InvalidInputError(f"instance {i} out of range: there are {len(self.instances)}")
        kept = tuple(inst for i, inst in enumerate(self.instances) if i not in set(drop))
        parts = [instance_heatmap(kept, self.shape, p) for p in self.prompts] or [np.zeros(self.shape, np.float32)]
        return TextMask(self.image, union(parts), self.prompt, self.threshold, self.prompts,
                        tuple(parts) if len(parts) > 1 else (), kept)

    def part(self, which: int | str) -> TextMask:
        """The text mask of one of the prompts (by index or by text)."""
        if isinstance(which, str):
            if which not in self.prompts:
                raise InvalidInputError(f"{which!r} is not one of the prompts {list(self.prompts)}")
            which = self.prompts.index(which)
        if not self.parts:
            if which == 0 and len(self.prompts) <= 1:
                return self
            raise InvalidInputError("this TextMask keeps no per-prompt heatmaps")
        if not 0 <= which < len(self.parts):
            raise InvalidInputError(f"prompt index {which} out of range: there are {len(self.parts)} prompts")
        prompt = self.prompts[which]
        return TextMask(self.image, self.parts[which], prompt, self.threshold, (prompt,),
                        instances=tuple(inst for inst in self.instances if inst.prompt == prompt))

    # ------------------------------------------------------------------ refine / combine

    def refined(self, threshold: float | None = None, grow: int = 0, feather: float = 0) -> np.ndarray:
        """float32 paint mask: the mask at ``threshold``, grown by ``grow`` px, feathered by ``feather`` px.

        Growing (dilating) by a few pixels, then feathering, makes inpainting repaint
        the halo CLIPSeg leaves at object edges. ``grow < 0`` shrinks the mask.
        """
        grow = int(require_number(grow, "grow", low=-1024, high=1024, integer=True))
        feather = require_number(feather, "feather", low=0, high=1024)
        mask = masks.grow(self.mask(threshold), grow)
        return masks.feather(mask, feather)

    def combine(self, painted: np.ndarray | Image.Image, mode: CombineMode = "add",
                threshold: float | None = None) -> np.ndarray:
        """This mask combined with a painted mask: ``add``, ``subtract`` (text minus painted),
        ``intersect`` or ``replace``.

        A ``bool`` painted mask gives a ``bool`` result; anything else (float, uint8, a
        PIL ``-M`` image) a float32 paint mask.
        """
        if isinstance(painted, np.ndarray) and painted.dtype == bool:
            if painted.shape != self.shape:
                raise MaskError(
                    f"painted mask is {painted.shape[1]}x{painted.shape[0]} but the image is "
                    f"{self.shape[1]}x{self.shape[0]}"
                )
            return masks.combine(self.mask(threshold), painted, mode)
        other = masks.as_paint_mask(painted, self.shape, what="painted mask")
        return masks.combine(self.mask(threshold).astype(np.float32), other, mode)

    # ------------------------------------------------------------------ the !mask images

    def _alpha(self, threshold: float | None) -> np.ndarray:
        if threshold is None:
            return np.round(self.heatmap * 255.0).astype(np.uint8)
        return self.mask(threshold).view(np.uint8) * np.uint8(255)

    def _with_alpha(self, alpha: np.ndarray) -> Image.Image:
        rgba = np.empty((*self.shape, 4), dtype=np.uint8)
        rgba[..., :3] = self.image
        rgba[..., 3] = alpha
        return Image.fromarray(rgba)

    def selected(self, threshold: float | None = None) -> Image.Image:
        """RGBA: the selected area opaque, the rest transparent (``!mask``'s ``.selected``).

        Without a threshold the alpha is the heatmap itself, as InvokeAI draws it;
        with one, the alpha is the hard mask at that threshold.
        """
        return self._with_alpha(self._alpha(threshold))

    def deselected(self, threshold: float | None = None) -> Image.Image:
        """RGBA: the reverse of :meth:`selected` (the selected area transparent)."""
        return self._with_alpha(255 - self._alpha(threshold))

    def masked(self, threshold: float | None = None) -> Image.Image:
        """Black-and-white ``L`` image of the mask: **black = selected**, white = kept.

        That is InvokeAI's ``!mask`` and ``-M`` convention, so the file read back with
        ``-M`` paints the selected area.
        """
        keep = ~self.mask(threshold)
        return Image.fromarray(keep.view(np.uint8) * np.uint8(255))

    def preview(self, threshold: float | None = None, *, max_side: int = 512,
                color: tuple[int, int, int] = PREVIEW_COLOR, opacity: float = PREVIEW_OPACITY) -> Image.Image:
        """RGB image: the picture with the selected area tinted, at most ``max_side`` px a side."""
        image_view, heat_view = view_of(self.image, self.heatmap, max_side)
        rgba = overlay_preview(image_view, heat_view, self._t(threshold), color, opacity)
        return Image.fromarray(rgba[..., :3])

    def plot(self, threshold: float | None = None, **kwargs: Any) -> Any:
        """A matplotlib Figure for tuning: the selection, the heatmap with the threshold's
        outline, and the share selected as the threshold moves (current one marked).

        See :func:`paint_widgets.imaging.text_mask_plot.plot_text_mask` for ``kwargs``.
        """
        from .text_mask_plot import plot_text_mask

        return plot_text_mask(self, threshold, **kwargs)

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.preview().save(buf, format="PNG")
        return buf.getvalue()

    def __repr__(self) -> str:
        h, w = self.shape
        return (f"TextMask({self.prompt!r}, {w}x{h}, threshold={self.threshold:g}, "
                f"selected={self.coverage():.1%})")


# --------------------------------------------------------------------------- previews


def view_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """``(vh, vw)`` of a view at most ``max_side`` px a side (never enlarged)."""
    longest = max(height, width)
    if longest <= max_side:
        return height, width
    s = max_side / longest
    return max(1, round(height * s)), max(1, round(width * s))


def resize_heatmap(heatmap: np.ndarray, view_height: int, view_width: int) -> np.ndarray:
    """float32 heatmap at the view size: area-averaged down, bilinear up."""
    h, w = heatmap.shape
    if (h, w) == (view_height, view_width):
        return heatmap
    interp = cv2.INTER_AREA if view_width < w else cv2.INTER_LINEAR
    return cv2.resize(heatmap, (view_width, view_height), interpolation=interp)


def view_of(image: np.ndarray, heatmap: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """``(image_view, heatmap_view)`` scaled to fit ``max_side`` (unchanged when it fits)."""
    height, width = heatmap.shape
    vh, vw = view_size(height, width, max_side)
    if (vh, vw) == heatmap.shape:
        return image, heatmap
    image_view = cv2.resize(image, (vw, vh), interpolation=cv2.INTER_AREA)
    return image_view, resize_heatmap(heatmap, vh, vw)


def overlay_alpha(
    heatmap_view: np.ndarray,
    threshold: float,
    opacity: float = PREVIEW_OPACITY,
    *,
    grow: int = 0,
    feather: float = 0,
) -> np.ndarray:
    """uint8 ``(h, w)`` overlay opacity: ``opacity * 255`` where ``heatmap_view >= threshold``, else 0.

    ``grow`` / ``feather`` (view pixels) dilate and soften the selection first.
    This is all a preview needs per threshold change: one comparison and one
    multiply over the view (about 0.3 ms at 512x512).
    """
    threshold = check_threshold(threshold)
    sel = heatmap_view >= threshold
    if grow:
        sel = masks.grow(sel, int(grow))
    return selection_alpha(sel, opacity, feather)


def selection_alpha(sel: np.ndarray, opacity: float = PREVIEW_OPACITY, feather: float = 0) -> np.ndarray:
    """uint8 ``(h, w)``: ``opacity * 255`` on a bool selection, softened over ``feather`` px."""
    top = float(np.clip(opacity, 0.0, 1.0)) * 255.0
    if feather and feather > 0:
        return np.round(masks.feather(sel, feather) * top).astype(np.uint8)
    return sel.view(np.uint8) * np.uint8(round(top))


def overlay_preview(
    image_view: np.ndarray | None,
    heatmap_view: np.ndarray,
    threshold: float,
    color: Sequence[int] = PREVIEW_COLOR,
    opacity: float = PREVIEW_OPACITY,
    *,
    grow: int = 0,
    feather: float = 0,
) -> np.ndarray:
    """uint8 RGBA ``(h, w, 4)`` preview of ``heatmap_view >= threshold``, ready for ``put_image_data``.

    With ``image_view`` (RGB or RGBA, same size) the result is the opaque picture
    with ``color`` blended over the selected area at ``opacity``. With ``None`` it
    is an overlay layer: ``color`` at ``opacity`` where selected, transparent
    elsewhere, to put on a layer above the picture. ``grow`` / ``feather`` are in
    view pixels (see :func:`overlay_alpha`).
    """
    alpha = overlay_alpha(heatmap_view, threshold, opacity, grow=grow, feather=feather)
    color_arr = np.asarray(color, dtype=np.uint16)[:3]
    out = np.empty((*heatmap_view.shape, 4), dtype=np.uint8)
    if image_view is None:
        out[..., :3] = color_arr.astype(np.uint8)
        out[..., 3] = alpha
        return out
    if image_view.shape[:2] != heatmap_view.shape:
        raise InvalidInputError(
            f"preview image {image_view.shape[:2]} and heatmap {heatmap_view.shape} differ in size"
        )
    a = alpha.astype(np.uint16)[..., None]
    blend = image_view[..., :3].astype(np.uint16) * (255 - a) + color_arr * a + 127
    out[..., :3] = (blend // 255).astype(np.uint8)
    out[..., 3] = 255
    return out


def union(heatmaps: Sequence[np.ndarray]) -> np.ndarray:
    """Per-pixel maximum of heatmaps: the confidence that *any* of the prompts is there."""
    if not heatmaps:
        raise InvalidInputError("no heatmaps to combine")
    out = np.array(heatmaps[0], dtype=np.float32, copy=True)
    for h in heatmaps[1:]:
        np.maximum(out, h, out=out)
    return out


def split_prompts(prompt: str | Sequence[str]) -> list[str]:
    """``"face|hair"`` → ``["face", "hair"]``; a list is split the same way, item by item.

    Whitespace around each part is removed and repeats are dropped (first kept).
    An empty prompt or an empty part (``"face|"``) is an :class:`InvalidInputError`.
    """
    if isinstance(prompt, str):
        items = [prompt]
    elif isinstance(prompt, Sequence) and not isinstance(prompt, (bytes, bytearray)):
        items = list(prompt)
        if not items:
            raise InvalidInputError('text mask prompt list is empty: give at least one, e.g. ["face", "hair"]')
    else:
        raise InvalidInputError(f"text mask prompt must be a string or a list of strings, not {type(prompt).__name__}")
    parts: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInputError(f"text mask prompts must be strings, not {type(item).__name__}")
        if not item.strip():
            raise InvalidInputError(
                'text mask prompt is empty: describe what to select, e.g. "hair" or "face|hair"'
            )
        for part in item.split("|"):
            part = part.strip()
            if not part:
                raise InvalidInputError(
                    f"text mask prompt {item!r} has an empty part: separate prompts with '|', e.g. \"face|hair\""
                )
            if part not in parts:
                parts.append(part)
    return parts
