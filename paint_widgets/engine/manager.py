"""The kernel-resident PipelineManager: load each model once, keep it on the device.

One manager lives per kernel (``paint_widgets.manager()``); it survives re-running
import cells and ``%autoreload`` because it is kept in a module of its own in
``sys.modules`` that has no file to reload. Different operations on the same model
share components (``from_pipe``), so they cost no memory and no load. A memory
budget evicts the least recently used model (to the CPU, or out on a CPU device).
One lock serialises generation: widget callbacks may run on other threads.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import traceback
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from ..cancel import CancelToken
from ..errors import InvalidInputError, OutOfMemoryError
from ..io import require_number
from . import hub, loading
from .devices import empty_cache, is_out_of_memory, pick_device, pick_dtype


@dataclass
class _Resident:
    """A loaded model: the object users get, the modules that hold its memory."""

    kind: str  # "diffusion" or "textmask"
    source: str
    obj: Any
    modules: list[torch.nn.Module]
    bytes: int
    on_device: bool = True
    views: dict[str, Any] = field(default_factory=dict)  # task -> pipeline sharing components


class PipelineManager:
    """Loads models once and keeps them on the device between notebook cells."""

    def __init__(self, *, device: str | torch.device | None = None, dtype: str | torch.dtype | None = None,
                 budget_bytes: int | None = None) -> None:
        self.lock = threading.RLock()
        self.device = pick_device(device)  # only a device this machine has: InvalidInputError otherwise
        self.dtype = pick_dtype(self.device, dtype)  # only a dtype that device runs
        self.budget_bytes = budget_bytes
        self.allow_pickle = False
        self.fast: bool | str = False  # False, True or "compile"
        self.loads = 0
        self.generations = 0
        self._model: str | None = None
        self._textmask_model: str | None = None
        self._segment_model: str | None = None
        self._model_config: str | None = None
        self._lora_dir: str | None = None
        self._residents: OrderedDict[tuple[str, str], _Resident] = OrderedDict()
        self._runs: set[CancelToken] = set()  # the tokens of the runs holding the manager
        self._local = threading.local()  # this thread's run, while it holds the manager

    # ------------------------------------------------------------------ settings

    def configure(self, *, model: str | None = None, textmask_model: str | None = None,
                  device: str | torch.device | None = None, dtype: str | torch.dtype | None = None,
                  budget_bytes: int | None = None, allow_pickle: bool | None = None,
                  fast: bool | str | None = None, model_config: str | None = None,
                  lora_dir: str | None = None, segment_model: str | None = None) -> PipelineManager:
        """Set this kernel's defaults. Changing device, dtype or fast releases resident models.

        ``model_config``: a local diffusers folder of the same family as a single
        ``.safetensors`` model file, whose configs and tokenizers it loads with (needed
        offline unless diffusers' default config repo for it is cached; see the README).
        ``lora_dir``: the folder ``withLora(name,weight)`` finds ``name.safetensors`` in
        (InvokeAI's ``loras`` folder; :mod:`paint_widgets.engine.loras`).

        ``segment_model``: the SAM checkpoint of click-to-segment (:mod:`paint_widgets.engine.segment`).

        ``fast=True``: SDPA attention and channels_last on every diffusion model loaded
        from now on; ``fast="compile"`` also ``torch.compile``s the UNet and the VAE
        decoder (see :mod:`paint_widgets.engine.fast`); ``fast=False`` (default): neither.
        """
        # Check what can be checked before changing anything: a bad value leaves every
        # setting as it was. A local model path that does not exist is refused here, so
        # the previous model stays the default (a Hub id is checked when it loads).
        if model is not None:
            loading.describe_source(str(model))
        if textmask_model is not None:
            loading.describe_source(str(textmask_model))
        if segment_model is not None:
            loading.describe_source(str(segment_model))
        if model_config and not os.path.isdir(os.path.expanduser(str(model_config))):
            raise InvalidInputError(f"model_config must be a local diffusers folder, not {model_config!r}")
        if lora_dir and not os.path.isdir(os.path.expanduser(str(lora_dir))):
            raise InvalidInputError(f"lora_dir must be a folder of .safetensors LoRAs, not {lora_dir!r}")
        if budget_bytes is not None:
            budget_bytes = int(require_number(budget_bytes, "budget_bytes", low=0, low_open=True))
        # a device this machine has, a dtype it runs (one-line InvalidInputError naming the choices)
        new_device = pick_device(device) if device is not None else self.device
        new_dtype = pick_dtype(new_device, dtype) if device is not None or dtype is not None else self.dtype
        setting = None
        if fast is not None:
            from .fast import fast_setting

            setting = fast_setting(fast)
        # Defaults take effect at once, without waiting for a running generation: a run
        # keeps the model it started with, the next run takes the new one.
        if model is not None:
            self._model = str(model)
        if textmask_model is not None:
            self._textmask_model = str(textmask_model)
        if segment_model is not None:
            self._segment_model = str(segment_model)
        if model_config is not None:
            self._model_config = str(model_config) or None
        if lora_dir is not None:
            self._lora_dir = str(lora_dir) or None
        if allow_pickle is not None:
            self.allow_pickle = bool(allow_pickle)
        if budget_bytes is None and setting is None and device is None and dtype is None:
            return self
        with self.lock:  # these change resident models: after the running generation
            if budget_bytes is not None:
                self.budget_bytes = budget_bytes
                self._enforce_budget(keep=None)
            if setting is not None and setting != self.fast:
                self.fast = setting
                self.release()
            if device is not None or dtype is not None:
                if (new_device, new_dtype) != (self.device, self.dtype):
                    self.release()
                    self.device, self.dtype = new_device, new_dtype
        return self

    def lora_dir(self) -> str | None:
        """``configure(lora_dir=)`` > ``$PAINT_WIDGETS_LORA_DIR`` > None (LoRAs by path only)."""
        return self._lora_dir or os.environ.get("PAINT_WIDGETS_LORA_DIR") or None

    def model_config(self) -> str | None:
        """``configure(model_config=)`` > ``$PAINT_WIDGETS_MODEL_CONFIG`` > None (diffusers' default configs)."""
        return self._model_config or os.environ.get("PAINT_WIDGETS_MODEL_CONFIG") or None

    def default_model(self) -> str:
        """Per-call ``model=`` > ``configure(model=)`` > ``$PAINT_WIDGETS_MODEL`` > the default.

        Inside a :meth:`session` given a model, that model (in the session's thread).
        """
        pinned = getattr(self._local, "model", None)
        if pinned:
            return str(pinned)
        return self._model or os.environ.get("PAINT_WIDGETS_MODEL") or loading.DEFAULT_MODEL

    def default_textmask_model(self) -> str:
        return (self._textmask_model or os.environ.get("PAINT_WIDGETS_TEXTMASK_MODEL")
                or loading.DEFAULT_TEXTMASK_MODEL)

    def default_segment_model(self) -> str:
        """``configure(segment_model=)`` > ``$PAINT_WIDGETS_SEGMENT_MODEL`` > ``facebook/sam-vit-base``."""
        return self._segment_model or os.environ.get("PAINT_WIDGETS_SEGMENT_MODEL") or loading.DEFAULT_SEGMENT_MODEL

    # ------------------------------------------------------------------ models

    def pipeline(self, model: str | None = None, task: str = "inpaint"):
        """The diffusion pipeline for ``model``, loaded once; ``task`` shares its components.

        ``task`` is ``"inpaint"`` (the loaded pipeline), ``"img2img"`` or ``"text2img"``
        (built with ``from_pipe``: no load, no extra memory).
        """
        source = model or self.default_model()
        with self.lock:
            resident = self._resident("diffusion", str(source))
            if task == "inpaint":
                return resident.obj
            if task not in resident.views:
                from diffusers import AutoPipelineForImage2Image, AutoPipelineForText2Image

                cls = {"img2img": AutoPipelineForImage2Image, "text2img": AutoPipelineForText2Image}.get(task)
                if cls is None:
                    raise InvalidInputError(f"unknown task {task!r}; use inpaint, img2img or text2img")
                resident.views[task] = cls.from_pipe(resident.obj)
            return resident.views[task]

    def clipseg(self, model: str | None = None) -> tuple[Any, Any]:
        """``(model, processor)`` of the CLIPSeg text-mask model, loaded once."""
        source = model or self.default_textmask_model()
        with self.lock:
            return self._resident("textmask", str(source)).obj

    def segment(self, model: str | None = None) -> tuple[Any, Any]:
        """``(model, processor)`` of the SAM click model (class read from its config), loaded once."""
        source = model or self.default_segment_model()
        with self.lock:
            return self._resident("segment", str(source)).obj

    def _resident(self, kind: str, source: str) -> _Resident:
        key = (kind, source)
        resident = self._residents.get(key)
        if resident is None:
            resident = self._load(kind, source)
            self._residents[key] = resident
        elif not resident.on_device:
            for module in resident.modules:
                module.to(self.device)
            resident.on_device = True
        self._residents.move_to_end(key)
        self._enforce_budget(keep=key)
        return resident

    def _load(self, kind: str, source: str) -> _Resident:
        """Load one model; a failure leaves the resident models as they were."""
        try:
            return self._load_unchecked(kind, source)
        except Exception as err:
            if not is_out_of_memory(err):
                raise
            _drop_frames(err)  # the half-built model goes with its frames
        gc.collect()
        empty_cache(self.device)
        raise OutOfMemoryError(
            f"out of memory on {self.device} while loading {source}; the models already loaded are "
            "still usable: free memory with manager().release(), or set a budget with "
            "manager().configure(budget_bytes=...)"
        )

    def _load_unchecked(self, kind: str, source: str) -> _Resident:
        """Load (downloading a Hub id first), move to the device; progress to :func:`hub.report_loads`."""
        device = str(self.device)
        if kind == "diffusion":
            pipe = loading.load_inpaint_pipeline(source, dtype=self.dtype, allow_pickle=self.allow_pickle,
                                                 config=self.model_config())
            hub.report(hub.LoadProgress(source, "load", device=device))
            pipe.to(self.device)
            pipe.set_progress_bar_config(disable=True)
            if self.fast:
                from .fast import make_fast

                make_fast(pipe, compile=self.fast == "compile")
            modules = [m for m in pipe.components.values() if isinstance(m, torch.nn.Module)]
            obj: Any = pipe
        elif kind == "segment":
            model, processor = loading.load_segment_model(source, dtype=self.dtype, allow_pickle=self.allow_pickle)
            hub.report(hub.LoadProgress(source, "load", device=device))
            model.to(self.device)
            modules, obj = [model], (model, processor)
        else:

            model, processor = loading.load_textmask_model(source, dtype=self.dtype, allow_pickle=self.allow_pickle)
            hub.report(hub.LoadProgress(source, "load", device=device))
            model.to(self.device)
            modules, obj = [model], (model, processor)
        self.loads += 1
        resident = _Resident(kind, source, obj, modules, loading.module_bytes(*modules))
        hub.report(hub.LoadProgress(source, "ready", device=device))
        return resident

    def _enforce_budget(self, keep: tuple[str, str] | None) -> None:
        """Evict least-recently-used models until the device holds at most the budget."""
        if self.budget_bytes is None:
            return
        for key in list(self._residents):
            if self.device_bytes() <= self.budget_bytes:
                break
            if key == keep:
                continue
            resident = self._residents[key]
            if self.device.type == "cpu":
                del self._residents[key]
            elif resident.on_device:
                for module in resident.modules:
                    module.to("cpu")
                resident.on_device = False
        gc.collect()
        empty_cache(self.device)

    def device_bytes(self) -> int:
        return sum(r.bytes for r in self._residents.values() if r.on_device)

    def status(self) -> dict[str, Any]:
        """Where models live and what they cost: device, dtype, loads, resident bytes."""
        with self.lock:
            return {
                "device": str(self.device),
                "dtype": str(self.dtype).replace("torch.", ""),
                "loads": self.loads,
                "generations": self.generations,
                "resident": {r.source: r.bytes for r in self._residents.values() if r.on_device},
                "offloaded": [r.source for r in self._residents.values() if not r.on_device],
                "device_bytes": self.device_bytes(),
                "budget_bytes": self.budget_bytes,
                "fast": self.fast,
                "model": self.default_model(),
                "textmask_model": self.default_textmask_model(),
                "segment_model": self.default_segment_model(),
            }

    def release(self) -> None:
        """Free every model (the next call loads again)."""
        with self.lock:
            self._residents.clear()
            gc.collect()
            empty_cache(self.device)

    def warm_up(self, width: int = 512, height: int = 512, *, model: str | None = None,
                steps: int = 2) -> float:
        """Load ``model`` and run one short generation at ``width`` x ``height``; seconds taken.

        With ``fast="compile"`` this compiles for that size ahead of the first real call.
        """
        from .fast import warm_up

        with self.generating():
            return warm_up(self.pipeline(model), width, height, steps=steps)

    # ------------------------------------------------------------------ generation

    def cancel(self) -> None:
        """Stop the run that holds the manager now, after its current step.

        A widget cancels its own run through its own :class:`~paint_widgets.CancelToken`;
        this cancels whichever run is active (for code that has no token). With nothing
        running it does nothing: it never cancels a later run.
        """
        for token in list(self._runs):
            token.cancel()

    @property
    def cancel_requested(self) -> bool:
        """Whether the run holding the manager has been asked to stop."""
        return any(token.cancelled for token in list(self._runs))

    @property
    def busy(self) -> bool:
        """Whether a run holds the manager (another run would wait)."""
        return bool(self._runs)

    @contextlib.contextmanager
    def session(self, cancel: CancelToken | None = None, *,
                on_wait: Callable[[], None] | None = None, model: str | None = None) -> Iterator[CancelToken]:
        """Hold the manager for one whole run: all its passes go before anyone else's.

        Waits for a run of another thread to finish, calling ``on_wait`` once if it has
        to, and gives up with :class:`CancelledError` as soon as ``cancel`` is set while
        waiting. Re-entrant: a pass inside a session (same thread) joins it and shares its
        token. Yields the run's token (a new one if none is given). ``model``: the
        default model for this run, whatever ``configure(model=...)`` says meanwhile
        (:meth:`default_model` returns it in this thread until the session ends).
        """
        outer: CancelToken | None = getattr(self._local, "token", None)
        if outer is not None:
            yield outer
            return
        token = cancel if cancel is not None else CancelToken()
        if not self.lock.acquire(blocking=False):
            if on_wait is not None:
                on_wait()
            while not self.lock.acquire(timeout=0.05):
                token.check()
        self._local.token, self._local.model = token, model
        self._runs.add(token)
        try:
            token.check()  # cancelled before it started (or while it waited)
            yield token
        finally:
            self._runs.discard(token)
            self._local.token = self._local.model = None
            self.lock.release()

    @contextlib.contextmanager
    def generating(self, cancel: CancelToken | None = None) -> Iterator[CancelToken]:
        """Hold the manager for one pass; turn out-of-memory into a clear, recoverable error.

        Yields the run's cancel token: the session's when inside :meth:`session`, else
        ``cancel`` or a new one for this pass alone.
        """
        with self.session(cancel) as token:
            token.check()  # a cancel between passes stops the run before the next one
            out_of_memory = False
            try:
                yield token
                self.generations += 1
            except Exception as err:
                if not is_out_of_memory(err):
                    raise
                # The traceback's frames hold the run's tensors (latents, activations): clear them
                # now, or they live on device as long as anyone keeps the error (IPython keeps the
                # last one in sys.last_value, the Studio in its status).
                _drop_frames(err)
                out_of_memory = True
            if out_of_memory:
                gc.collect()
                empty_cache(self.device)
                raise OutOfMemoryError(
                    f"out of memory on {self.device} during generation; memory was released and the "
                    "manager is still usable: try a smaller image, region='crop', fewer iterations, "
                    "or manager().release() to drop other models"
                ) from None


def _drop_frames(error: BaseException) -> None:
    """Free the locals of the finished frames in ``error``'s traceback (and its causes')."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        traceback.clear_frames(error.__traceback__)
        error.__traceback__ = None
        error = error.__cause__ or error.__context__  # type: ignore[assignment]


_STATE_MODULE = "_paint_widgets_kernel_state"


def manager(**settings: Any) -> PipelineManager:
    """The one PipelineManager of this kernel; keyword arguments go to :meth:`configure`."""
    state: Any = sys.modules.get(_STATE_MODULE)  # a plain module: its attributes are ours
    if state is None:
        state = types.ModuleType(_STATE_MODULE, "Kernel-lifetime state of paint_widgets (no file: never reloaded).")
        state.manager = None
        state.lock = threading.Lock()
        sys.modules[_STATE_MODULE] = state
    with state.lock:
        if state.manager is None:
            state.manager = PipelineManager()
    mgr: PipelineManager = state.manager
    if settings:
        mgr.configure(**settings)
    return mgr
