"""``pw.batch``: one recipe over a folder of images, locally or on a Ray cluster."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from ..cancel import CancelToken
from ..errors import InvalidInputError
from ..io import ensure_outdir
from . import storage
from .jobs import Job, list_inputs, mask_index, plan
from .progress import Tracker, make_display
from .recipe import REQUEST_OPTIONS, Recipe
from .report import BatchProgress, BatchReport, Manifest
from .work import Outcome

ENGINES = ("local", "ray")
DEFAULT_BATCH_OUTDIR = os.path.join("outputs", "batch")
RecipeLike = Recipe | Sequence[Recipe] | str | os.PathLike


def recipes_from(recipe: RecipeLike | None) -> list[Recipe]:
    """A recipe, a list of them, or a prompt file (one recipe a line) as a list."""
    if recipe is None:
        return [Recipe()]
    if isinstance(recipe, Recipe):
        return [recipe]
    if isinstance(recipe, (str, os.PathLike)):
        return Recipe.load(recipe)
    recipes = list(recipe)
    if not recipes or not all(isinstance(r, Recipe) for r in recipes):
        raise InvalidInputError("recipe must be a Recipe, a list of Recipes or a prompt file")
    return recipes


def _override(recipe: Recipe, prompt: str | None, text_mask: Any, changes: dict[str, Any]) -> Recipe:
    """``recipe`` with what the call gives explicitly (prompt, text mask, refinements, outcrop or
    outpaint, parameters)."""
    options = {k: changes.pop(k) for k in REQUEST_OPTIONS if k in changes}
    refine = {k: changes.pop(k) for k in ("grow", "feather", "invert_mask") if k in changes}
    given = {k: changes.pop(k, None) for k in ("outcrop", "outpaint")}
    # an outcrop given here replaces the recipe's outpaint, and the other way round
    shape = given if any(v is not None for v in given.values()) else {}
    if not (prompt is not None or text_mask is not None or changes or options or refine or shape):
        return recipe
    return Recipe(
        prompt=recipe.prompt if prompt is None else prompt,
        text_mask=recipe.text_mask if text_mask is None else text_mask,
        grow=refine.get("grow", recipe.grow), feather=refine.get("feather", recipe.feather),
        invert_mask=refine.get("invert_mask", recipe.invert_mask),
        params={**recipe.params, **changes}, options={**recipe.options, **options},
        outcrop=shape.get("outcrop", recipe.outcrop), outpaint=shape.get("outpaint", recipe.outpaint),
    )


def _prepare_outdir(outdir: str | os.PathLike) -> str:
    """The output folder, created: a local path (checked writable) or a URL."""
    where = storage.normalise(outdir, "output folder")
    return storage.make_folder(where) if storage.is_url(where) else str(ensure_outdir(where))


def _refuse_process_memory(engine: str, places: Iterable[Any]) -> None:
    """``memory://`` lives in this process: Ray's workers cannot see it."""
    if engine != "ray":
        return
    for place in places:
        if isinstance(place, str) and storage.protocol(place) == "memory":
            raise InvalidInputError(f"{place} is in this process's memory, which Ray workers cannot reach; "
                                    "with engine='ray' use a shared folder or storage every node reaches "
                                    "(s3://, gs://, ftp:// ...)")


def batch(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    masks: str | os.PathLike | None = None,
    text_mask: str | tuple[str, float] | None = None,
    prompt: str | None = None,
    outdir: str | os.PathLike = DEFAULT_BATCH_OUTDIR,
    recipe: RecipeLike | None = None,
    engine: str = "local",
    address: str | None = None,
    workers: int | None = None,
    progress: Callable[[BatchProgress], None] | None = None,
    display: str | None = "auto",
    mgr: Any = None,
    cancel: CancelToken | None = None,
    outcrop: Any = None,
    outpaint: Any = None,
    **params: Any,
) -> BatchReport:
    """Inpaint every image of ``inputs`` with one recipe; returns a :class:`BatchReport`.

    ``inputs``: a folder (its image files, by name), one file or a list of files.
    ``masks``: a folder of masks matched by file stem (``-M`` convention: black or
    transparent = paint), or one mask for all; else ``text_mask`` (``"orange"`` or
    ``("orange", 0.6)``), else each image's transparency. ``recipe``: a
    :class:`Recipe` (``studio.recipe()``, ``tuner.recipe()``), a list, or a prompt
    file (one recipe a line, each applied to every image); ``prompt``, ``text_mask``
    and ``params`` (GenerationParams fields, ``grow``, ``feather``, ``invert_mask``,
    ``region``, ``crop_padding``) override it. ``outcrop`` (``{"top": 64}`` or
    ``"top 64 right 32"``) grows each image as ``pw.outcrop`` would, ``outpaint``
    (``("top", 64)`` or ``"top"``) shifts it as ``pw.outpaint`` would; neither takes masks,
    and with an empty prompt each render made by this package (or InvokeAI) is extended
    with its own stored prompt, as ``!fix`` does (the seed stays the batch's).

    ``inputs``, ``masks`` and ``outdir`` may be local paths or fsspec URLs
    (``s3://bucket/in``, ``gs://...``, ``ftp://host/in``, ``file:///...``; ``memory://``
    on the local engine only); a protocol whose package is missing says what to install.

    Outputs go to ``outdir`` as ``<stem>.<seed>.<key>.png`` with the command line and
    metadata a single image gets; a rerun skips outputs already written for the same
    input and parameters, so an interrupted batch resumes. A bad input is recorded
    (file, one-line reason) and skipped. ``engine="ray"`` runs on a Ray cluster
    (``address``, ``$RAY_ADDRESS`` or a local one; ``workers`` actors), with inputs
    and outputs on storage every node reaches. ``progress`` gets a
    :class:`BatchProgress` per event; ``display``: ``"auto"`` (a widget in a
    notebook, a bar on a terminal), ``"widget"``, ``"bar"`` or None.
    """
    if engine not in ENGINES:
        raise InvalidInputError(f"engine must be one of {ENGINES}, not {engine!r}")
    _refuse_process_memory(engine, [inputs, masks, outdir])
    if engine == "ray":
        from .ray_engine import import_ray

        import_ray()  # without Ray: say how to install it, before any work
    if isinstance(text_mask, str):
        text_mask = (text_mask, 0.5)
    recipes = [_override(r, prompt, text_mask, {**params, "outcrop": outcrop, "outpaint": outpaint})
               for r in recipes_from(recipe)]
    if masks is not None and all(r.operation != "inpaint" for r in recipes):
        raise InvalidInputError("outcrop and outpaint paint the new area and take no masks; leave out masks=")
    found = list_inputs(inputs)
    mask_files = mask_index(masks)
    from ..engine.manager import manager

    mgr = mgr or manager()
    folder = _prepare_outdir(outdir)
    existing = storage.names(folder) if storage.is_url(folder) else None  # one listing for the resume check
    jobs = [plan(image, mask_files, r, r.params.get("model") or mgr.default_model(), folder)
            for r in recipes for image in found.images]
    report = BatchReport(ignored=found.ignored, engine=engine, outdir=storage.redact(folder))
    sinks = [s for s in (progress, make_display(display)) if s is not None]
    tracker = Tracker(len(jobs), sinks)
    manifest = Manifest(folder)

    def finished(outcome: Outcome) -> None:
        report.outcomes.append(outcome)
        if outcome.status != "skipped":
            manifest.add(outcome)
        tracker.finished(outcome)

    started = time.perf_counter()
    tracker.start()
    try:
        pending: list[Job] = []
        for job in jobs:  # known now: no model needed to skip or refuse them
            if job.problem or job.done(existing):
                from .work import run_job

                finished(run_job(job, mgr) if job.problem else skipped(job))
            else:
                pending.append(job)
        if engine == "ray":
            from .ray_engine import run_ray

            run_ray(pending, finished, model=mgr.default_model(), textmask_model=mgr.default_textmask_model(),
                    address=address, workers=workers)
        else:
            from .local import run_local

            run_local(pending, mgr, tracker, finished, cancel=cancel)
    finally:
        report.seconds = time.perf_counter() - started
        manifest.close()
        tracker.end()
    return report


def skipped(job: Job) -> Outcome:
    """The outcome of a job whose outputs are all written already."""
    return Outcome(job.input, "skipped", outputs=job.paths(), mask=job.mask, key=job.key)


__all__ = ["DEFAULT_BATCH_OUTDIR", "ENGINES", "batch", "recipes_from"]
