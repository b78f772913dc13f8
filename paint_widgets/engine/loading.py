"""Reading models from disk or the Hub, the way diffusers' and transformers' docs do it.

Weights load from safetensors only by default (``use_safetensors=True``); a model
that exists only as a pickle (``.ckpt``, ``.bin``, ``.pt``) is refused unless the
caller opts in with ``allow_pickle=True``. ``trust_remote_code`` is never set.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelLoadError

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-inpainting"
DEFAULT_TEXTMASK_MODEL = "CIDAS/clipseg-rd64-refined"

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth", ".pkl")


def describe_source(source: str) -> str:
    """``'folder'``, ``'file'`` or ``'hub'``; :class:`ModelLoadError` for a missing local path."""
    path = Path(os.path.expanduser(source))
    if path.is_dir():
        return "folder"
    if path.is_file():
        return "file"
    looks_local = source.startswith((".", "/", "~")) or path.suffix.lower() in (".safetensors", *_PICKLE_SUFFIXES)
    if looks_local or not _HUB_ID.match(source):
        raise ModelLoadError(f"model not found: {source} is neither a local folder/file nor a Hub id like 'org/name'")
    return "hub"


def _explain(source: str, err: Exception, allow_pickle: bool) -> ModelLoadError:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if not allow_pickle and ("safetensors" in text.lower() or "use_safetensors" in text):
        return ModelLoadError(
            f"{source} has no safetensors weights, only pickle files that can run code when loaded; "
            "convert it to safetensors, or pass allow_pickle=True if you trust its source"
        )
    return ModelLoadError(f"cannot load model {source}: {text}")


def weights_available(source: str) -> tuple[bool, str]:
    """Whether ``source`` can be loaded without surprises, and why not.

    A local folder or file must exist; a Hub id must be in the local cache when
    the Hub is offline (``HF_HUB_OFFLINE=1``). Cheap: reads no weights.
    """
    try:
        kind = describe_source(source)
    except ModelLoadError as err:
        return False, str(err)
    if kind != "hub":
        return True, ""
    try:
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency of diffusers
        return True, ""
    cached = try_to_load_from_cache(source, "model_index.json")
    if isinstance(cached, str):
        return True, ""
    if constants.HF_HUB_OFFLINE:
        return False, f"{source} is not downloaded and the Hugging Face Hub is offline (HF_HUB_OFFLINE=1)"
    return True, f"{source} will be downloaded on first use"


def load_inpaint_pipeline(source: str, *, dtype: torch.dtype, allow_pickle: bool = False, config: str | None = None):
    """An inpainting pipeline for ``source`` (folder, Hub id or single ``.safetensors`` file).

    A folder or Hub id goes through ``AutoPipelineForInpainting.from_pretrained``, which
    picks the inpainting class for the model family (SD 1.x/2.x with a 9- or a
    4-channel UNet, SDXL). A single file goes through ``from_single_file``.
    """
    from diffusers import AutoPipelineForInpainting, StableDiffusionInpaintPipeline

    kind = describe_source(source)
    common: dict[str, Any] = {"torch_dtype": dtype}
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(safety checker|are not expected|torch_dtype).*")
            if kind == "file":
                path = Path(os.path.expanduser(source))
                if path.suffix.lower() != ".safetensors" and not allow_pickle:
                    # .ckpt/.pt/.bin, and any other name: only .safetensors cannot run code on load
                    what = "a pickle checkpoint" if path.suffix.lower() in _PICKLE_SUFFIXES else "not a .safetensors file"
                    raise ModelLoadError(
                        f"{source} is {what}, which can run code when loaded; convert it to "
                        ".safetensors, or pass allow_pickle=True if you trust its source"
                    )
                if config:
                    common["config"] = config
                return StableDiffusionInpaintPipeline.from_single_file(str(path), **common)
            return AutoPipelineForInpainting.from_pretrained(
                os.path.expanduser(source) if kind == "folder" else source,
                use_safetensors=None if allow_pickle else True,
                safety_checker=None,
                requires_safety_checker=False,
                **common,
            )
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as err:
        raise _explain(source, err, allow_pickle) from err


def load_clipseg(source: str, *, dtype: torch.dtype, allow_pickle: bool = False):
    """``(CLIPSegForImageSegmentation, CLIPSegProcessor)`` for ``source``, as transformers' docs load them."""
    from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

    kind = describe_source(source)
    if kind == "file":
        raise ModelLoadError(f"text-mask model {source} must be a folder or a Hub id, not a single file")
    name = os.path.expanduser(source) if kind == "folder" else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            processor = CLIPSegProcessor.from_pretrained(name)
            model = CLIPSegForImageSegmentation.from_pretrained(
                name, use_safetensors=None if allow_pickle else True, torch_dtype=dtype
            )
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as err:
        raise _explain(source, err, allow_pickle) from err
    return model.eval(), processor


def module_bytes(*modules: Any) -> int:
    """Bytes of parameters and buffers of the given torch modules."""
    total = 0
    for module in modules:
        if isinstance(module, torch.nn.Module):
            total += sum(t.numel() * t.element_size() for t in module.parameters())
            total += sum(t.numel() * t.element_size() for t in module.buffers())
    return total
