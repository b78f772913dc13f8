"""Carry out one batch job on a manager: the same request and engine call as a single image.

Shared by the local loop and the Ray actors, so both make the same pixels and the
same files. Each output is written atomically (temp file, then a link or a move
that never overwrites) under its deterministic name, with the command line that
reproduces it and the metadata a single image gets, plus a ``batch`` entry
(input, mask, key, recipe). An input on an fsspec URL is read whole and decoded
by the same loader, so it makes the pixels the local file would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cancel import CancelToken
from ..errors import CancelledError, OutputExistsError
from ..io import check_image_file, load_image
from ..requests import InpaintRequest, OutcropRequest, OutpaintRequest
from . import storage
from .jobs import Job
from .recipe import Recipe


@dataclass
class Outcome:
    """What became of one job: ``status`` is ``"done"``, ``"skipped"`` (already written) or ``"failed"``."""

    input: str
    status: str
    outputs: list[str] = field(default_factory=list)
    reason: str = ""
    seconds: float = 0.0
    mask: str | None = None
    key: str = ""
    node: str = ""  # the Ray node that made it ("" on the local engine)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def failure_text(err: BaseException) -> str:
    """One line naming what went wrong (the type too when the message does not say it)."""
    from ..commands.runner import one_line
    from ..errors import PaintError

    text = one_line(str(err))
    return text if isinstance(err, PaintError) and text else f"{type(err).__name__}: {text}".rstrip(": ")


def open_source(ref: str, what: str) -> Any:
    """What a request takes for input ``ref``: a checked local path, or the decoded image of a URL."""
    if storage.is_url(ref):
        return load_image(storage.read_bytes(ref, what), what=f"{what} {storage.redact(ref)}")
    check_image_file(ref, what)  # stat + header: a FIFO, a bomb or a non-image before any model
    return ref


def build_request(job: Job, recipe: Recipe, mgr: Any, *, image: Any = None, mask: Any = None) -> Any:
    """The request of ``job`` (inpaint, outcrop or outpaint): the recipe's parameters with the job's seed.

    ``image``/``mask``: what :func:`open_source` gave (default: the job's local paths).
    A text mask with grow/feather is computed here (the kept heatmap refined as the
    TextMaskTuner refines it) and handed over as an array; without them the request
    carries ``-tm`` and the engine computes it, as a single image would.
    """
    params = recipe.generation_params(seed=job.seeds[0], model=job.model)
    image = job.input if image is None else image
    ref = storage.redact(job.input)
    if recipe.outcrop is not None:
        return OutcropRequest(image=image, **recipe.outcrop, params=params, image_ref=ref)
    if recipe.outpaint is not None:
        direction, pixels = recipe.outpaint
        return OutpaintRequest(image=image, direction=direction, pixels=pixels, params=params, image_ref=ref)
    mask = job.mask if mask is None else mask
    text_mask = recipe.text_mask
    if text_mask is not None and (recipe.grow or recipe.feather):
        from ..engine.textmask import text_mask as compute_text_mask

        tm = compute_text_mask(image, text_mask[0], text_mask[1], manager=mgr)
        mask = np.asarray(tm.refined(text_mask[1], recipe.grow, recipe.feather), dtype=np.float32)
        text_mask = None
    options = dict(recipe.options)
    mask_ref = storage.redact(job.mask) if job.mask and not isinstance(mask, np.ndarray) else None
    return InpaintRequest(image=image, mask=mask, params=params, invert_mask=recipe.invert_mask,
                          text_mask=text_mask, image_ref=ref, mask_ref=mask_ref, **options)


def run_job(job: Job, mgr: Any, *, progress: Any = None, cancel: CancelToken | None = None) -> Outcome:
    """Run ``job`` on ``mgr`` and write its outputs; a bad input gives a ``failed`` Outcome.

    Ctrl-C (KeyboardInterrupt) and a cancel propagate: the batch stops, every file
    already written is whole, and a rerun goes on from there.
    """
    started = time.perf_counter()
    outcome = Outcome(job.input, "failed", mask=job.mask, key=job.key)
    if job.problem:
        outcome.reason = job.problem
        return outcome
    if job.done():
        outcome.status, outcome.outputs = "skipped", job.paths()
        return outcome
    from ..engine.api import run

    try:
        image = open_source(job.input, "image")
        mask = open_source(job.mask, "mask") if job.mask else None
        recipe = Recipe.from_dict(job.recipe)
        request = build_request(job, recipe, mgr, image=image, mask=mask)
        result = run(request, progress=progress, mgr=mgr, cancel=cancel)
        written = []
        for i, (made, path) in enumerate(zip(result.images, job.paths(), strict=True)):
            meta = dict(result.metadata[i])
            meta["batch"] = {"input": storage.redact(job.input), "mask": storage.redact(job.mask) if job.mask
                             else None, "key": job.key, "recipe": job.recipe, "recipe_line": recipe.line()}
            try:
                storage.save_png(made, path, metadata=meta, command=result.commands[i])
            except OutputExistsError:
                pass  # another worker wrote it first: the same job, the same pixels
            written.append(path)
    except CancelledError:
        raise
    except Exception as err:  # noqa: BLE001 - one bad input is recorded; the batch goes on
        outcome.reason = failure_text(err)
        outcome.seconds = time.perf_counter() - started
        return outcome
    outcome.status, outcome.outputs = "done", written
    outcome.seconds = time.perf_counter() - started
    return outcome


__all__ = ["Outcome", "build_request", "failure_text", "open_source", "run_job"]
