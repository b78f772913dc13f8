"""Masks from words: CLIPSeg heatmaps, as InvokeAI 2.x's ``-tm`` / ``!mask`` make them.

:func:`text_mask` runs CLIPSeg once and returns a :class:`~paint_widgets.imaging.text_mask.TextMask`
that keeps the heatmap, so changing the threshold afterwards never runs the model
again. :func:`save_mask_debug` writes ``!mask``'s three debugging images.

Preprocessing follows the reference (InvokeAI's ``txt2mask``):

1. The image (RGB; alpha dropped, colour kept) is resized with Lanczos so its
   longest side is 352 px, keeping the aspect ratio, and pasted at the top-left
   corner of a black 352x352 canvas (the padding).
2. The canvas goes through the processor's image processor with
   ``do_resize=False`` (it is already 352x352: rescale to [0, 1] and normalise with
   the CLIP mean/std only); the prompts through its tokenizer (padded, truncated
   to 77 tokens).
3. One batched forward pass: the canvas is repeated once per prompt, so
   ``"face|hair"`` or ``["face", "hair"]`` cost a single model call.
4. ``sigmoid(logits)`` gives a 352x352 confidence map per prompt. The part that
   covers the image (not the padding) is cropped and resized back to the image's
   size, bilinear, float32 (area-averaged where the image is smaller than 352).
5. Several prompts combine by the per-pixel maximum: a pixel is selected when
   *any* prompt selects it at the threshold (the union of the masks).

**SAM 3.** When the text-mask model is a SAM 3 checkpoint (``config.json``'s
``model_type`` is ``sam3``; never judged by its name), each prompt gives instances,
each a mask and a score (:func:`sam3_instances`); the heatmap is each pixel's best
instance score, so ``mask(t)`` is the union of the instances scoring at least ``t``
and the threshold keeps its meaning (lower selects more). The instances are kept on
the :class:`TextMask` (``tm.instances``, ``tm.without(i)``). SAM 3's image processor
needs torchvision, so the image is prepared here as it does (resize to the
checkpoint's size, bilinear; rescale; normalise by its mean and std).

The model is the kernel's (``manager().clipseg()``): loaded once, resident on the
device like the diffusion models, counted in ``manager().status()``. The forward
pass holds the manager's lock, under ``torch.inference_mode()``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image

from ..cancel import CancelToken
from ..errors import OutOfMemoryError
from ..imaging.text_mask import (
    Instance,
    TextMask,
    check_threshold,
    instance_heatmap,
    split_prompts,
    union,
)
from ..io import (
    ImageLike,
    NumberedFile,
    load_image,
    safe_name,
    save_numbered,
    to_rgb_array,
)
from ..requests import mask_command
from .devices import empty_cache, is_out_of_memory
from .manager import PipelineManager
from .manager import manager as kernel_manager

#: CLIPSeg's input size (the reference's ``CLIPSEG_SIZE``).
CLIPSEG_SIZE = 352
#: Debug images ``save_mask_debug`` writes, in the order the reference prints them.
DEBUG_KINDS = ("deselected", "selected", "masked")

_calls_lock = threading.Lock()
_model_calls = 0


def model_calls() -> int:
    """How many CLIPSeg forward passes this process has run (for tests and benchmarks)."""
    return _model_calls


def _count_call() -> None:
    global _model_calls
    with _calls_lock:
        _model_calls += 1


# --------------------------------------------------------------------------- geometry


def prepare_image(image: Image.Image, size: int = CLIPSEG_SIZE) -> tuple[Image.Image, tuple[int, int]]:
    """``(canvas, (cw, ch))``: ``image`` with its longest side scaled to ``size``, pasted
    top-left on a black ``size`` x ``size`` RGB canvas; ``cw`` x ``ch`` is the part it covers."""
    w, h = image.size
    scale = size / max(w, h)
    cw, ch = min(size, max(1, round(w * scale))), min(size, max(1, round(h * scale)))
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    canvas = Image.new("RGB", (size, size))
    canvas.paste(rgb.resize((cw, ch), Image.Resampling.LANCZOS), (0, 0))
    return canvas, (cw, ch)


def heatmap_to_image(heat: np.ndarray, content: tuple[int, int], image_size: tuple[int, int],
                     canvas_size: int = CLIPSEG_SIZE) -> np.ndarray:
    """Crop the part of a square model heatmap that covers the image and resize it to ``image_size``.

    ``content`` is the ``(cw, ch)`` the image covered on the ``canvas_size`` canvas;
    the heatmap may be at another resolution than the canvas (it is scaled along).
    Bilinear up, area-averaged down; float32 ``(H, W)``.
    """
    s = heat.shape[0] / canvas_size
    cw, ch = content
    crop = heat[: max(1, round(ch * s)), : max(1, round(cw * s))]
    w, h = image_size
    interp = cv2.INTER_AREA if (w < crop.shape[1] and h < crop.shape[0]) else cv2.INTER_LINEAR
    out = cv2.resize(np.ascontiguousarray(crop, dtype=np.float32), (w, h), interpolation=interp)
    return np.clip(out, 0.0, 1.0)


# --------------------------------------------------------------------------- the model


def clipseg_heatmaps(mgr: PipelineManager, canvas: Image.Image, prompts: list[str],
                     model: str | None = None, *, cancel: CancelToken | None = None,
                     on_wait: Callable[[], None] | None = None) -> np.ndarray:
    """float32 ``(len(prompts), S, S)`` sigmoid heatmaps for a prepared canvas: one batched call.

    Holds the manager like a generation does: waits for a running one (``on_wait``),
    and a set ``cancel`` stops it while waiting or before the model runs.
    """
    with mgr.session(cancel, on_wait=on_wait) as token:
        net, processor = mgr.clipseg(model)
        token.check()
        param = next(net.parameters())
        pixels = processor.image_processor(images=[canvas], do_resize=False, return_tensors="pt")["pixel_values"]
        tokens = processor.tokenizer(prompts, padding=True, truncation=True, return_tensors="pt")
        n = len(prompts)
        inputs: dict[str, Any] = {
            "input_ids": tokens["input_ids"].to(param.device),
            "pixel_values": pixels.to(param.device, param.dtype).expand(n, -1, -1, -1),
        }
        if "attention_mask" in tokens:
            inputs["attention_mask"] = tokens["attention_mask"].to(param.device)
        try:
            with torch.inference_mode():
                _count_call()
                logits = net(**inputs).logits
                heat = torch.sigmoid(logits.float()).reshape(n, *logits.shape[-2:]).cpu().numpy()
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            empty_cache(mgr.device)
            raise OutOfMemoryError(
                f"out of memory on {mgr.device} while running the text-mask model; memory was released "
                "and the manager is still usable: try fewer prompts at once"
            ) from None
    return heat


def text_mask(
    image: ImageLike,
    prompt: str | Sequence[str],
    threshold: float = 0.5,
    *,
    model: str | None = None,
    manager: PipelineManager | None = None,
    cancel: CancelToken | None = None,
    on_wait: Callable[[], None] | None = None,
) -> TextMask:
    """Select part of ``image`` by words with CLIPSeg; returns a :class:`TextMask`.

    Args:
        image: a path, PIL image or uint8 array (alpha is ignored).
        prompt: ``"orange"``, ``"face|hair"`` (the union of both) or a list of prompts
            (one batched model call for all of them).
        threshold: default threshold of the result, in [0, 1]; a pixel is selected
            when its confidence is ``>= threshold``. ``tm.mask(0.6)`` re-thresholds
            without running the model.
        model: a CLIPSeg folder or Hub id (default ``CIDAS/clipseg-rd64-refined``, or
            ``manager().configure(textmask_model=...)``).
        manager: the PipelineManager to use (default: the kernel's).
        cancel: a :class:`~paint_widgets.CancelToken` that stops the call before the model runs.
        on_wait: called once if another run holds the manager and this call must wait.

    ``tm.mask()`` is the bool paint mask; ``tm.refined(grow=8, feather=8)`` a soft one
    that also repaints the halo at object edges; ``tm.combine(painted, "subtract")``
    mixes it with a painted mask.
    """
    prompts = split_prompts(prompt)
    threshold = check_threshold(threshold)
    pil = load_image(image)
    mgr = manager or kernel_manager()
    with mgr.session(cancel, on_wait=on_wait):
        net, _ = mgr.clipseg(model)
    if _is_sam3(net):
        found = sam3_instances(mgr, pil, prompts, model, cancel=cancel, on_wait=on_wait)
        sam_parts = [instance_heatmap(found, pil.size[::-1], p) for p in prompts]
        return TextMask(image=to_rgb_array(pil), heatmap=union(sam_parts), prompt="|".join(prompts),
                        threshold=threshold, prompts=tuple(prompts),
                        parts=tuple(sam_parts) if len(sam_parts) > 1 else (), instances=tuple(found))
    canvas, content = prepare_image(pil)
    heats = clipseg_heatmaps(mgr, canvas, prompts, model, cancel=cancel, on_wait=on_wait)
    parts = [heatmap_to_image(h, content, pil.size) for h in heats]
    return TextMask(
        image=to_rgb_array(pil),
        heatmap=parts[0] if len(parts) == 1 else union(parts),
        prompt="|".join(prompts),
        threshold=threshold,
        prompts=tuple(prompts),
        parts=tuple(parts) if len(parts) > 1 else (),
    )


# --------------------------------------------------------------------------- SAM 3

#: Instances scoring below this are not kept (SAM 3 proposes 200 queries per prompt).
SAM3_MIN_SCORE = 0.05


def _is_sam3(net: Any) -> bool:
    return getattr(getattr(net, "config", None), "model_type", "") == "sam3"


def sam3_instances(mgr: PipelineManager, image: Image.Image, prompts: list[str], model: str | None = None, *,
                   cancel: CancelToken | None = None, on_wait: Callable[[], None] | None = None) -> list[Instance]:
    """SAM 3's instances for each prompt: one vision pass, then one text-conditioned pass per prompt.

    Scores are ``sigmoid(logit) * sigmoid(presence)`` (as ``post_process_instance_segmentation``);
    masks are ``sigmoid(mask logits) > 0.5`` after a bilinear resize to the image.
    """
    with mgr.session(cancel, on_wait=on_wait) as token:
        net, inputs = mgr.clipseg(model)
        token.check()
        param = next(net.parameters())
        found: list[Instance] = []
        try:
            with torch.inference_mode():
                _count_call()
                vision = net.get_vision_features(pixel_values=inputs.pixels(image).to(param.device, param.dtype))
                for prompt in prompts:
                    tokens = inputs.tokenizer([prompt], padding="max_length", truncation=True,
                                              max_length=min(32, inputs.tokenizer.model_max_length),
                                              return_tensors="pt")
                    out = net(vision_embeds=vision, input_ids=tokens["input_ids"].to(param.device),
                              attention_mask=tokens["attention_mask"].to(param.device))
                    scores = out.pred_logits[0].float().sigmoid()
                    if out.presence_logits is not None:
                        scores = scores * out.presence_logits[0].float().sigmoid()
                    keep = torch.nonzero(scores >= SAM3_MIN_SCORE).flatten()
                    if len(keep) == 0:
                        continue
                    masks = torch.nn.functional.interpolate(
                        out.pred_masks[0, keep].float()[None], size=(image.height, image.width),
                        mode="bilinear", align_corners=False)[0].sigmoid() > 0.5
                    for i, k in enumerate(keep.tolist()):
                        found.append(Instance(prompt, float(scores[k]), masks[i].cpu().numpy()))
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            empty_cache(mgr.device)
            raise OutOfMemoryError(f"out of memory on {mgr.device} while running SAM 3; the manager is "
                                   "still usable") from None
    found.sort(key=lambda inst: -inst.score)
    return found


# --------------------------------------------------------------------------- !mask


def save_mask_debug(
    image_path: ImageLike,
    prompt: str | Sequence[str],
    threshold: float = 0.5,
    outdir: str | os.PathLike = "outputs/img-samples",
    *,
    model: str | None = None,
    manager: PipelineManager | None = None,
) -> list[Path]:
    """``!mask``: write the three debugging images of a text mask; return their paths.

    Files are ``NNNNNN.<image stem>.<safe prompt>.{deselected,selected,masked}.png``
    in ``outdir`` (one number, the next free one, for all three; characters unsafe
    in a file name are replaced by ``_``), returned in that order, as the reference
    prints them. ``selected`` is the image with the heatmap as alpha (the selected
    area opaque), ``deselected`` the reverse, ``masked`` black (selected) and white
    (kept) at ``threshold``. None of them is meant as an ``-M`` mask file; use them
    to choose the prompt and threshold, then inpaint with ``text_mask=(prompt, threshold)``.
    """
    tm = text_mask(image_path, prompt, threshold, model=model, manager=manager)
    threshold = tm.threshold
    stem = Path(image_path).stem if isinstance(image_path, (str, os.PathLike)) else "image"
    images = {"deselected": tm.deselected(), "selected": tm.selected(), "masked": tm.masked(threshold)}
    ref = str(image_path) if isinstance(image_path, (str, os.PathLike)) else "<image>"
    command = mask_command(ref, tm.prompt, threshold)
    name = safe_name(tm.prompt)
    files: list[NumberedFile] = [
        (f"{stem}.{name}.{kind}.png", images[kind],
         {"app": "paint_widgets", "type": "mask_debug", "kind": kind, "image": ref,
          "prompt": tm.prompt, "threshold": threshold, "command": command}, command)
        for kind in DEBUG_KINDS
    ]
    return save_numbered(outdir, files)  # one number claimed for the three, all or none
