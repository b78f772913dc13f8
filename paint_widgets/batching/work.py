"""Carry out one batch job on a manager: the same request and engine call as a single image.

Shared by the local loop and the Ray actors, so both make the same pixels and the
same files. Each output is written atomically (temp file, then a link that never
overwrites) under its deterministic name, with the command line that reproduces
it and the metadata a single image gets, plus a ``batch`` entry (input, mask,
key, recipe).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cancel import CancelToken
from ..errors import CancelledError, OutputExistsError
from ..io import check_image_file, save_png_atomic
from ..requests import InpaintRequest
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

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def failure_text(err: BaseException) -> str:
    """One line naming what went wrong (the type too when the message does not say it)."""
    from ..commands.runner import one_line
    from ..errors import PaintError

    text = one_line(str(err))
    return text if isinstance(err, PaintError) and text else f"{type(err).__name__}: {text}".rstrip(": ")


def build_request(job: Job, recipe: Recipe, mgr: Any) -> InpaintRequest:
    """The InpaintRequest of ``job``: the recipe's parameters with the job's seed.

    A text mask with grow/feather is computed here (the kept heatmap refined as the
    TextMaskTuner refines it) and handed over as an array; without them the request
    carries ``-tm`` and the engine computes it, as a single image would.
    """
    params = recipe.generation_params(seed=job.seeds[0], model=job.model)
    mask: Any = job.mask
    text_mask = recipe.text_mask
    if text_mask is not None and (recipe.grow or recipe.feather):
        from ..engine.textmask import text_mask as compute_text_mask

        tm = compute_text_mask(job.input, text_mask[0], text_mask[1], manager=mgr)
        mask = np.asarray(tm.refined(text_mask[1], recipe.grow, recipe.feather), dtype=np.float32)
        text_mask = None
    options = dict(recipe.options)
    return InpaintRequest(image=job.input, mask=mask, params=params, invert_mask=recipe.invert_mask,
                          text_mask=text_mask, image_ref=job.input,
                          mask_ref=job.mask if isinstance(mask, str) else None, **options)


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
        outcome.status, outcome.outputs = "skipped", [str(p) for p in job.paths()]
        return outcome
    from ..engine.api import run

    try:
        check_image_file(job.input, "image")  # stat + header: a FIFO, a bomb or a non-image before any model
        if job.mask:
            check_image_file(job.mask, "mask")
        recipe = Recipe.from_dict(job.recipe)
        request = build_request(job, recipe, mgr)
        result = run(request, progress=progress, mgr=mgr, cancel=cancel)
        written = []
        for i, (image, path) in enumerate(zip(result.images, job.paths(), strict=True)):
            meta = dict(result.metadata[i])
            meta["batch"] = {"input": job.input, "mask": job.mask, "key": job.key, "recipe": job.recipe,
                             "recipe_line": recipe.line()}
            try:
                save_png_atomic(image, path, metadata=meta, command=result.commands[i])
            except OutputExistsError:
                pass  # another worker wrote it first: the same job, the same pixels
            written.append(str(path))
    except CancelledError:
        raise
    except Exception as err:  # noqa: BLE001 - one bad input is recorded; the batch goes on
        outcome.reason = failure_text(err)
        outcome.seconds = time.perf_counter() - started
        return outcome
    outcome.status, outcome.outputs = "done", written
    outcome.seconds = time.perf_counter() - started
    return outcome


__all__ = ["Outcome", "build_request", "failure_text", "run_job"]
