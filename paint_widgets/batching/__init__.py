"""Batch inpainting: one recipe over a folder of images, locally or on Ray.

``pw.batch(folder, prompt=..., text_mask=..., outdir=...)`` builds the same
:class:`~paint_widgets.requests.InpaintRequest` a single image gets, for each
image, and runs it on one manager (one model load for the whole batch) or on a
Ray Data actor pool (one manager per actor). See :func:`.api.batch`.

Modules: :mod:`.recipe` (what to apply; prompt-file lines), :mod:`.jobs`
(inputs, masks by stem, keys and output names), :mod:`.work` (one job),
:mod:`.local` and :mod:`.ray_engine` (the engines), :mod:`.progress` and
:mod:`.report` (what the caller sees).
"""

from __future__ import annotations

from .api import DEFAULT_BATCH_OUTDIR, batch
from .recipe import Recipe
from .report import BatchProgress, BatchReport
from .work import Outcome

__all__ = ["DEFAULT_BATCH_OUTDIR", "BatchProgress", "BatchReport", "Outcome", "Recipe", "batch"]
