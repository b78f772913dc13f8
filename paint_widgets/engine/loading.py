"""Reading models from disk or the Hub, the way diffusers' and transformers' docs do it.

Weights load from safetensors only by default (``use_safetensors=True``); a model
that exists only as a pickle (``.ckpt``, ``.bin``, ``.pt``) is refused unless the
caller opts in with ``allow_pickle=True``. ``trust_remote_code`` is never set.

A Hub id is first downloaded by :mod:`.hub` (``snapshot_download``, with progress) and
then loaded from the local folder. Which files to fetch is decided here, as diffusers'
``DiffusionPipeline.download`` does in essence: ``model_index.json``; in each component
folder it names, the config/tokenizer files and the safetensors weights (pickles only with
``allow_pickle`` and only where there are no safetensors); no variants (``*.fp16.*``,
``*.ema.*``...) unless a folder has nothing else; nothing for a component we pass ourselves
(the safety checker). The libraries' progress bars are off around ``from_pretrained``.
Where a Hub repo has only pickles for a component, :mod:`.hub` takes the safetensors of the
conversion bot's pull request if there is one (same choice of files), else it is refused.
Once the files are on disk a ``"load"`` :class:`~.hub.LoadProgress` says the weights are
being read, so no one sees "Downloading … 100 %" while ``from_pretrained`` runs.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import ModelLoadError
from . import hub

DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-inpainting"
DEFAULT_TEXTMASK_MODEL = "CIDAS/clipseg-rd64-refined"

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth", ".pkl")
_CONFIG_SUFFIXES = (".json", ".txt", ".model")  # configs, tokenizers (vocab, merges, sentencepiece)
_VARIANT = re.compile(r"\.(fp16|fp32|bf16|ema|non_ema|non-ema)[.-]")  # model.fp16.safetensors, ...
_NOT_DOWNLOADED = frozenset({"safety_checker"})  # components from_pretrained gets from us (None)


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


def _pickles_refused(source: str) -> ModelLoadError:
    return hub.PicklesOnly(
        f"{source} has no safetensors weights, only pickle files that can run code when loaded; "
        "convert it to safetensors, or pass allow_pickle=True if you trust its source"
    )


def _explain(source: str, err: Exception, allow_pickle: bool) -> ModelLoadError:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    if not allow_pickle and ("safetensors" in text.lower() or "use_safetensors" in text):
        return _pickles_refused(source)
    return ModelLoadError(f"cannot load model {source}: {text}")


def _pick(names: list[str], source: str, allow_pickle: bool) -> list[str]:
    """Of one folder's files: configs/tokenizer files and the weights to load (see the module docstring)."""
    safe = [n for n in names if n.endswith(".safetensors")]
    pickles = [n for n in names if n.lower().endswith(_PICKLE_SUFFIXES)]
    if pickles and not safe and not allow_pickle:
        raise _pickles_refused(source)
    weights = safe or pickles
    suffix = ".safetensors" if safe else ".bin"  # index files (*.safetensors.index.json) of the chosen kind
    configs = [n for n in names if n.endswith(_CONFIG_SUFFIXES)
               and (".index." not in n or f"{suffix}.index." in n)]
    chosen = weights + configs
    plain = [n for n in chosen if not _VARIANT.search(n.rsplit("/", 1)[-1])]
    if any(n in weights for n in plain) or not weights:
        return plain
    return chosen  # only variant weights: take them as they are


def _diffusion_files(source: str, allow_pickle: bool) -> hub.Select:
    def select(files: Mapping[str, int], fetch: Callable[[str], str]) -> list[str]:
        index = json.loads(Path(fetch("model_index.json")).read_text(encoding="utf-8"))
        chosen = ["model_index.json"]
        for component, value in index.items():
            if component.startswith("_") or component in _NOT_DOWNLOADED:
                continue
            if not (isinstance(value, list) and len(value) == 2 and all(value)):
                continue  # [null, null]: the pipeline has no such component
            inside = [f for f in files if f.startswith(f"{component}/") and f.count("/") == 1]
            chosen += _pick(inside, source, allow_pickle)
        return chosen

    return select


def _top_level_files(source: str, allow_pickle: bool) -> hub.Select:
    def select(files: Mapping[str, int], fetch: Callable[[str], str]) -> list[str]:
        return _pick([f for f in files if "/" not in f], source, allow_pickle)

    return select


def weights_available(source: str, *, kind: str = "diffusion", allow_pickle: bool = False) -> tuple[bool, str]:
    """Whether ``source`` can be loaded without surprises, and why not.

    A local folder or file must exist; a Hub id must be completely in the local cache
    (every file a load would fetch) when the Hub is offline (``HF_HUB_OFFLINE=1``).
    ``kind`` is ``"diffusion"`` or ``"textmask"``. Cheap: no network, reads no weights.
    """
    try:
        where = describe_source(source)
    except ModelLoadError as err:
        return False, str(err)
    if where != "hub":
        return True, ""
    from huggingface_hub import constants

    if kind == "diffusion":
        cached, reason = hub.is_cached(source, _diffusion_files(source, allow_pickle), env_var="PAINT_WIDGETS_MODEL")
    else:
        cached, reason = hub.is_cached(source, _top_level_files(source, allow_pickle),
                                       env_var="PAINT_WIDGETS_TEXTMASK_MODEL")
    if cached:
        return True, ""
    if constants.HF_HUB_OFFLINE:
        return False, reason
    return True, f"{source} will be downloaded on first use"


def load_inpaint_pipeline(source: str, *, dtype: torch.dtype, allow_pickle: bool = False, config: str | None = None):
    """An inpainting pipeline for ``source`` (folder, Hub id or single ``.safetensors`` file).

    A folder or Hub id (downloaded first) loads with the inpainting class of its family,
    read from ``model_index.json`` (:func:`.families.family_of`: SD 1.x/2.x with a 9- or
    a 4-channel UNet, SDXL); an unrecognised one through ``AutoPipelineForInpainting``.
    A single file goes through ``from_single_file``.
    """
    import diffusers
    from diffusers import AutoPipelineForInpainting, StableDiffusionInpaintPipeline

    from . import families

    kind = describe_source(source)
    folder = os.path.expanduser(source)
    if kind == "hub":
        folder = hub.download(source, _diffusion_files(source, allow_pickle), env_var="PAINT_WIDGETS_MODEL")
        hub.report(hub.LoadProgress(source, "load"))
    common: dict[str, Any] = {"torch_dtype": dtype}
    try:
        with hub.quiet_progress_bars(), warnings.catch_warnings():
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
            # the class the model's family loads with (read from model_index.json, :mod:`.families`)
            family = families.family_of(folder)
            pipeline_cls = getattr(diffusers, family.pipeline_class, None) or AutoPipelineForInpainting
            if pipeline_cls is AutoPipelineForInpainting or "safety_checker" in pipeline_cls._optional_components:
                # SD 1.x/2.x: no safety checker (SDXL and later have none: the keys would be logged as unexpected)
                common.update(safety_checker=None, requires_safety_checker=False)
            return pipeline_cls.from_pretrained(
                folder,
                use_safetensors=None if allow_pickle else True,
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
    if kind == "hub":
        name = hub.download(source, _top_level_files(source, allow_pickle), env_var="PAINT_WIDGETS_TEXTMASK_MODEL")
        hub.report(hub.LoadProgress(source, "load"))
    else:
        name = os.path.expanduser(source)
    try:
        with hub.quiet_progress_bars(), warnings.catch_warnings():
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
