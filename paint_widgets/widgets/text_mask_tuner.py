"""TextMaskTuner: choose a text mask's prompt and threshold by eye, then use or touch it up.

Type what to select ("hair", "face|hair"), press Enter or *Select*: CLIPSeg runs
once and the heatmap is kept (:class:`~paint_widgets.imaging.text_mask.TextMask`).
The threshold slider, grow and feather then only re-threshold that heatmap and
redraw a translucent overlay: **they never run the model**.

Drawing: a two-layer ipycanvas ``MultiCanvas``. The picture layer is sent once
(on creation and on ``client_ready`` after a page reload). The overlay layer is
one colour with a varying alpha, so it is sent as a palette PNG (256 entries,
``colour`` at alpha 0..255) whose pixels are the overlay's alpha: encoding a
768x768 overlay takes ~2 ms, where ipycanvas' own ``put_image_data`` spends
20-40 ms PNG-encoding an RGBA array (and would JPEG an RGB one). Images larger
than ``max_view`` are previewed scaled down; the mask itself is always computed
at the image's full size.
"""

from __future__ import annotations

import functools
import io
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
import numpy as np
from ipycanvas import MultiCanvas
from PIL import Image
from traitlets import Float, Int, Unicode, validate

from ..cancel import CancelToken
from ..errors import CancelledError, InvalidInputError
from ..imaging import masks
from ..imaging.text_mask import (
    PREVIEW_COLOR,
    PREVIEW_OPACITY,
    TextMask,
    check_threshold,
    resize_heatmap,
    selection_alpha,
)
from ..imaging.text_mask_plot import figure_png, plot_text_mask
from ..io import ImageLike, load_image, require_number
from ._canvas import ViewMap, enable_colab_widgets, held, report_error, resize_rgba, routed, to_rgba
from ._jobs import JobRunner
from ._lifetime import (
    check_color,
    check_number,
    check_text,
    check_view,
    close_parts,
    closed_error,
    unlink_all,
)

IMAGE, OVERLAY = 0, 1
#: ``grow`` (image px; negative shrinks) and ``feather`` ranges: the traits and their sliders share them.
GROW_RANGE = (-256, 256)
FEATHER_RANGE = (0, 256)


def overlay_png(alpha: np.ndarray, color: tuple[int, int, int] = PREVIEW_COLOR) -> bytes:
    """PNG of a one-colour overlay: palette entry ``i`` is ``color`` at alpha ``i``; pixels = ``alpha``.

    Decodes to the same RGBA as ``(color, alpha)`` per pixel, at a quarter of the
    data and a fraction of the encoding time of an RGBA PNG.
    """
    im = Image.fromarray(np.ascontiguousarray(alpha, dtype=np.uint8))
    im.putpalette(bytes(int(c) for c in color[:3]) * 256)  # an L image with a palette becomes P
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1, transparency=bytes(range(256)))
    return buf.getvalue()


def image_png(rgb: np.ndarray) -> bytes:
    """Lossless PNG of an RGB image, fast (zlib level 1): 4-8x quicker than ipycanvas' RGBA PNG."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb[..., :3])).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def put_png(layer: Any, png: bytes, x: int = 0, y: int = 0, *,
            fallback: Callable[[], np.ndarray] | None = None) -> None:
    """Draw encoded PNG bytes on an ipycanvas ``Canvas`` (what ``put_image_data`` sends, pre-encoded).

    Uses the same ``putImageData`` command ipycanvas 0.14 sends after its own
    encoding; if that internal is missing, falls back to
    ``put_image_data(fallback())`` (an RGBA array).
    """
    try:
        from ipycanvas.canvas import COMMANDS

        send = layer._canvas_manager.send_draw_command
        command = COMMANDS["putImageData"]
    except (ImportError, AttributeError, KeyError):
        if fallback is None:
            raise
        layer.put_image_data(fallback(), x, y)
        return
    send(layer, command, [x, y], [png])


class TextMaskTuner(widgets.VBox):
    """Pick a text mask (prompt + threshold) with a live preview; ``tuner.mask`` is the result.

    Args:
        image: a path, PIL image or uint8 array; or a :class:`TextMask` (no model run
            needed: its image, heatmap, prompt and threshold are used).
        prompt: what to select; if given, the model runs now.
        threshold: in [0, 1]; a pixel is selected when CLIPSeg's confidence is ``>=`` it
            (default 0.5, or the given TextMask's).
        model: CLIPSeg folder or Hub id (default: the manager's text-mask model).
        grow, feather: refine the mask (image pixels): dilate (-256 to 256; negative
            shrinks), then soften the edge (0 to 256). The sliders have the same ranges.
        opacity, color: the overlay's look: in [0, 1]; three whole numbers from 0 to 255.
        max_view, min_view: the preview's longest side is at most ``max_view`` (8 to
            8192) and small images are enlarged to ``min_view`` (0 to ``max_view``).
        manager: the PipelineManager (default: the kernel's).

    Every argument is checked before anything is built (one-line
    :class:`~paint_widgets.errors.InvalidInputError` naming it and its range);
    :meth:`close` closes every widget the tuner made and frees its image and heatmaps.

    Readable from the kernel: ``threshold``, ``prompt``, ``grow``, ``feather``
    (traitlets, also settable), :attr:`mask` (bool, image size, grown),
    :attr:`paint_mask` (float32, grown and feathered: pass it to ``inpaint``),
    :attr:`text_mask`, :attr:`coverage`. :meth:`send_to` / :meth:`to_painter` hand
    the mask to a :class:`~paint_widgets.widgets.mask_painter.MaskPainter`.
    """

    threshold = Float(0.5)
    prompt = Unicode("")
    grow = Int(0)
    feather = Int(0)
    opacity = Float(PREVIEW_OPACITY)
    #: Bumps after each model run (observe it to react to a new text mask).
    runs = Int(0, read_only=True)
    #: The threshold :attr:`plot_image` shows (None before the first plot).
    plotted_threshold: float | None
    _plot_dirty: bool
    _plot_busy: bool

    def __init__(
        self,
        image: ImageLike | TextMask,
        prompt: str = "",
        *,
        threshold: float | None = None,
        model: str | None = None,
        grow: int = 0,
        feather: int = 0,
        opacity: float = PREVIEW_OPACITY,
        color: tuple[int, int, int] = PREVIEW_COLOR,
        max_view: int = 768,
        min_view: int = 256,
        manager: Any = None,
    ) -> None:
        enable_colab_widgets()
        if isinstance(prompt, (list, tuple)):
            prompt = "|".join(check_text(p, "prompt") for p in prompt)
        prompt = check_text(prompt, "prompt")
        if threshold is not None:
            threshold = check_threshold(threshold)
        if model is not None and not isinstance(model, (str, os.PathLike)):
            raise InvalidInputError(f"model must be a CLIPSeg folder or Hub id (a string), not {model!r}")
        grow = check_number(grow, "grow", low=GROW_RANGE[0], high=GROW_RANGE[1], integer=True)
        feather = check_number(feather, "feather", low=FEATHER_RANGE[0], high=FEATHER_RANGE[1], integer=True)
        opacity = check_number(opacity, "opacity", low=0.0, high=1.0)
        color = check_color(color)
        max_view, min_view = check_view(max_view, min_view)
        self._closed = False
        self._links: list[Any] = []
        self._lock = threading.RLock()
        self._model = model
        self._manager = manager
        self._tm: TextMask | None = None
        self._found: TextMask | None = None  # as computed; _tm leaves out the dropped instances
        self._dropped: set[int] = set()
        self._heat_view: np.ndarray | None = None
        self._mask_cache: tuple[tuple[Any, ...], np.ndarray] | None = None
        self._paint_cache: tuple[tuple[Any, ...], np.ndarray] | None = None
        self._quiet = False  # set while run() updates `prompt` itself
        self._preview_sel: np.ndarray | None = None
        self._pending: str | None = None  # a prompt typed while the previous one was computed
        self.color = color
        #: Milliseconds the last overlay redraw took (threshold → sent PNG), for diagnostics.
        self.last_preview_ms = 0.0

        if isinstance(image, TextMask):
            given: TextMask | None = image
            self._pil = Image.fromarray(image.image)
            threshold = image.threshold if threshold is None else threshold
            prompt = prompt or image.prompt
        else:
            given = None
            self._pil = load_image(image)
            threshold = 0.5 if threshold is None else threshold
        self._rgb = np.asarray(self._pil.convert("RGB")) if self._pil.mode != "RGB" else np.asarray(self._pil)
        h, w = self._rgb.shape[:2]
        self.view = ViewMap.fit(h, w, max_view, min_view)
        self._view_rgb = resize_rgba(self._rgb, self.view.view_width, self.view.view_height)

        self.canvas = MultiCanvas(
            2, width=self.view.view_width, height=self.view.view_height,
            # natural size (1 canvas px = 1 CSS px), shrinking only on narrow screens
            layout=widgets.Layout(width=f"{self.view.view_width}px", max_width="100%", height="auto"),
        )
        self.canvas.add_class("paint-widgets-canvas")
        self.output = widgets.Output(layout=widgets.Layout(max_height="10em", overflow="auto"))
        controls = self._build_controls()
        self._jobs = JobRunner("text mask", output=self.output, on_busy=self._set_busy,
                               on_error=self._on_run_error, on_idle=self._run_pending)
        super().__init__(children=[*controls, self.canvas, self.plot_image, self.output])
        self.add_class("paint-widgets-text-mask-tuner")

        try:
            self.threshold = check_threshold(threshold)
            self.grow = grow
            self.feather = feather
            self.opacity = opacity
            self.canvas.on_client_ready(self._on_client_ready)
            self.observe(self._on_look, names=["threshold", "grow", "feather", "opacity"])
            self.observe(self._on_prompt, names="prompt")
            self._draw_image()
            if given is not None:
                self._set_prompt(prompt)
                self._set_text_mask(given)
            elif prompt.strip():
                self.run(prompt)
            else:
                self._set_prompt(prompt)
                self._update_label()
        except BaseException:
            self.close()  # a failed first run (no model, bad prompt) must not leave its widgets alive
            raise

    # ------------------------------------------------------------------ public API

    @property
    def image(self) -> np.ndarray:
        """The image, uint8 ``(H, W, 3)``."""
        self._check_open()
        return self._rgb

    @property
    def color(self) -> tuple[int, int, int]:
        """The overlay's RGB colour (three whole numbers from 0 to 255, checked when set)."""
        return self._color

    @color.setter
    def color(self, value: Any) -> None:
        self._color = check_color(value)
        if "_label" in self.__dict__ and not self._closed:  # shown at once
            self._on_look(None)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return bool(getattr(self, "_closed", True))

    @property
    def text_mask(self) -> TextMask | None:
        """The current :class:`TextMask` (None before the first prompt)."""
        return self._tm

    @property
    def mask(self) -> np.ndarray:
        """bool ``(H, W)`` at the image's size: ``heatmap >= threshold``, grown by :attr:`grow`.

        (Feathering only softens edges: it is in :attr:`paint_mask`.) All False before
        the first prompt.
        """
        self._check_open()
        with self._lock:
            if self._tm is None:
                return np.zeros(self._rgb.shape[:2], dtype=bool)
            key = (id(self._tm), self.threshold, self.grow)
            if self._mask_cache is None or self._mask_cache[0] != key:
                self._mask_cache = (key, masks.grow(self._tm.mask(self.threshold), int(self.grow)))
            out = self._mask_cache[1].view()
            out.flags.writeable = False
            return out

    @property
    def paint_mask(self) -> np.ndarray:
        """float32 ``(H, W)`` paint mask: thresholded, grown and feathered (``inpaint(image, tuner.paint_mask)``)."""
        self._check_open()
        with self._lock:
            if self._tm is None:
                return np.zeros(self._rgb.shape[:2], dtype=np.float32)
            key = (id(self._tm), self.threshold, self.grow, self.feather)
            if self._paint_cache is None or self._paint_cache[0] != key:
                self._paint_cache = (key, self._tm.refined(self.threshold, self.grow, self.feather))
            out = self._paint_cache[1].view()
            out.flags.writeable = False
            return out

    @property
    def coverage(self) -> float:
        """Share of the image :attr:`mask` selects, in [0, 1] (exact, at full size)."""
        return float(np.count_nonzero(self.mask)) / self.mask.size

    def run(self, prompt: str | None = None, *, force: bool = False) -> TextMask:
        """Run CLIPSeg for ``prompt`` (default: :attr:`prompt`) now and show the result.

        Blocking, for code; typing a prompt or pressing Select uses :meth:`start`, which
        keeps the kernel free. The only methods that run the model; a prompt equal to the
        current text mask's is not re-run unless ``force``. Raises on bad input (empty
        prompt) and :class:`~paint_widgets.CancelledError` if cancelled.
        """
        text = self._checked(prompt)
        if not force and self._is_current(text):
            return self._tm  # type: ignore[return-value]
        while True:
            self._jobs.wait()  # a computation started from the UI finishes first
            job = self._jobs.start(functools.partial(self._compute, text), background=False)
            if job is not None:
                break
        if job.error is not None:
            raise job.error
        return job.result

    def start(self, prompt: str | None = None, *, force: bool = False) -> bool:
        """Compute the text mask for ``prompt`` in a worker thread; the kernel stays free.

        A prompt typed while another is computed runs right after it (the newest wins).
        Returns False if it was queued behind a running computation.
        """
        text = self._checked(prompt)
        if not force and self._is_current(text):
            return True
        if self._jobs.start(functools.partial(self._compute, text)) is None:
            self._pending = text
            return False
        return True

    def wait(self, timeout: float | None = None) -> TextMask | None:
        """Block until the running computation ends: its TextMask, or None if it failed."""
        tm = self._jobs.wait(timeout)
        while self._pending is not None or self._jobs.running:  # a queued prompt runs next
            if timeout is not None:
                break
            tm = self._jobs.wait()
        return tm

    def cancel(self) -> None:
        """Stop the running computation if it has not reached the model yet."""
        self._pending = None
        self._jobs.cancel()

    def close(self) -> None:
        """Cancel a running computation, then close every widget the tuner made and free its arrays.

        Idempotent. Masks taken from it before stay valid; its image, heatmaps and
        previews are dropped, so the memory goes even while something still refers to it.
        """
        self._pending = None
        jobs = getattr(self, "_jobs", None)  # None if the constructor failed
        if jobs is not None:
            jobs.close()
        if getattr(self, "_closed", True):  # closed, or the constructor stopped before building
            super().close()
            return
        self._closed = True
        unlink_all(self._links)
        self._links = []
        close_parts(self)
        with self._lock:
            self._tm = self._found = None
            self._heat_view = self._preview_sel = None
            self._mask_cache = self._paint_cache = None
            self._pil = Image.new("RGB", (1, 1))
            self._rgb = np.zeros((0, 0, 3), np.uint8)
            self._view_rgb = np.zeros((0, 0, 3), np.uint8)
        super().close()

    def send_to(self, painter: Any) -> Any:
        """Hand :attr:`mask` to a MaskPainter (``painter.set_mask``) for touch-up; returns the painter."""
        set_mask = getattr(painter, "set_mask", None)
        if set_mask is None:
            raise InvalidInputError(f"{type(painter).__name__} has no set_mask(); pass a MaskPainter")
        mask = np.array(self.mask)
        if hasattr(painter, "mask") and np.shape(painter.mask) != mask.shape:
            raise InvalidInputError(
                f"the painter's image is {np.shape(painter.mask)[1]}x{np.shape(painter.mask)[0]} but this "
                f"tuner's is {mask.shape[1]}x{mask.shape[0]}; use tuner.to_painter()"
            )
        set_mask(mask)
        return painter

    def to_painter(self, **kwargs: Any) -> Any:
        """A new :class:`MaskPainter` on this image, starting from :attr:`mask`."""
        from .mask_painter import MaskPainter

        return MaskPainter(self._rgb, mask=np.array(self.mask), **kwargs)

    def redraw(self) -> None:
        """Draw both layers from Python state (also run when a page reload reconnects)."""
        with held(self.canvas):
            self._draw_image()
            self._draw_overlay()

    # ------------------------------------------------------------------ internals

    @validate("threshold")
    def _valid_threshold(self, proposal: Any) -> float:
        return check_threshold(proposal["value"])

    @validate("grow")
    def _valid_grow(self, proposal: Any) -> int:
        low, high = GROW_RANGE
        return int(require_number(proposal["value"], "grow", low=low, high=high, integer=True))

    @validate("feather")
    def _valid_feather(self, proposal: Any) -> int:
        low, high = FEATHER_RANGE
        return int(require_number(proposal["value"], "feather", low=low, high=high, integer=True))

    @validate("opacity")
    def _valid_opacity(self, proposal: Any) -> float:
        return float(np.clip(require_number(proposal["value"], "opacity"), 0.0, 1.0))

    def _check_open(self) -> None:
        if self._closed:
            raise closed_error(self)

    def _set_prompt(self, text: str) -> None:
        self._quiet = True
        try:
            self.prompt = text
        finally:
            self._quiet = False

    def _checked(self, prompt: str | None) -> str:
        from ..imaging.text_mask import split_prompts

        self._check_open()
        text = self.prompt if prompt is None else prompt
        split_prompts(text)  # validate before touching anything
        return text

    def _is_current(self, text: str) -> bool:
        """Whether ``text`` is what the current text mask shows (then nothing runs)."""
        with self._lock:
            if self._tm is not None and text.strip() == self._tm.prompt and not self._jobs.running:
                self._set_prompt(text)
                return True
        return False

    def _compute(self, text: str, token: CancelToken) -> TextMask:
        """The job: one CLIPSeg call on the manager, then the new mask on the canvas."""
        from ..engine.hub import report_loads
        from ..engine.textmask import text_mask

        self._label.value = f"selecting {text.strip()!r}…"
        with report_loads(self._on_load):
            tm = text_mask(self._pil, text, self.threshold, model=self._model, manager=self._manager,
                           cancel=token, on_wait=self._on_wait)
        with self._lock:
            self._set_prompt(text)
            self._set_text_mask(tm)
        return tm

    def _set_busy(self, busy: bool) -> None:
        self._run_button.disabled = busy
        if not busy:
            self._update_label()

    def _on_wait(self) -> None:
        self._label.value = "waiting for the running generation to finish…"

    def _on_load(self, event: Any) -> None:
        self._label.value = event.describe()

    def _on_run_error(self, err: BaseException) -> None:
        if not isinstance(err, CancelledError):
            report_error(self.output, err, "text mask")

    def _run_pending(self, _none: None = None) -> None:
        text, self._pending = self._pending, None
        if text is not None:
            self.start(text)

    def _set_text_mask(self, tm: TextMask) -> None:
        self._check_open()  # a computation that ends after close() shows nothing
        if tm.shape != self._rgb.shape[:2]:
            raise InvalidInputError("the text mask was made for an image of another size")
        self._found, self._dropped = tm, set()
        self._list_instances(tm)
        self._show(tm)

    # ------------------------------------------------------------------ SAM 3 instances

    @property
    def instances(self) -> tuple[Any, ...]:
        """The instances SAM 3 found for the current prompt, best score first (all of them,
        dropped ones included; empty with CLIPSeg)."""
        return self._found.instances if self._found is not None else ()

    @property
    def dropped(self) -> frozenset[int]:
        """Indices into :attr:`instances` the user dropped (their pixels are not in the mask)."""
        return frozenset(self._dropped)

    def drop_instance(self, index: int, dropped: bool = True) -> None:
        """Leave instance ``index`` out of the mask (``dropped=False``: take it back); no model run."""
        self._check_open()
        found = self._found
        if found is None or not found.instances:
            raise InvalidInputError("no SAM 3 instances to drop: this text mask has none (CLIPSeg gives a heatmap)")
        if not 0 <= index < len(found.instances):
            raise InvalidInputError(f"instance {index} out of range: there are {len(found.instances)}")
        (self._dropped.add if dropped else self._dropped.discard)(index)
        box = self.instances_box.children[index]
        if isinstance(box, widgets.Checkbox) and box.value == dropped:
            box.value = not dropped  # the checkbox shows it (its observer comes back here: no change)
        self._show(found.without(*sorted(self._dropped)) if self._dropped else found)

    def _list_instances(self, tm: TextMask) -> None:
        boxes = []
        for i, inst in enumerate(tm.instances):
            box = widgets.Checkbox(True, description=f"{inst.prompt} #{i + 1}: score {inst.score:.2f}",
                                   indent=False, layout=widgets.Layout(width="auto"))
            box.observe(lambda change, i=i: self._on_instance(i, change), names="value")
            boxes.append(box)
        for old in self.instances_box.children:
            old.close()
        self.instances_box.children = boxes
        self.instances_box.layout.display = None if boxes else "none"

    @routed(lambda self: self.output)
    def _on_instance(self, index: int, change: Any) -> None:
        if (index in self._dropped) != (not change["new"]):
            self.drop_instance(index, dropped=not change["new"])

    def _show(self, tm: TextMask) -> None:
        """Make ``tm`` the current text mask: preview, label and plot follow (no model run)."""
        with self._lock:
            self._tm = tm
            self._heat_view = resize_heatmap(tm.heatmap, self.view.view_height, self.view.view_width)
            self._mask_cache = self._paint_cache = None
            self.set_trait("runs", self.runs + 1)
            self._draw_overlay()
            self._update_label()
        self._refresh_plot()

    def _view_selection(self) -> np.ndarray | None:
        if self._heat_view is None:
            return None
        cutoff = self.threshold if self._tm is None else self._tm.cutoff(self.threshold)
        sel = self._heat_view >= cutoff
        if self.grow:
            sel = masks.grow(sel, round(self.grow * self.view.sx))
        return sel

    def _draw_image(self) -> None:
        layer = self.canvas[IMAGE]
        with held(self.canvas):
            layer.clear()
            put_png(layer, image_png(self._view_rgb), 0, 0,
                    fallback=lambda: to_rgba(self._view_rgb, opaque=True))  # lossless, never JPEG

    def _draw_overlay(self) -> None:
        start = time.perf_counter()
        layer = self.canvas[OVERLAY]
        sel = self._view_selection()
        with held(self.canvas):
            layer.clear()
            if sel is not None and sel.any():
                alpha = selection_alpha(sel, self.opacity, self.feather * self.view.sx)
                put_png(layer, overlay_png(alpha, self.color), 0, 0,
                        fallback=lambda: self._overlay_rgba(alpha))
        self._preview_sel = sel
        self.last_preview_ms = (time.perf_counter() - start) * 1000.0

    def _overlay_rgba(self, alpha: np.ndarray) -> np.ndarray:
        rgba = np.empty((*alpha.shape, 4), dtype=np.uint8)
        rgba[..., :3] = self.color
        rgba[..., 3] = alpha
        return rgba

    def _update_label(self) -> None:
        sel = self._preview_sel
        if self._tm is None or sel is None:
            self._label.value = "type what to select, then Enter"
            return
        share = np.count_nonzero(sel) / sel.size
        approx = "≈" if (self.view.view_height, self.view.view_width) != self._rgb.shape[:2] else ""
        self._label.value = f"{approx}{share:.1%} of the image selected"

    @routed(lambda self: self.output)
    def _on_look(self, _change: Any) -> None:
        with self._lock:
            self._draw_overlay()
            self._update_label()
        self._refresh_plot()

    # ------------------------------------------------------------------ threshold plot

    def plot(self, threshold: float | None = None, **kwargs: Any) -> Any:
        """The threshold plot of the current text mask at ``threshold`` (default: the
        slider's): a matplotlib Figure, see :meth:`TextMask.plot`."""
        self._check_open()
        if self._tm is None:
            raise InvalidInputError("no text mask yet: type what to select first")
        return self._tm.plot(self.threshold if threshold is None else threshold, **kwargs)

    @routed(lambda self: self.output)
    def _on_plot_toggle(self, change: Any) -> None:
        self.plot_image.layout.display = None if change["new"] else "none"
        self._refresh_plot()

    def _refresh_plot(self) -> None:
        """Redraw the plot in a worker thread, latest threshold wins: moving the slider
        never waits for matplotlib (about 0.1 s a figure)."""
        if self._closed or not self.plot_toggle.value or self._tm is None:
            return
        with self._plot_lock:
            self._plot_dirty = True
            if self._plot_busy:
                return
            self._plot_busy = True
        threading.Thread(target=self._plot_worker, name="paint-widgets-tuner-plot", daemon=True).start()

    def _plot_worker(self) -> None:
        try:
            while True:
                with self._plot_lock:
                    if not self._plot_dirty or self._closed:
                        return
                    self._plot_dirty = False
                with self._lock:
                    tm, threshold = self._tm, self.threshold
                if tm is None:
                    return
                png = figure_png(plot_text_mask(tm, threshold))
                if not self._closed:
                    self.plot_image.value = png
                    self.plotted_threshold = threshold
        except Exception as err:  # noqa: BLE001 - shown in the widget, never lost in a thread
            report_error(self.output, err)
        finally:
            with self._plot_lock:
                self._plot_busy = False

    @routed(lambda self: self.output)
    def _on_prompt(self, change: Any) -> None:
        if not self._quiet:
            self.start(change["new"])

    @routed(lambda self: self.output)
    def _on_click(self, _button: Any) -> None:
        self.start(self._text.value)

    @routed(lambda self: self.output)
    def _on_client_ready(self) -> None:
        self.redraw()

    def recipe(self, prompt: str = "", **params: Any) -> Any:
        """This text mask (words, threshold, grow, feather) with ``prompt`` and ``params``
        (GenerationParams fields) as a :class:`~paint_widgets.batching.Recipe`: tune on one
        picture, then ``pw.batch(folder, recipe=tuner.recipe("a white wall"))``."""
        from ..batching.recipe import Recipe

        if not self.prompt.strip():
            raise InvalidInputError("the tuner has no text to select yet: type one (e.g. hair) first")
        return Recipe(prompt=prompt, text_mask=(self.prompt.strip(), float(self.threshold)),
                      grow=int(self.grow), feather=int(self.feather), params=params)

    def _build_controls(self) -> list[widgets.Widget]:
        self._text = widgets.Text(
            placeholder="what to select, e.g. hair or face|hair", continuous_update=False,
            layout=widgets.Layout(width="24em"),
        )
        self._run_button = widgets.Button(description="Select", icon="search",
                                          tooltip="Run CLIPSeg for this prompt (once)",
                                          layout=widgets.Layout(width="auto"))
        self._run_button.on_click(self._on_click)
        slider = widgets.FloatSlider(
            min=0.0, max=1.0, step=0.01, description="Threshold", readout_format=".2f",
            continuous_update=True, layout=widgets.Layout(width="24em"),
        )
        # the traits' own ranges: a value set from code is the value the slider shows
        grow = widgets.IntSlider(min=GROW_RANGE[0], max=GROW_RANGE[1], description="Grow",
                                 tooltip="grow (+) or shrink (-) the selection, image pixels",
                                 continuous_update=True, layout=widgets.Layout(width="24em"))
        feather = widgets.IntSlider(min=FEATHER_RANGE[0], max=FEATHER_RANGE[1], description="Feather",
                                    continuous_update=True, layout=widgets.Layout(width="24em"))
        self._label = widgets.Label()
        self.plot_toggle = widgets.ToggleButton(
            False, description="Plot", icon="line-chart", layout=widgets.Layout(width="auto"),
            tooltip="heatmap with the threshold's outline, and the share selected as the threshold moves",
        )
        #: The threshold plot (:meth:`plot`) as PNG, shown while :attr:`plot_toggle` is on.
        self.plot_image = widgets.Image(format="png", layout=widgets.Layout(display="none", max_width="100%"))
        self.plot_toggle.observe(self._on_plot_toggle, names="value")
        self._plot_lock = threading.Lock()
        self._plot_dirty = self._plot_busy = False
        self.plotted_threshold = None
        self._links = [
            widgets.link((self, "prompt"), (self._text, "value")),
            widgets.link((self, "threshold"), (slider, "value")),
            widgets.link((self, "grow"), (grow, "value")),
            widgets.link((self, "feather"), (feather, "value")),
        ]
        self._slider = slider
        self._grow_slider, self._feather_slider = grow, feather
        #: SAM 3's instances with their scores, each a checkbox: untick to drop one.
        self.instances_box = widgets.VBox(layout=widgets.Layout(display="none"))
        return [
            widgets.HBox([self._text, self._run_button]),
            widgets.HBox([slider, self._label, self.plot_toggle]),
            widgets.HBox([grow, feather]),
            self.instances_box,
        ]
