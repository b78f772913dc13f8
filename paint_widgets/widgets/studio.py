"""Studio: one widget from an image to an edited image and back again.

It composes the MaskPainter (paint), the TextMaskTuner (mask by words) and the
OutpaintMargins (grow the canvas) with the generation parameters, a Generate
button, progress with previews, Cancel, a gallery of results and a history of
replayable ``invoke>`` commands. Generation runs in a worker thread, so the
notebook stays live; ``studio.generate()`` returns at once and ``studio.wait()``
blocks until the run ends.

Every run writes its input image and mask under ``outdir/studio-inputs`` and
builds its request from those files, so each history line replays as written
with ``%%invoke``.
"""

from __future__ import annotations

import io as _io
import random
import threading
import time
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
from PIL import Image

from ..engine.denoise import Step
from ..errors import CancelledError, MaskError, ModelLoadError, PaintError
from ..imaging.infill import infill
from ..imaging.outpaint_geometry import outcrop_canvas
from ..io import ImageLike, load_image, next_number, save_png_atomic
from ..requests import INFILL_METHODS, SAMPLERS, GenerationParams, InpaintRequest, OutcropRequest
from ..result import Result
from ._canvas import enable_colab_widgets, report_error, report_info
from .mask_painter import MaskPainter

ENGINES = ("diffusion", "infill")
PREVIEW_EVERY_S = 0.5


def _png(array: np.ndarray) -> bytes:
    buffer = _io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


class Studio(widgets.VBox):
    """Paint, mask by text or extend an image, generate, and keep going from a result.

    Args:
        image: path, PIL image or uint8 array (RGB or RGBA).
        model: diffusion model for this Studio (default: the kernel manager's).
        outdir: where inputs, saved results and history files go.
        engine: ``"diffusion"`` or ``"infill"`` (no weights: PatchMatch/Telea object removal).
    """

    def __init__(self, image: ImageLike, *, model: str | None = None,
                 outdir: str | Path = "outputs/img-samples", engine: str = "diffusion",
                 mgr: Any = None) -> None:
        enable_colab_widgets()
        from ..engine.manager import manager

        self.mgr = mgr or manager()
        self.model = model
        self.outdir = Path(outdir)
        self.results: list[Result] = []
        self.history: list[str] = []
        self._thread: threading.Thread | None = None
        self._last_preview = 0.0
        self._cancel_requested = False
        self._run_error: BaseException | None = None

        self.output = widgets.Output(layout=widgets.Layout(max_height="14em", overflow="auto"))
        self.status = widgets.HTML()
        self._build_parameters()
        self._build_actions(engine)
        self.tabs = widgets.Tab()
        self.gallery = widgets.VBox()
        self.history_box = widgets.Textarea(
            layout=widgets.Layout(width="100%", height="8em"), placeholder="commands of every run"
        )
        self.history_box.disabled = True
        self._set_image(np.asarray(load_image(image)))
        super().__init__(children=[
            self.tabs, self.params_box, self.actions_box, self.status, self.output,
            widgets.HTML("<b>Results</b>"), self.gallery,
            widgets.HTML("<b>History</b> (replay with <code>%%invoke</code>)"), self.history_box,
        ])
        self.add_class("paint-widgets-studio")
        self._check_weights()

    # ------------------------------------------------------------------ building

    def _build_parameters(self) -> None:
        d = GenerationParams()
        full = widgets.Layout(width="98%")
        wide = {"description_width": "8em"}
        self.prompt = widgets.Textarea(placeholder="what to paint", description="Prompt", layout=full)
        self.negative_prompt = widgets.Text(placeholder="what to avoid", description="Negative", layout=full)
        self.steps = widgets.IntSlider(d.steps, min=1, max=150, description="Steps (-s)", style=wide)
        self.cfg = widgets.FloatSlider(d.cfg, min=0.0, max=30.0, step=0.5, description="CFG (-C)", style=wide)
        self.strength = widgets.FloatSlider(d.strength, min=0.01, max=1.0, step=0.01, description="Strength (-f)", style=wide)
        self.seed = widgets.BoundedIntText(random.randrange(2**32), min=0, max=2**32 - 1, description="Seed (-S)", style=wide)
        self.lock_seed = widgets.Checkbox(False, description="lock seed", indent=False)
        randomise = widgets.Button(description="", icon="random", tooltip="new random seed",
                                   layout=widgets.Layout(width="3em"))
        randomise.on_click(lambda _b: self.randomise_seed())
        self.sampler = widgets.Dropdown(options=SAMPLERS, value=d.sampler, description="Sampler (-A)", style=wide)
        self.inpaint_replace = widgets.FloatSlider(0.0, min=0.0, max=1.0, step=0.05, description="Replace (-r)", style=wide)
        self.iterations = widgets.IntSlider(1, min=1, max=8, description="Images (-n)", style=wide)
        self.seam_size = widgets.IntText(d.seam_size, description="seam_size", style=wide)
        self.seam_blur = widgets.IntText(d.seam_blur, description="seam_blur", style=wide)
        self.seam_strength = widgets.FloatText(d.seam_strength, description="seam_strength", style=wide)
        self.seam_steps = widgets.IntText(d.seam_steps, description="seam_steps", style=wide)
        self.infill_method = widgets.Dropdown(options=INFILL_METHODS, value=d.infill_method, description="Infill", style=wide)
        advanced = widgets.Accordion(children=[widgets.VBox([
            self.inpaint_replace, self.iterations,
            widgets.HBox([self.seam_size, self.seam_blur]), widgets.HBox([self.seam_strength, self.seam_steps]),
            self.infill_method,
        ])])
        advanced.set_title(0, "More: -r, -n, seams, infill")
        self.params_box = widgets.VBox([
            self.prompt, self.negative_prompt,
            widgets.HBox([self.steps, self.cfg]), widgets.HBox([self.strength, self.sampler]),
            widgets.HBox([self.seed, self.lock_seed, randomise]), advanced,
        ])

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

    def _set_image(self, image: np.ndarray) -> None:
        """Show ``image`` in all three tools (used at start and by "use as input")."""
        from .outpaint_margins import OutpaintMargins
        from .text_mask_tuner import TextMaskTuner

        self.image = image
        self.painter = MaskPainter(image)
        self.tuner = TextMaskTuner(image)
        self.margins = OutpaintMargins(image)
        for own in ("prompt_field", "button", "cancel_button", "progress"):  # the Studio's own controls run it
            control = getattr(self.margins, own, None)
            if control is not None:
                control.layout.display = "none"
        to_painter = widgets.Button(description="Use this mask in Paint", icon="arrow-left")
        to_painter.on_click(lambda _b: self._text_mask_to_painter())
        self.tabs.children = [self.painter, widgets.VBox([self.tuner, to_painter]), self.margins]
        for i, title in enumerate(("Paint (inpaint)", "Text mask (-tm)", "Outcrop (extend)")):
            self.tabs.set_title(i, title)
        if not getattr(self, "_tabs_observed", False):
            self.tabs.observe(self._on_tab, names="selected_index")
            self._tabs_observed = True

    _OUTCROP_KEYS = ("strength", "seam_size", "seam_blur", "seam_strength", "seam_steps")

    def _on_tab(self, change: Any) -> None:
        """Outcrop has its own defaults (strength 0.9, a 96 px seam pass): swap them in and out."""
        general, outcrop = GenerationParams(), OutcropRequest.default_params()
        if change["new"] == 2:
            old, new = general, outcrop
        elif change["old"] == 2:
            old, new = outcrop, general
        else:
            return
        for key in self._OUTCROP_KEYS:  # each value the user left at its default follows the tab
            control = getattr(self, key)
            if abs(control.value - getattr(old, key)) < 1e-9:
                control.value = getattr(new, key)

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
        return self._thread is not None and self._thread.is_alive()

    def randomise_seed(self) -> int:
        self.seed.value = random.randrange(2**32)
        return self.seed.value

    def params(self) -> GenerationParams:
        """The generation parameters as set in the widgets (validated)."""
        return GenerationParams(
            prompt=self.prompt.value, negative_prompt=self.negative_prompt.value, steps=self.steps.value,
            cfg=self.cfg.value, strength=self.strength.value, seed=self.seed.value, sampler=self.sampler.value,
            iterations=self.iterations.value, inpaint_replace=self.inpaint_replace.value,
            seam_size=self.seam_size.value, seam_blur=self.seam_blur.value,
            seam_strength=self.seam_strength.value, seam_steps=self.seam_steps.value,
            infill_method=self.infill_method.value, model=self.model,
        )

    def generate(self) -> bool:
        """Start a run of the current tab in a worker thread; False (and a message) if one is running."""
        if self.running:
            self._say("Already generating: wait for it to finish or press Cancel.", error=True)
            return False
        if not self.lock_seed.value:
            self.randomise_seed()
        try:
            job = self._job()
        except PaintError as err:
            self._say(str(err), error=True)
            return False
        self._run_error = None
        self._cancel_requested = False
        self.generate_button.disabled = True
        self.cancel_button.disabled = False
        self.progress.value = 0
        self._thread = threading.Thread(target=self._work, args=(job,), name="paint-widgets-studio", daemon=True)
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> Result | None:
        """Block until the running generation ends; the newest result (None if it failed)."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self._run_error is not None:
            return None
        return self.results[-1] if self.results else None

    def cancel(self) -> None:
        """Stop the running generation after its current step."""
        if self.running:
            self._cancel_requested = True  # honoured at the next step, even if the run has not started
            self.mgr.cancel()
            self._say("Cancelling…")

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

    def _inputs(self, mask: np.ndarray | None) -> tuple[str, str | None]:
        """Write the current image (and mask, -M convention) so the command replays."""
        folder = self.outdir / "studio-inputs"
        n = next_number(folder)
        image_path = save_png_atomic(Image.fromarray(self.image), folder / f"{n:06d}.input.png")
        mask_path = None
        if mask is not None:
            keep_white = np.where(mask, 0, 255).astype(np.uint8)
            mask_path = save_png_atomic(Image.fromarray(keep_white, "L"), folder / f"{n:06d}.mask.png")
        return str(image_path), (str(mask_path) if mask_path else None)

    def _job(self) -> Any:
        """The request (or infill job) for the active tab, validated before the thread starts."""
        params = self.params()
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
        if outcrop_tab:
            path, _ = self._inputs(None)
            return OutcropRequest(image=path, **self.margins.margins, params=params, image_ref=path)
        path, mask_path = self._inputs(mask)
        return InpaintRequest(image=path, mask=mask_path, params=params, image_ref=path, mask_ref=mask_path)

    def _work(self, job: Any) -> None:
        try:
            result = self._infill(job) if isinstance(job, tuple) else self._diffuse(job)
            self._show_result(result)
        except BaseException as err:  # noqa: BLE001 - shown in the widget, never lost in the thread
            self._run_error = err
            self._on_failure(err)
        finally:
            self.generate_button.disabled = False
            self.cancel_button.disabled = True
            self.preview.layout.display = "none"

    def _diffuse(self, request: Any) -> Result:
        from ..engine.api import run

        self._say("Generating…")
        return run(request, progress=self._on_step, mgr=self.mgr)

    def _infill(self, job: tuple[str, np.ndarray, np.ndarray, GenerationParams]) -> Result:
        _, rgb, mask, params = job
        out = infill(rgb, mask, params.infill_method, tile_size=params.tile_size, seed=params.seed)
        command = f"# infill {params.infill_method} (no model), seed {params.seed}"
        return Result(images=[Image.fromarray(out)], seeds=[params.seed or 0], commands=[command],
                      metadata=[{"app": "paint_widgets", "type": "infill", "command": command}])

    def _on_step(self, step: Step) -> None:
        if self._cancel_requested:
            self.mgr.cancel()
        self.progress.max = max(step.total, 1)
        self.progress.value = step.step
        now = time.monotonic()
        if now - self._last_preview >= PREVIEW_EVERY_S or step.step == step.total:
            self._last_preview = now
            preview = step.preview()
            if preview is not None:
                self.preview.value = _png(preview)
                self.preview.layout.display = ""

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
        self.history_box.value = "\n".join(self.history)
        cards = [self._card(result, i) for i in range(len(result.images))]
        self.gallery.children = (*cards, *self.gallery.children)
        self._say(f"Done: {len(result.images)} image(s), seed(s) {', '.join(map(str, result.seeds))}.")

    def _card(self, result: Result, index: int) -> widgets.Widget:
        image = widgets.Image(value=_png(np.asarray(result.images[index].convert("RGB"))), format="png",
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

    def _say(self, text: str, *, error: bool = False) -> None:
        colour = "#b00020" if error else "#333"
        self.status.value = f"<span style='color:{colour}'>{_escape(text)}</span>"
        if error:
            report_info(self.output, text)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
