"""Studio: one widget from an image to an edited image and back again.

It composes the MaskPainter (paint), the TextMaskTuner (mask by words) and the
OutpaintMargins (grow the canvas) with the generation parameters, a Generate
button, progress with previews, Cancel, a gallery of results and a history of
replayable ``invoke>`` commands. Generation runs in a worker thread, so the
notebook stays live; ``studio.generate()`` returns at once and ``studio.wait()``
blocks until the run ends.

The request hands the engine the image and the painted mask as arrays. Every run
also writes them under ``outdir/studio-inputs`` as the replay record of its
history line, so each line replays as written with ``%%invoke``. The model is
fixed when Generate is pressed: a model change applies to the next run.

Live mode (the **Live** switch, ``studio.live = True``): after every finished
stroke, text-mask change, prompt edit or parameter change, a few-step preview of
the crop around the mask (:func:`paint_widgets.preview`) runs in the background
and shows beside the canvas and in place on it (**On canvas**, under the mask
overlay); the newest change wins (:class:`._live.LatestWins`) and the seed is kept. ``studio.live_result`` is the latest preview shown. The
preview runs on one torch thread at a lower CPU priority (``live_threads``,
``live_nice``), so painting stays as responsive as with Live off; Generate cancels
a preview in flight and runs the full pass (the user's sampler and steps, the
previews' seed) without waiting behind it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import time
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
from PIL import Image

from ..cancel import CancelToken
from ..errors import CancelledError, InvalidInputError, MaskError, ModelLoadError, PaintError
from ..image_defaults import image_defaults
from ..imaging.infill import auto_method, infill
from ..imaging.outpaint_geometry import outcrop_canvas
from ..io import ImageLike, NumberedFile, ensure_outdir, load_image, save_numbered
from ..params import PARAM as PARAMS_BY_NAME
from ..params import PARAMS
from ..requests import GenerationParams, InpaintRequest, OutcropRequest
from ..result import Result
from ._canvas import enable_colab_widgets, report_error, report_info
from ._jobs import JobRunner
from ._lifetime import close_parts, close_tree, closed_error
from ._live import LatestWins
from ._model_picker import ModelPicker
from ._params import controls_for, swap_defaults, unplaced, values_from
from ._progress import RunDisplay, png_bytes
from .mask_painter import MaskPainter

ENGINES = ("diffusion", "infill")


class Studio(widgets.VBox):
    """Paint, mask by text or extend an image, generate, and keep going from a result.

    Args:
        image: path, PIL image or uint8 array (RGB or RGBA).
        model: diffusion model for this Studio (default: the kernel manager's).
        outdir: where inputs, saved results and history files go.
        engine: ``"diffusion"`` or ``"infill"`` (no weights: PatchMatch/Telea object removal).

    Arguments are checked before anything is built (one-line
    :class:`~paint_widgets.errors.InvalidInputError`). :meth:`close` cancels a run
    (its thread ends), closes every widget the Studio made (the tools, their
    canvases, the gallery cards) and frees their images, masks and undo histories;
    :attr:`results` and :attr:`history` stay, they are the caller's.
    """

    def __init__(self, image: ImageLike, *, model: str | None = None,
                 outdir: str | Path = "outputs/img-samples", engine: str = "diffusion",
                 mgr: Any = None) -> None:
        enable_colab_widgets()
        from ..engine.manager import manager

        if model is not None and not isinstance(model, (str, os.PathLike)):
            raise InvalidInputError(f"model must be a hub id, folder or .safetensors file (a string), not {model!r}")
        if not isinstance(outdir, (str, os.PathLike)):
            raise InvalidInputError(f"outdir must be a folder path, not {type(outdir).__name__} {outdir!r}")
        if not isinstance(engine, str) or engine not in ENGINES:
            raise InvalidInputError(f"engine must be one of {', '.join(map(repr, ENGINES))}, not {engine!r}")
        image_array = np.asarray(load_image(image))  # before any widget exists
        self._closed = False
        self.mgr = mgr or manager()
        self.model: str | None = os.fspath(model) if model is not None else None
        self.outdir = Path(outdir)
        self.results: list[Result] = []
        self.history: list[str] = []

        self.output = widgets.Output(layout=widgets.Layout(max_height="14em", overflow="auto"))
        self.status = widgets.HTML()
        self._build_parameters()
        self.model_picker = ModelPicker(self.model, self.mgr.default_model, self._set_model)
        self.params_box.children = (self.model_picker, *self.params_box.children)
        self._build_actions(engine)
        self._build_live()
        self._display = RunDisplay(self.progress, self._say, self.preview)
        self._jobs = JobRunner("studio", output=self.output, on_busy=self._set_busy,
                               on_done=self._show_result, on_error=self._on_failure)
        self.tabs = widgets.Tab()
        self.gallery = widgets.VBox()
        self.history_box = widgets.Textarea(
            layout=widgets.Layout(width="100%", height="8em"), placeholder="commands of every run"
        )
        self.history_box.disabled = True
        self._set_image(image_array)
        self._prefill_from(image)
        super().__init__(children=[
            widgets.HBox([self.tabs, self.live_box]), self.params_box, self.actions_box, self.status, self.output,
            widgets.HTML("<b>Results</b>"), self.gallery,
            widgets.HTML("<b>History</b> (replay with <code>%%invoke</code>)"), self.history_box,
        ])
        self.add_class("paint-widgets-studio")
        try:
            self._check_weights()
        except BaseException:
            self.close()  # its widgets must not outlive a failed constructor
            raise

    # ------------------------------------------------------------------ building

    def _build_parameters(self) -> None:
        """The parameter controls, built from the parameter table: ``self.steps``, ``self.cfg``, ..."""
        self.param_controls = controls_for(PARAMS, "inpaint")
        for name, control in self.param_controls.items():
            if hasattr(self, name):
                raise AttributeError(f"parameter {name!r} would replace Studio.{name}: rename its control")
            setattr(self, name, control)
        self.lock_seed = widgets.Checkbox(False, description="lock seed", indent=False)
        randomise = widgets.Button(description="", icon="random", tooltip="new random seed",
                                   layout=widgets.Layout(width="3em"))
        randomise.on_click(lambda _b: self.randomise_seed())
        c = self.param_controls
        main = [c["prompt"], c["negative_prompt"], widgets.HBox([c["steps"], c["cfg"]]),
                widgets.HBox([c["strength"], c["sampler"]]), widgets.HBox([c["seed"], self.lock_seed, randomise])]
        more = [widgets.HBox([c["inpaint_replace"], c["soft"]]), c["iterations"],
                widgets.HBox([c["seam_size"], c["seam_blur"]]),
                widgets.HBox([c["seam_strength"], c["seam_steps"]]), c["infill_method"]]
        more += unplaced(c, main + more)  # a parameter this layout does not place yet goes under "More"
        advanced = widgets.Accordion(children=[widgets.VBox(more)])
        advanced.set_title(0, "More: -r, --soft, -n, seams, infill")
        self.params_box = widgets.VBox([*main, advanced])

    def _build_actions(self, engine: str) -> None:
        self.engine = widgets.ToggleButtons(
            options=[("Diffusion model", "diffusion"), ("Infill, no weights", "infill")], value=engine,
            tooltips=["Stable Diffusion inpainting", "PatchMatch/Telea object removal on the CPU"],
        )
        self.generate_button = widgets.Button(description="Generate", button_style="primary", icon="paint-brush")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.generate_button.on_click(lambda _b: self.generate())
        self.cancel_button.on_click(lambda _b: self.cancel())
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="", layout=widgets.Layout(width="40%"))
        self.preview = widgets.Image(format="png", layout=widgets.Layout(max_width="256px", display="none"))
        self.actions_box = widgets.VBox([
            self.engine, widgets.HBox([self.generate_button, self.cancel_button, self.progress]), self.preview,
        ])

    def _build_live(self) -> None:
        """The Live switch, the preview beside the canvas, and the latest-wins worker behind them."""
        #: Live preview settings (read at each change): steps, guidance, sampler ("lcm" or an
        #: InvokeAI name), the few-step LoRA ("auto": the family's LCM-LoRA from the LoRA
        #: folder; None for a few-step model), a few-step model (None: the Studio's), the
        #: generated side (None: the model's native size).
        self.live_steps: int = 4
        self.live_cfg: float = 1.5
        self.live_sampler: str = "lcm"
        self.live_lora: str | None = "auto"
        self.live_model: str | None = None
        self.live_size: int | None = None
        #: torch intra-op threads of the preview worker (None: torch's default, every core). One
        #: leaves the other cores to the kernel, the browser and the server: with a preview on
        #: every core, painting's echo doubles on a small CPU (benchmarks/bench_live_echo.py).
        #: Only the worker's thread is set; the full-quality Generate keeps torch's default.
        self.live_threads: int | None = 1
        #: How much lower the preview worker's CPU priority is than the kernel's (Linux: the
        #: thread's niceness goes up by this much, once; 0: the same priority). When the CPU
        #: is busy the kernel's comm thread, the browser and the server then come first, so
        #: stroke echo stays as fast as with Live off; the preview takes what is left.
        self.live_nice: int = 10
        #: The latest preview shown (a Result whose ``request`` is its PreviewRequest), or None.
        self.live_result: Result | None = None
        #: Seconds from the change to the preview shown, of the latest one shown.
        self.live_latency: float | None = None
        self._live_key: Any = None
        self.live_switch = widgets.ToggleButton(False, description="Live", icon="bolt",
                                                tooltip="few-step previews while you paint (newest change wins)")
        self.live_view = widgets.Image(format="png", layout=widgets.Layout(width="256px", max_width="100%",
                                                                           display="none"))
        self.live_view.add_class("paint-widgets-live-view")
        self.live_status = widgets.HTML()
        self.live_on_canvas = widgets.ToggleButton(
            True, description="On canvas", layout=widgets.Layout(display="none"),
            tooltip="also show the preview in place on the Paint canvas (under the mask overlay)")
        self.live_box = widgets.VBox([self.live_switch, self.live_on_canvas, self.live_view, self.live_status],
                                     layout=widgets.Layout(margin="0 0 0 1em", flex="0 1 auto", min_width="0"))
        self._live = LatestWins(self._live_work, on_result=self._show_live, on_error=self._live_failed,
                                name="studio-live")
        self.live_switch.observe(self._on_live_switch, names="value")
        self.live_on_canvas.observe(lambda _c: self._live_to_canvas(), names="value")
        for control in self.param_controls.values():
            control.observe(self._on_live_change, names="value")
        self.engine.observe(self._on_live_change, names="value")

    @property
    def live(self) -> bool:
        """Live mode: a few-step preview after every change (the **Live** switch)."""
        switch = getattr(self, "live_switch", None)
        return bool(switch is not None and switch.value)

    @live.setter
    def live(self, on: bool) -> None:
        self.live_switch.value = bool(on)

    def live_wait(self, timeout: float | None = None) -> bool:
        """Block until no preview runs or waits (tests, notebooks); False if ``timeout`` passed first."""
        return self._live.wait(timeout)

    def _on_live_switch(self, change: Any) -> None:
        self.live_view.layout.display = self.live_on_canvas.layout.display = None if change["new"] else "none"
        self._live_to_canvas()
        if change["new"]:
            self._live_key = None
            self._on_live_change(None)
        else:  # stop asking; the LoRA stays loaded but every full pass runs without it
            self._live.invalidate()
            self._live_key = None
            self.live_status.value = ""

    def _on_live_change(self, _change: Any) -> None:
        """Something a preview depends on changed: ask for a new one (the newest wins)."""
        live = getattr(self, "_live", None)
        if live is None or not self.live or self._closed:
            return
        try:
            request = self._live_request()
        except PaintError as err:
            live.invalidate()
            self._live_key = None
            self.live_status.value = f"<small>{_escape(str(err))}</small>"
            return
        if request is None:
            live.invalidate()
            self._live_key = None
            return
        key = (id(self._image), _live_key(request))  # the image itself, not the view of it
        if key == self._live_key:
            return  # the same request as the newest one: nothing to redo
        self._live_key = key
        live.submit((request, time.perf_counter()))

    def _live_before_generate(self) -> None:
        """Generate while Live is on: cancel the preview in flight and drop the waiting one.

        The full pass needs the manager's generation lock, which a preview holds while it
        runs: without this, Generate would wait behind a preview nobody needs any more.
        The next change asks for a preview again (even of the same state).
        """
        live = getattr(self, "_live", None)
        if live is None or not self.live:
            return
        live.invalidate()
        self._live_key = None

    def _live_request(self) -> Any:
        """The PreviewRequest of the current mask, prompt and parameters; None if there is nothing to preview."""
        from ..engine.preview import PreviewRequest

        if self.engine.value != "diffusion" or self.tabs.selected_index == 2:
            self.live_status.value = "<small>Live previews inpainting (Paint and Text mask tabs, diffusion engine).</small>"
            return None
        params = self.params()
        params = params.with_(model=params.model or self.mgr.default_model())
        tab = self.tabs.selected_index
        mask = np.array(self.tuner.mask if tab == 1 else self.painter.mask, dtype=bool)
        if not mask.any():
            self.live_status.value = "<small>Paint an area to see a preview.</small>"
            return None
        if params.soft and tab == 0:
            mask = np.array(self.painter.soft_mask, dtype=np.float32)
        inpaint = InpaintRequest(image=self._image[..., :3], mask=mask, params=params, region="crop")
        return PreviewRequest(inpaint, steps=self.live_steps, cfg=self.live_cfg, sampler=self.live_sampler,
                              lora=self.live_lora, size=self.live_size, model=self.live_model)

    def _live_work(self, item: tuple[Any, float], token: CancelToken) -> Result:
        from ..engine.preview import run_preview

        request, _asked = item
        return run_preview(request, mgr=self.mgr, cancel=token, threads=self.live_threads, nice=self.live_nice)

    def _show_live(self, item: tuple[Any, float], result: Result) -> None:
        """Show a preview whose request is still the newest (the worker checked, under its lock)."""
        if self._closed:
            return
        _request, asked = item
        box = result.metadata[0]["preview"]["box"]
        crop = np.asarray(result.images[0])[box[0]:box[2], box[1]:box[3]]
        self.live_view.value = png_bytes(crop)
        self.live_result = result
        self.live_latency = time.perf_counter() - asked
        self.live_status.value = f"<small>preview {self.live_latency * 1000:.0f} ms, seed {result.seeds[0]}</small>"
        self._live_to_canvas()

    def _live_to_canvas(self) -> None:
        """The latest preview in place on the Paint canvas while Live and "On canvas" are on
        and the Paint tab is the one previewed; the image itself otherwise."""
        if self._closed or self.painter.closed:
            return
        result = self.live_result
        picture = None
        if self.live and self.live_on_canvas.value and result is not None and self.tabs.selected_index == 0:
            picture = np.asarray(result.images[0])
            if picture.shape[:2] != self.painter.image.shape[:2]:  # made for an image since replaced
                picture = None
        self.painter.show_image(picture)

    def _live_failed(self, _item: Any, err: BaseException) -> None:
        self.live_status.value = f"<small style='color:#b00020'>Live preview failed: {_escape(str(err))}</small>"
        report_error(self.output, err, "live preview")

    def _set_image(self, image: np.ndarray) -> None:
        """Show ``image`` in all three tools (used at start and by "use as input").

        The tools it replaces are closed: their canvases, buffers and undo histories go.
        """
        from .outpaint_margins import OutpaintMargins
        from .text_mask_tuner import TextMaskTuner

        replaced = tuple(self.tabs.children)
        self._image = image
        self.painter = MaskPainter(image)
        self.tuner = TextMaskTuner(image)
        self.margins = OutpaintMargins(image, show_run_controls=False)  # the Studio's own controls run it
        to_painter = widgets.Button(description="Use this mask in Paint", icon="arrow-left")
        to_painter.on_click(lambda _b: self._text_mask_to_painter())
        self.tabs.children = [self.painter, widgets.VBox([self.tuner, to_painter]), self.margins]
        self.painter.observe(self._on_live_change, names="mask_version")
        self.tuner.observe(self._on_live_change, names=["runs", "threshold", "grow", "feather"])
        for i, title in enumerate(("Paint (inpaint)", "Text mask (-tm)", "Outcrop (extend)")):
            self.tabs.set_title(i, title)
        if not getattr(self, "_tabs_observed", False):
            self.tabs.observe(self._on_tab, names="selected_index")
            self.tabs.observe(self._on_live_change, names="selected_index")
            self._tabs_observed = True
        for old in replaced:  # shown no more: close them, with everything they hold
            close_tree(old)
        self._on_live_change(None)  # a new image: a new preview

    #: The operation each tab runs (its parameter defaults); outcrop has its own.
    _TAB_OPERATIONS = ("inpaint", "inpaint", "outcrop")
    #: The parameters whose default the Outcrop tab changes (from the table).
    _OUTCROP_KEYS = tuple(p.name for p in PARAMS if p.default_for("outcrop") != p.default)

    def _on_tab(self, change: Any) -> None:
        """Outcrop has its own defaults (strength 0.9, a 96 px seam pass): swap them in and out."""
        ops = self._TAB_OPERATIONS
        old, new = (ops[i] if i is not None and 0 <= i < len(ops) else "inpaint"
                    for i in (change["old"], change["new"]))
        if old != new:  # each value the user left at its default follows the tab
            swap_defaults(self.param_controls, PARAMS, old, new)

    def _set_model(self, source: str | None) -> None:
        """The picker's choice: the model the next run uses (None: the manager's default)."""
        from ..engine.loading import describe_source

        try:
            if source:
                describe_source(source)  # a local path that does not exist is said now
        except PaintError as err:
            self._say(f"{err}; the model stays {self.model or 'the default'}", error=True)
            return
        self.model = source
        self._say(f"Model: {source or 'the default'}; it loads on the next run.")
        self._check_weights()

    def _check_weights(self) -> None:
        from ..engine.loading import weights_available

        ok, reason = weights_available(self.model or self.mgr.default_model())
        if not ok:
            self.engine.value = "infill"
            self._say(f"The diffusion model cannot be used here: {reason}. The infill engine (no weights) "
                      "is selected, so you can still remove objects; switch back when the model is available.")

    # ------------------------------------------------------------------ public API

    @property
    def running(self) -> bool:
        return self._jobs.running

    @property
    def image(self) -> np.ndarray:
        """The image being edited: uint8 ``(H, W, 3)`` or ``(H, W, 4)``."""
        if self._closed:
            raise closed_error(self)
        return self._image

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return bool(getattr(self, "_closed", True))

    def _prefill_from(self, image: ImageLike) -> None:
        """The prompt, negative prompt and seed stored in a PNG image (this package's
        metadata or InvokeAI's) fill the controls, seed locked, as ``!fix`` would run it."""
        if not isinstance(image, (str, os.PathLike, Image.Image)):
            return
        stored = image_defaults(image)
        for name in ("prompt", "negative_prompt", "seed"):
            if name in stored:
                self.param_controls[name].value = stored[name]
        if "seed" in stored:
            self.lock_seed.value = True
        if stored:
            found = " and ".join(n.replace("_", " ") for n in ("prompt", "seed") if n in stored)
            self._say(f"The {found} stored in the image are set (seed locked: untick for new seeds).")

    def randomise_seed(self) -> int:
        self.seed.value = random.randrange(2**32)
        return self.seed.value

    def params(self) -> GenerationParams:
        """The generation parameters as set in the widgets (validated)."""
        return GenerationParams(**values_from(self.param_controls), model=self.model)

    def generate(self) -> bool:
        """Start a run of the current tab in a worker thread; False (and a message) if one is running.

        The request is built and checked now, with the model of this moment; a second
        call while a run is going on (from any thread) is refused.
        """
        if self.running:
            self._say("Already generating: wait for it to finish or press Cancel.", error=True)
            return False
        if not self.lock_seed.value and not self.live:  # live: the seed the previews showed
            self.randomise_seed()
        try:
            job = self._job()
        except PaintError as err:
            self._say(str(err), error=True)
            return False
        self._live_before_generate()
        if self._jobs.start(functools.partial(self._work, job)) is None:
            self._say("Already generating: wait for it to finish or press Cancel.", error=True)
            return False
        return True

    def wait(self, timeout: float | None = None) -> Result | None:
        """Block until the run ends: its Result, or None if it failed or was cancelled.

        With ``timeout`` (seconds), None while the run is still going on after it.
        """
        return self._jobs.wait(timeout)

    def cancel(self) -> None:
        """Stop this Studio's run (only this one) at its next step, or before it starts."""
        if self._jobs.cancel():
            self._say("Cancelling…")

    def close(self) -> None:
        """Cancel a running job (and wait for its thread), then close every widget the Studio made.

        The tools (painter, text mask tuner, margins), their canvases and buffers, the
        gallery cards and the previews go; :attr:`results` and :attr:`history` stay.
        Idempotent.
        """
        jobs = getattr(self, "_jobs", None)  # None if the constructor failed
        if jobs is not None:
            jobs.close()
        live = getattr(self, "_live", None)
        if live is not None:
            live.close()
        if getattr(self, "_closed", True):  # closed, or the constructor stopped before building
            super().close()
            return
        self._closed = True
        if getattr(self, "_tabs_observed", False):
            self.tabs.unobserve(self._on_tab, names="selected_index")
            self._tabs_observed = False
        # the tabs and gallery too when the constructor stopped before they joined the Studio
        close_parts(self, also=(getattr(self, "tabs", None), getattr(self, "gallery", None)))
        self._image = np.zeros((0, 0, 3), np.uint8)
        if jobs is not None and not jobs.running:
            jobs.job = None  # a failed run's traceback holds its frames (and their arrays)
        super().close()

    def use_as_input(self, result: Result, index: int = 0) -> None:
        """Continue editing from a result (iterative inpainting and outcropping)."""
        self._set_image(np.asarray(result.images[index].convert("RGB")))
        self._say(f"Now editing result {result.seeds[index]} ({result.images[index].width}x{result.images[index].height}).")

    def save(self, result: Result, index: int = 0) -> Path:
        """Write one result image as ``NNNNNN.SEED.png`` with its command and parameters."""
        single = Result(images=[result.images[index]], seeds=[result.seeds[index]],
                        commands=[result.commands[index]], request=result.request,
                        metadata=result.metadata[index:index + 1])
        (path,) = single.save(self.outdir)
        self._say(f"Saved {path}")
        return path

    # ------------------------------------------------------------------ running

    def _record(self, request: Any) -> Any:
        """Write the run's image (and mask, ``-M`` convention) as the replay record of its history line.

        The engine uses the arrays in ``request``; the files only make the printed
        command replay as written.
        """
        files: list[NumberedFile] = [("input.png", Image.fromarray(request.image), None, None)]
        if isinstance(request, InpaintRequest):
            keep_white = np.where(request.mask, 0, 255).astype(np.uint8)
            files.append(("mask.png", Image.fromarray(keep_white, "L"), None, None))
        # one number claimed atomically for the pair: Studios (threads or kernels) sharing
        # an outdir each get their own, never a refusal because a name is taken
        paths = save_numbered(Path(self.outdir) / "studio-inputs", files)
        changes: dict[str, Any] = {"image_ref": str(paths[0])}
        if len(paths) > 1:
            changes["mask_ref"] = str(paths[1])
        return dataclasses.replace(request, **changes)

    def _job(self) -> Any:
        """The request (or infill job) for the active tab, validated before the thread starts."""
        params = self.params()
        params = params.with_(model=params.model or self.mgr.default_model())  # fixed for this run
        outcrop_tab = self.tabs.selected_index == 2
        if outcrop_tab:
            rgb, paint, _ = outcrop_canvas(self.image, **self.margins.margins)
            mask = paint >= 1.0
        else:
            rgb = self.image[..., :3]
            mask = np.array(self.tuner.mask if self.tabs.selected_index == 1 else self.painter.mask, dtype=bool)
            if not mask.any():
                raise MaskError("nothing to repaint: paint an area, or compute a text mask first")
        if self.engine.value == "infill":
            return ("infill", rgb, mask, params)
        if params.soft and self.tabs.selected_index == 0:  # --soft: the brush's values, not only where
            mask = np.array(self.painter.soft_mask, dtype=np.float32)
        ensure_outdir(self.outdir / "studio-inputs")  # its replay record must be writable: say so now
        if outcrop_tab:
            m = self.margins.margins
            return OutcropRequest(image=np.array(self.image), top=m["top"], right=m["right"],
                                  bottom=m["bottom"], left=m["left"], params=params)
        return InpaintRequest(image=np.array(rgb), mask=mask, params=params)

    def _work(self, job: Any, token: CancelToken) -> Result:
        """The worker thread's part: infill, or the request on the kernel's manager."""
        if isinstance(job, tuple):
            return self._infill(job)
        from ..engine.api import run
        from ..engine.hub import report_loads

        request = self._record(job)
        with report_loads(self._display.load):
            return run(request, progress=self._display.step, mgr=self.mgr, cancel=token,
                       on_wait=self._display.waiting)

    def _infill(self, job: tuple[str, np.ndarray, np.ndarray, GenerationParams]) -> Result:
        _, rgb, mask, params = job
        # the no-weights engine picks by the hole unless the user chose a method (the
        # table's default, patchmatch, is the reference's first guess for outpainting)
        method = "auto" if params.infill_method == PARAMS_BY_NAME["infill_method"].default else params.infill_method
        if method == "auto":
            method = auto_method(mask)
        out = infill(rgb, mask, method, tile_size=params.tile_size, seed=params.seed)
        command = f"# infill {method} (no model), seed {params.seed}"
        return Result(images=[Image.fromarray(out)], seeds=[params.seed or 0], commands=[command],
                      metadata=[{"app": "paint_widgets", "type": "infill", "command": command}])

    def _set_busy(self, busy: bool) -> None:
        self.generate_button.disabled = busy
        self.cancel_button.disabled = not busy
        if busy:
            self._display.started("Generating…")
        else:
            self._display.finished()

    def _on_failure(self, err: BaseException) -> None:
        if isinstance(err, CancelledError):
            self._say("Cancelled; nothing was changed.")
        elif isinstance(err, ModelLoadError):
            self.engine.value = "infill"
            self._say(f"The diffusion model could not be loaded ({err}). Switched to the infill engine, "
                      "which needs no weights: press Generate again to remove the painted object.", error=True)
        else:
            report_error(self.output, err, "generate")
            self._say(f"Generation failed: {err}", error=True)

    def _show_result(self, result: Result) -> None:
        self.results.append(result)
        self.history.extend(result.commands)
        if self._closed:  # a run that ended after close(): keep the result, make no card
            return
        self.history_box.value = "\n".join(self.history)
        cards = [self._card(result, i) for i in range(len(result.images))]
        self.gallery.children = (*cards, *self.gallery.children)
        self._say(f"Done: {len(result.images)} image(s), seed(s) {', '.join(map(str, result.seeds))}.")

    def _card(self, result: Result, index: int) -> widgets.Widget:
        image = widgets.Image(value=png_bytes(np.asarray(result.images[index].convert("RGB"))), format="png",
                              layout=widgets.Layout(max_width="320px"))
        command = widgets.HTML(f"<code style='font-size:11px'>{_escape(result.commands[index])}</code>")
        again = widgets.Button(description="Use as input", icon="repeat")
        save = widgets.Button(description="Save", icon="save")
        again.on_click(lambda _b: self._guard(self.use_as_input, result, index))
        save.on_click(lambda _b: self._guard(self.save, result, index))
        return widgets.HBox([image, widgets.VBox([command, widgets.HBox([again, save])])])

    def _guard(self, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
        except Exception as err:  # noqa: BLE001 - callbacks report in the widget
            report_error(self.output, err, getattr(fn, "__name__", "action"))

    def _text_mask_to_painter(self) -> None:
        try:
            self.tuner.send_to(self.painter)
            self.tabs.selected_index = 0
        except Exception as err:  # noqa: BLE001
            report_error(self.output, err, "text mask")

    def recipe(self) -> Any:
        """The prompt, text mask and parameters set here, as a :class:`~paint_widgets.batching.Recipe`
        for ``pw.batch(folder, recipe=studio.recipe())`` (or ``.save("recipe.txt")``).

        The text mask (words, threshold, grow, feather) comes from the Text mask tab when
        it holds one; the seed only when it is locked (else each image gets its own).
        """
        from ..batching.recipe import Recipe

        params = self.params()
        defaults = GenerationParams()
        changed = {p.name: getattr(params, p.name) for p in PARAMS
                   if p.name not in ("prompt", "seed") and getattr(params, p.name) != getattr(defaults, p.name)}
        if self.lock_seed.value:
            changed["seed"] = params.seed
        tuner = self.tuner
        words = tuner.prompt.strip() if tuner.text_mask is not None else ""
        return Recipe(prompt=params.prompt, text_mask=(words, float(tuner.threshold)) if words else None,
                      grow=int(tuner.grow) if words else 0, feather=int(tuner.feather) if words else 0,
                      params=changed)

    def _say(self, text: str, *, error: bool = False) -> None:
        colour = "#b00020" if error else "#333"
        self.status.value = f"<span style='color:{colour}'>{_escape(text)}</span>"
        if error:
            report_info(self.output, text)


def _live_key(request: Any) -> tuple[Any, ...]:
    """What makes two preview requests of one image the same: mask bits, parameters, preview settings."""
    inpaint = request.request
    mask = np.asarray(inpaint.mask)
    bits = np.packbits(mask).tobytes() if mask.dtype == bool else mask.tobytes()
    return (hash(bits), mask.shape, inpaint.params, request.steps, request.cfg,
            request.sampler, request.lora, request.size, request.model)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
