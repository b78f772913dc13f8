"""Click-to-segment: SAM masks from points and a box, the image embedding computed once.

:func:`segment` is ``pw.segment(image, points=[(x, y), ...], labels=[1, 0, ...], box=None)``:
a bool ``(H, W)`` paint mask of the object the clicks point at (label 1: on it, 0: not
on it; ``box`` ``(x0, y0, x1, y1)`` in image pixels).

SAM runs in two parts: the image encoder (a ViT, by far the costlier) turns the image
into an embedding once; the prompt encoder and mask decoder then turn each set of
clicks into a mask in milliseconds. :func:`embed` computes the embedding and keeps
the last few in a cache keyed by the image's content (and the model), so every click
on the image that is shown reuses it; :func:`encoder_calls` counts image-encoder runs
(tests and benchmarks check a click does not add one).

The model class is read from the checkpoint's ``config.json`` (``model_type``), never
its name: ``sam`` → ``SamModel``, ``sam2`` → ``Sam2Model``, ``sam3_tracker`` or
``sam3`` → ``Sam3TrackerModel`` (where the installed transformers has it). It is the
kernel's (``manager().segment()``): loaded once, safetensors only unless
``allow_pickle``, resident like the other models; ``manager().configure(segment_model=...)``
or ``$PAINT_WIDGETS_SEGMENT_MODEL`` choose it (default :data:`DEFAULT_SEGMENT_MODEL`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InvalidInputError
from ..io import ImageLike, load_image, to_rgb_array
from . import sam_decoder
from .loading import (
    DEFAULT_SEGMENT_MODEL as DEFAULT_SEGMENT_MODEL,  # the loaders live in loading.py
)
from .manager import PipelineManager
from .manager import manager as kernel_manager
from .sam_inputs import TrackerInputs

#: How many image embeddings the cache keeps (the image shown, and a few before it).
CACHE_SIZE = 4

Point = tuple[float, float]
Box = tuple[float, float, float, float]

_lock = threading.Lock()
_encoder_calls = 0
_cache: OrderedDict[tuple[int, str], ImageEmbedding] = OrderedDict()


def encoder_calls() -> int:
    """How many times this process ran a SAM image encoder (for tests and benchmarks)."""
    return _encoder_calls


def clear_cache() -> None:
    """Forget every cached image embedding."""
    with _lock:
        _cache.clear()


# --------------------------------------------------------------------------- the embedding


@dataclass(eq=False)
class ImageEmbedding:
    """One image's SAM embedding and the sizes its prompts are scaled by.

    ``embeddings`` is what the model's ``get_image_embeddings`` returned (a tensor for
    SAM, a list of tensors for SAM 2 / SAM 3 tracker); ``original_size`` is ``(H, W)``,
    ``reshaped_size`` the resized image's ``(h, w)`` before padding (SAM only);
    ``decoder`` the per-image part of SAM's mask decoder (:mod:`.sam_decoder`), SAM only.
    """

    model: Any
    processor: Any
    embeddings: Any
    original_size: tuple[int, int]
    reshaped_size: tuple[int, int] | None
    key: str
    decoder: sam_decoder.DecoderCache | None = None


def image_key(image: np.ndarray) -> str:
    """A content key of a uint8 image: the same pixels give the same key."""
    digest = hashlib.sha256(np.ascontiguousarray(image).data)  # SHA-NI: ~2 ms for 1024² RGB
    digest.update(repr((image.shape, image.dtype.str)).encode())
    return digest.hexdigest()


def embed(image: ImageLike, *, model: str | None = None, manager: PipelineManager | None = None) -> ImageEmbedding:
    """The SAM embedding of ``image``: from the cache if this image (by content) was embedded."""
    mgr = manager or kernel_manager()
    rgb = to_rgb_array(load_image(image))
    key = image_key(rgb)
    with mgr.session():
        net, processor = mgr.segment(model)
        cache_key = (id(net), key)
        with _lock:
            hit = _cache.get(cache_key)
            if hit is not None:
                _cache.move_to_end(cache_key)
                return hit
        global _encoder_calls
        param = next(net.parameters())
        reshaped: tuple[int, int] | None = None
        if isinstance(processor, TrackerInputs):  # SAM 2 / SAM 3 tracker
            pixels = processor.pixel_values(rgb)
        else:  # SAM: longest side resized, padded; the resized size scales the prompts
            inputs = processor(images=rgb, return_tensors="pt")
            pixels = inputs["pixel_values"]
            rh, rw = (int(v) for v in inputs["reshaped_input_sizes"][0])
            reshaped = (rh, rw)
        with torch.inference_mode():
            with _lock:
                _encoder_calls += 1
            embeddings = net.get_image_embeddings(pixels.to(param.device, param.dtype))
            decoder = sam_decoder.prepare(net, embeddings) if sam_decoder.supports(net) else None
        found = ImageEmbedding(net, processor, embeddings, (rgb.shape[0], rgb.shape[1]), reshaped, key, decoder)
        with _lock:
            _cache[cache_key] = found
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
        return found


# --------------------------------------------------------------------------- prompts → mask


def _check_prompts(points: Sequence[Sequence[float]] | None, labels: Sequence[int] | None,
                   box: Sequence[float] | None) -> tuple[list[Point], list[int], Box | None]:
    pts: list[Point] = []
    for p in points or ():
        try:
            x, y = (float(v) for v in p)
        except (TypeError, ValueError):
            raise InvalidInputError(f"a point must be (x, y) in image pixels, not {p!r}") from None
        if not (np.isfinite(x) and np.isfinite(y)):
            raise InvalidInputError(f"point {p!r} is not finite")
        pts.append((x, y))
    if labels is None:
        labs = [1] * len(pts)
    else:
        labs = [int(v) for v in labels]
        if len(labs) != len(pts):
            raise InvalidInputError(f"{len(labs)} labels for {len(pts)} points: give one label per point")
        if any(v not in (0, 1) for v in labs):
            raise InvalidInputError("labels are 1 (on the object) or 0 (not on it)")
    bx: Box | None = None
    if box is not None:
        try:
            x0, y0, x1, y1 = (float(v) for v in box)
        except (TypeError, ValueError):
            raise InvalidInputError(f"box must be (x0, y0, x1, y1) in image pixels, not {box!r}") from None
        bx = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    if not pts and bx is None:
        raise InvalidInputError("segment needs at least one point or a box")
    return pts, labs, bx


def _prompt_tensors(emb: ImageEmbedding, pts: list[Point], labs: list[int], bx: Box | None) -> dict[str, Any]:
    """``input_points`` / ``input_labels`` / ``input_boxes`` for the model, on its device."""
    oh, ow = emb.original_size
    net, processor = emb.model, emb.processor
    param = next(net.parameters())
    kwargs: dict[str, Any] = {}
    if emb.reshaped_size is not None:  # SAM: scale to the resized image ourselves (its processor needs images)
        rh, rw = emb.reshaped_size
        sx, sy = rw / ow, rh / oh
        if pts:
            kwargs["input_points"] = torch.tensor([[[[x * sx, y * sy] for x, y in pts]]], dtype=torch.float32)
            kwargs["input_labels"] = torch.tensor([[labs]], dtype=torch.long)
        if bx is not None:
            kwargs["input_boxes"] = torch.tensor([[[bx[0] * sx, bx[1] * sy, bx[2] * sx, bx[3] * sy]]],
                                                 dtype=torch.float32)
    else:  # SAM 2 / SAM 3 tracker: scaled to the model's target size
        kwargs = processor.prompts(pts, labs, bx, (oh, ow))
    return {k: v.to(param.device, param.dtype) if v.is_floating_point() else v.to(param.device)
            for k, v in kwargs.items()}


def low_res_logits(emb: ImageEmbedding, points: Sequence[Sequence[float]] | None = None,
                   labels: Sequence[int] | None = None, box: Sequence[float] | None = None, *,
                   fast: bool = True) -> tuple[torch.Tensor, float]:
    """``(logits (1, 1, h, w) float32 on the CPU, score)`` of the chosen mask, before upscaling.

    ``fast`` (SAM only) runs :mod:`.sam_decoder` on the cached per-image decoder state;
    ``fast=False`` is transformers' own ``forward`` (SAM 2 and SAM 3 tracker always):
    the same masks, which the tests check.
    """
    pts, labs, bx = _check_prompts(points, labels, box)
    multimask = len(pts) == 1 and bx is None
    kwargs = _prompt_tensors(emb, pts, labs, bx)
    net = emb.model
    with torch.inference_mode():
        if fast and emb.decoder is not None:
            sparse, _ = net.prompt_encoder(input_points=kwargs.get("input_points"),
                                           input_labels=kwargs.get("input_labels"),
                                           input_boxes=kwargs.get("input_boxes"), input_masks=None)
            logits, score = sam_decoder.decode(net, emb.decoder, sparse, multimask=multimask)
            return logits[None, None].float().cpu(), float(score)
        out = net(image_embeddings=emb.embeddings, multimask_output=multimask, **kwargs)
        scores = out.iou_scores[0, 0].float()
        best = int(torch.argmax(scores))
        return out.pred_masks[0, :1, best : best + 1].float().cpu(), float(scores[best])


def predict(emb: ImageEmbedding, points: Sequence[Sequence[float]] | None = None,
            labels: Sequence[int] | None = None, box: Sequence[float] | None = None, *,
            fast: bool = True) -> tuple[np.ndarray, float]:
    """``(mask, score)`` for prompts on an embedded image: prompt encoder + mask decoder only.

    One positive point alone is ambiguous (a shirt or the person?): SAM proposes three
    masks and the one with the best predicted IoU is taken; with more prompts, one mask.
    The chosen mask's logits are upscaled to the image by the processor's
    ``post_process_masks`` (bilinear, then ``> 0``). ``fast``: see :func:`low_res_logits`.
    """
    logits, score = low_res_logits(emb, points, labels, box, fast=fast)
    if emb.reshaped_size is None:  # SAM 2 / SAM 3 tracker: resized to the image (TrackerInputs)
        masks = emb.processor.post_process_masks([logits], torch.tensor([list(emb.original_size)]))
        return masks[0][0, 0].numpy(), score
    return upscale_mask(logits, emb.processor, emb.original_size, emb.reshaped_size), score


def upscale_mask(logits: torch.Tensor, processor: Any, original_size: tuple[int, int],
                 reshaped_size: tuple[int, int]) -> np.ndarray:
    """SAM's ``post_process_masks`` for one mask: bilinear to the padded input, crop, to the image, ``> 0``.

    The same arithmetic as transformers' (``tests/engine/test_segment.py`` compares them),
    minus the second resize when the image is already the model's size.
    """
    pad = processor.image_processor.pad_size
    up = F.interpolate(logits, (pad["height"], pad["width"]), mode="bilinear", align_corners=False)
    up = up[..., : reshaped_size[0], : reshaped_size[1]]
    if tuple(up.shape[-2:]) != tuple(original_size):
        up = F.interpolate(up, original_size, mode="bilinear", align_corners=False)
    return (up[0, 0] > 0).numpy()


def segment(
    image: ImageLike,
    points: Sequence[Sequence[float]] | None = None,
    labels: Sequence[int] | None = None,
    box: Sequence[float] | None = None,
    *,
    model: str | None = None,
    manager: PipelineManager | None = None,
) -> np.ndarray:
    """bool ``(H, W)`` paint mask of the object the prompts point at (SAM).

    Args:
        image: a path, PIL image or uint8 array (alpha is ignored).
        points: ``[(x, y), ...]`` in image pixels.
        labels: one per point: 1 = on the object, 0 = not on it (default: all 1).
        box: ``(x0, y0, x1, y1)`` around the object, in image pixels.
        model: a SAM folder or Hub id (default ``manager().configure(segment_model=...)``,
            ``$PAINT_WIDGETS_SEGMENT_MODEL`` or :data:`DEFAULT_SEGMENT_MODEL`).
        manager: the PipelineManager to use (default: the kernel's).

    The image is embedded once (see :func:`embed`); further calls on the same image run
    only the prompt encoder and the mask decoder.
    """
    _check_prompts(points, labels, box)  # bad prompts are refused before any model runs
    mgr = manager or kernel_manager()
    emb = embed(image, model=model, manager=mgr)
    with mgr.session():
        return predict(emb, points, labels, box)[0]
