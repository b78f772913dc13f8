"""Fast mode: the speed options diffusers documents, applied to a loaded pipeline.

``paint_widgets.manager(fast=True)`` applies, to every diffusion pipeline it loads:

- **half precision** comes from the manager's dtype: fp16 on CUDA by default,
  ``manager(fast=True, dtype="bf16")`` for bf16 (fp32 on CPU);
- **SDPA attention** (``torch.nn.functional.scaled_dot_product_attention`` through
  diffusers' ``AttnProcessor2_0``) set explicitly on the UNet and the VAE, unless a
  custom processor (an IP-adapter, say) is installed;
- **channels_last** memory format for the UNet and the VAE (faster convolutions
  with cuDNN in half precision), and cuDNN autotuning
  (``torch.backends.cudnn.benchmark``, process-wide) on CUDA;
- SD 1.x/2.x VAEs decode in the pipeline's dtype, as diffusers' own pipelines do
  (their configs carry ``force_upcast=True`` by default, which would otherwise
  make paint_widgets decode in fp32). SDXL's VAE keeps its fp32 decode.

``manager(fast="compile")`` adds ``torch.compile`` of the UNet and of the VAE
decoder (``mode="reduce-overhead"`` on CUDA, the default mode elsewhere;
``fullgraph=False``, ``dynamic=False``): shapes are kept static, so each image
size compiles once (a minute or more on first use) and then runs from the cache.
Keep sizes stable (``region="crop"`` generates every mask at the model's native
size) and warm up ahead of time with ``manager().warm_up(512, 512)``. torch keeps
at most ``torch._dynamo.config.cache_size_limit`` (8) sizes per module; more fall
back to eager mode. Compilation is off by default because it costs start-up time;
on CPU it needs a C++ compiler and rarely pays off.

Everything here is opt-in and changes speed, not results beyond float rounding.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..errors import InvalidInputError

#: ``torch.compile`` mode for CUDA (CUDA graphs cut the per-step launch overhead).
CUDA_COMPILE_MODE = "reduce-overhead"
#: ``torch.compile`` mode elsewhere (CUDA graphs need CUDA).
OTHER_COMPILE_MODE = "default"


@dataclass
class FastInfo:
    """What :func:`make_fast` did to a pipeline (``pipe._paint_widgets_fast``)."""

    sdpa: list[str] = field(default_factory=list)
    channels_last: list[str] = field(default_factory=list)
    compiled: list[str] = field(default_factory=list)
    compile_mode: str | None = None
    notes: list[str] = field(default_factory=list)
    warmed: set[tuple[int, int]] = field(default_factory=set)


def fast_setting(value: Any) -> bool | str:
    """Normalise ``manager(fast=...)``: ``False``, ``True`` or ``"compile"``."""
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("compile", "on", "off", "true", "false"):
            return "compile" if word == "compile" else word in ("on", "true")
        raise InvalidInputError(f"fast must be True, False or 'compile', not {value!r}")
    return bool(value)


def _use_sdpa(module: Any) -> bool:
    """Set ``AttnProcessor2_0`` on every attention layer, if all of them are standard ones."""
    if not hasattr(module, "set_attn_processor") or not hasattr(module, "attn_processors"):
        return False
    from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

    procs = module.attn_processors
    if not procs or not all(type(p) in (AttnProcessor, AttnProcessor2_0) for p in procs.values()):
        return False
    module.set_attn_processor(AttnProcessor2_0())
    return True


def _device_of(pipe: Any) -> torch.device:
    try:
        return next(pipe.unet.parameters()).device
    except (AttributeError, StopIteration):
        return torch.device("cpu")


def make_fast(pipe: Any, *, compile: bool = False, mode: str | None = None,
              backend: str | None = None) -> Any:
    """Apply fast mode to ``pipe`` in place (see the module docstring); returns ``pipe``.

    ``compile=True`` wraps the UNet and the VAE decoder with ``torch.compile``
    (``nn.Module.compile``: the modules keep their class, config and weights);
    nothing is compiled until the first call at a given size. ``mode`` overrides
    the inductor compile mode; ``backend`` another ``torch.compile`` backend (tests use
    ``"eager"``: it traces and guards like inductor without generating code).
    Applying it twice is harmless.
    """
    info: FastInfo = getattr(pipe, "_paint_widgets_fast", None) or FastInfo()
    device = _device_of(pipe)
    for name in ("unet", "vae"):
        module = getattr(pipe, name, None)
        if module is None:
            continue
        if _use_sdpa(module) and name not in info.sdpa:
            info.sdpa.append(name)
        module.to(memory_format=torch.channels_last)
        if name not in info.channels_last:
            info.channels_last.append(name)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    from .families import family_of

    vae = getattr(pipe, "vae", None)
    needs_upcast = family_of(pipe).upcast_vae  # SDXL's VAE overflows in fp16; SD 1.x's does not
    if vae is not None and not needs_upcast and getattr(vae.config, "force_upcast", False):
        vae.register_to_config(force_upcast=False)
        info.notes.append("SD VAE decodes in the pipeline's dtype (force_upcast off)")
    if compile:
        if not hasattr(torch, "compile"):
            raise InvalidInputError("fast='compile' needs torch.compile (torch 2.0 or newer)")
        options: dict[str, Any] = {"fullgraph": False, "dynamic": False}
        if backend is None or backend == "inductor":
            info.compile_mode = mode or (CUDA_COMPILE_MODE if device.type == "cuda" else OTHER_COMPILE_MODE)
            options["mode"] = info.compile_mode
        else:
            info.compile_mode = f"backend={backend}"
            options["backend"] = backend
        if "unet" not in info.compiled:
            pipe.unet.compile(**options)
            info.compiled.append("unet")
        upcasts = vae is not None and vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
        if vae is not None and "vae.decoder" not in info.compiled:
            if upcasts:
                info.notes.append("VAE decoder not compiled: it is upcast to fp32 for every decode")
            else:
                vae.decoder.compile(**options)
                info.compiled.append("vae.decoder")
    pipe._paint_widgets_fast = info
    return pipe


def is_compiled(module: Any) -> bool:
    """Whether ``module`` was compiled in place with ``nn.Module.compile``."""
    return getattr(module, "_compiled_call_impl", None) is not None


def warm_up(pipe: Any, width: int = 512, height: int = 512, *, steps: int = 2, cfg: float = 7.5) -> float:
    """Run one short masked generation at ``width`` x ``height``; returns its seconds.

    With ``fast="compile"`` this compiles the UNet and the VAE decoder for that size
    (the batch of two that classifier-free guidance uses when ``cfg > 1``), so the
    next real call at that size runs at full speed. Without compilation it just
    primes cuDNN's autotuner and the allocator. The caller holds the manager's lock.
    """
    from .denoise import DenoiseSettings, denoise_masked

    if width % 8 or height % 8 or width < 64 or height < 64:
        raise InvalidInputError(f"warm-up size must be multiples of 8, at least 64: got {width}x{height}")
    image = np.full((height, width, 3), 127, np.uint8)
    paint = np.zeros((height, width), np.float32)
    paint[height // 4 : 3 * height // 4, width // 4 : 3 * width // 4] = 1.0
    settings = DenoiseSettings(prompt="", negative_prompt="", steps=steps, cfg=cfg, strength=1.0,
                               sampler="k_lms", seed=0)
    base = dict(getattr(pipe, "_paint_widgets_base_scheduler", None) or pipe.scheduler.config)
    pipe._paint_widgets_base_scheduler = base
    start = time.perf_counter()
    denoise_masked(pipe, image, paint, settings, base_scheduler_config=base)
    if _device_of(pipe).type == "cuda":
        torch.cuda.synchronize()
    info = getattr(pipe, "_paint_widgets_fast", None)
    if info is not None:
        info.warmed.add((width, height))
    return time.perf_counter() - start


__all__ = ["FastInfo", "fast_setting", "is_compiled", "make_fast", "warm_up"]
