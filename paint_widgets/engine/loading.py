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

import functools
import json
import os
import re
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
import torch
from PIL import Image

from ..errors import ModelLoadError, PaintError
from . import hub
from .devices import is_out_of_memory
from .sam_inputs import TrackerInputs

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


# ---------------------------------------------------------------- what is wrong with a model
# Every load failure becomes one line saying what is actually wrong. Cheap checks run first
# (check_model_folder: model_index.json, its components' folders, configs, safetensors headers
# against file sizes); what only a load can show (a tensor of the wrong shape, tensors a file
# lacks) is found after it (_check_loaded) or when it failed (_diagnose).

_ST_HEADER_MAX = 100 * 2**20  # the safetensors format refuses longer headers
_LoadFn = TypeVar("_LoadFn", bound=Callable[..., Any])


def _fail(source: str, what: str) -> ModelLoadError:
    """``cannot load model SOURCE: WHAT`` on one line."""
    return ModelLoadError(re.sub(r"\s*\n\s*", " ", f"cannot load model {source}: {what}").strip())


def _rel(path: Path, root: Path) -> str:
    """``path`` as the message shows it: relative to the model folder where it is inside it."""
    try:
        return path.relative_to(root).as_posix() or path.name
    except ValueError:
        return str(path)


def _read_json(path: Path, root: Path, source: str) -> Any:
    """The parsed JSON file; :class:`ModelLoadError` naming the file, line and column if it is not JSON."""
    name = _rel(path, root)
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise _fail(source, f"{name} is not valid JSON (not UTF-8 text); download it again") from None
    except json.JSONDecodeError as err:
        raise _fail(source, f"{name} is not valid JSON (line {err.lineno} column {err.colno}: {err.msg}); "
                            "download it again or fix it") from None
    except OSError as err:
        raise _fail(source, f"{name} cannot be read ({err.strerror or err})") from None


def _what_it_is(head: bytes) -> str:
    """A guess at what a file that should be safetensors holds, from its first bytes."""
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the weights: run `git lfs pull` in the model folder, or download it again"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        return "a pickle checkpoint under a .safetensors name; convert it to safetensors"
    if head.lstrip().startswith((b"<!", b"<html", b"<?xml")):
        return "a web page (a failed download?); download it again"
    text = head[:40].decode("utf-8", "replace")
    if head and text.isprintable():
        return f"text ({text!r}); download it again"
    if not head:
        return "an empty file; download it again"
    return "binary data without a safetensors header (damaged, or another format); download it again"


def read_safetensors_header(path: Path, *, source: str | None = None, root: Path | None = None) -> dict[str, Any]:
    """The tensors a safetensors file describes, ``{name: {"dtype", "shape", "data_offsets"}}``.

    Reads the 8-byte header length and the JSON header only, and compares the sizes they
    describe with the file's: :class:`ModelLoadError` for a file that is not safetensors,
    or one that is truncated (a download or copy that stopped early) or damaged.
    """
    source = str(path) if source is None else source
    name = _rel(path, root if root is not None else path.parent)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else -1
            raw = handle.read(length) if 2 <= length <= _ST_HEADER_MAX else b""
            if not raw.startswith(b"{"):
                handle.seek(0)
                head = handle.read(64)
    except OSError as err:
        raise _fail(source, f"{name} cannot be read ({err.strerror or err})") from None
    if not raw.startswith(b"{"):
        raise _fail(source, f"{name} is not a safetensors file: it is {_what_it_is(head)}")
    if len(raw) < length:
        raise _fail(source, f"{name} is truncated: {size:,} bytes, but its header alone takes {8 + length:,}; "
                            "download it again")
    try:
        header = json.loads(raw)
        tensors = {k: v for k, v in header.items() if k != "__metadata__"}
        end = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
        for v in tensors.values():
            [int(n) for n in v["shape"]]
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        raise _fail(source, f"{name} has a damaged header (not the JSON a safetensors file starts with); "
                            "download it again") from None
    expected = 8 + length + end
    if size < expected:
        raise _fail(source, f"{name} is truncated: {size:,} bytes, but its header describes {expected:,} "
                            f"({len(tensors)} tensors); download it again")
    if size > expected:
        raise _fail(source, f"{name} is damaged: {size:,} bytes, but its header describes {expected:,}; "
                            "download it again")
    return tensors


def _library_class(library: str, name: str) -> tuple[bool, Any]:
    """``(known, cls)`` for a model_index.json entry; ``(True, None)`` for a library we do not check."""
    module = _library(library)
    if module is None:
        return True, None  # a diffusers pipeline module ("stable_diffusion") or another library
    try:
        cls = getattr(module, name)
    except (ImportError, AttributeError, RuntimeError):
        return False, None
    return isinstance(cls, type), cls if isinstance(cls, type) else None


def _library(library: str) -> Any:
    """diffusers or transformers by name (never a module named by the model's files), else None."""
    if library == "diffusers":
        import diffusers

        return diffusers
    if library == "transformers":
        import transformers

        return transformers
    return None


def _version(library: str) -> str:
    version = getattr(_library(library), "__version__", None)
    return f"{library} {version}" if version else library


def _is_module(cls: Any) -> bool:
    return isinstance(cls, type) and issubclass(cls, torch.nn.Module)


def _weight_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """``(safetensors, pickles)`` a load would read in ``folder``: plain names before variants (fp16, ema)."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    safe = [p for p in files if p.name.endswith(".safetensors")]
    safe = [p for p in safe if not _VARIANT.search(p.name)] or safe
    pickles = [p for p in files if p.name.lower().endswith(_PICKLE_SUFFIXES)]
    return safe, pickles


def _check_weights(folder: Path, root: Path, source: str, *, label: str, expected: str,
                   allow_pickle: bool) -> None:
    """A model's folder has a config and whole weights: safetensors (pickles only with ``allow_pickle``)."""
    if not (folder / "config.json").is_file():
        raise _fail(source, f"{label} has no config.json; download the model again")
    safe, pickles = _weight_files(folder)
    if not safe:
        if pickles and not allow_pickle:
            names = ", ".join(p.name for p in pickles[:3])
            raise hub.PicklesOnly(
                f"{source} has no safetensors weights in {label}, only pickle files ({names}) that can run code "
                "when loaded; convert it to safetensors, or pass allow_pickle=True if you trust its source"
            )
        if not pickles:
            raise _fail(source, f"{label} has no weights file ({expected}); download the model again")
        return
    for index in folder.glob("*.safetensors.index.json"):
        weight_map = _read_json(index, root, source).get("weight_map", {})
        for shard in sorted(set(weight_map.values()) if isinstance(weight_map, dict) else ()):
            if not (folder / str(shard)).is_file():
                raise _fail(source, f"{_rel(index, root)} lists the shard {shard}, which is missing; "
                                    "download the model again")
    for path in safe:
        read_safetensors_header(path, source=source, root=root)


def _check_json_files(folder: Path, root: Path, source: str) -> None:
    for path in sorted(folder.glob("*.json")):
        _read_json(path, root, source)


def _components(root: Path, source: str) -> list[tuple[str, str, str]]:
    """``(component, library, class)`` of model_index.json's components a load reads from disk."""
    index = _read_json(root / "model_index.json", root, source)
    if not isinstance(index, dict):
        raise _fail(source, "model_index.json is not a JSON object (a diffusers model index); download it again")
    parts = []
    for component, value in index.items():
        if component.startswith("_") or component in _NOT_DOWNLOADED:
            continue
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) and v for v in value):
            parts.append((component, value[0], value[1]))
    return parts


def check_model_folder(path: str | Path, *, kind: str = "diffusion", allow_pickle: bool = False,
                       source: str | None = None) -> None:
    """Check a model on disk cheaply before loading it; :class:`ModelLoadError` saying what is wrong.

    ``kind="diffusion"``: a diffusers folder (``model_index.json``, a known pipeline class,
    each component's folder, configs that are JSON, whole safetensors files) or a single
    ``.safetensors`` file (its header against its size). ``kind="textmask"``: a
    transformers folder (``config.json``, processor files, weights). Reads JSON and
    safetensors headers only: no weights, nothing that can run code.
    """
    root = Path(os.path.expanduser(str(path)))
    source = str(path) if source is None else source
    if root.is_file():
        if kind == "diffusion" and root.suffix.lower() == ".safetensors":
            read_safetensors_header(root, source=source, root=root.parent)
        return
    if not root.is_dir():
        return  # describe_source says so
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    if not entries:
        hint = "model_index.json" if kind == "diffusion" else "config.json"
        raise _fail(source, f"the folder is empty; download the model again, or give the folder that holds {hint}")
    if kind == "textmask":
        _check_json_files(root, root, source)
        names = {p.name for p in entries}
        if "config.json" not in names:
            raise _fail(source, "the folder has no config.json, so it is not a transformers model folder "
                                "(CLIPSeg needs config.json, its weights and its processor files)")
        if not names & {"tokenizer.json", "vocab.json"}:
            raise _fail(source, "the folder has no tokenizer (tokenizer.json, or vocab.json and merges.txt); "
                                "download the model again")
        if not names & {"preprocessor_config.json", "processor_config.json"}:
            raise _fail(source, "the folder has no preprocessor_config.json (the image processor); "
                                "download the model again")
        _check_weights(root, root, source, label="the folder", expected="model.safetensors",
                       allow_pickle=allow_pickle)
        return
    if not (root / "model_index.json").is_file():
        singles = sorted(p for p in entries if p.suffix.lower() == ".safetensors")
        hint = f"; to load the single checkpoint, give its path: {singles[0]}" if len(singles) == 1 else ""
        raise _fail(source, f"the folder has no model_index.json, so it is not a diffusers model folder{hint}")
    index = _read_json(root / "model_index.json", root, source)
    class_name = index.get("_class_name") if isinstance(index, dict) else None
    if not isinstance(class_name, str) or not class_name:
        raise _fail(source, "model_index.json names no pipeline class (_class_name); download it again")
    known, pipeline_cls = _library_class("diffusers", class_name)
    from diffusers import DiffusionPipeline

    if not known or pipeline_cls is None or not issubclass(pipeline_cls, DiffusionPipeline):
        why = ("which needs a library that is not installed" if known and pipeline_cls is not None
               else f"which {_version('diffusers')} does not have")
        raise _fail(source, f"model_index.json names the pipeline class {class_name!r}, {why}; "
                            "check its _class_name, or update diffusers")
    for component, library, cls_name in _components(root, source):
        folder = root / component
        if not folder.is_dir():
            raise _fail(source, f"the folder has no {component}/ (the {library} {cls_name} that model_index.json "
                                "lists); download the model again")
        known, cls = _library_class(library, cls_name)
        if not known:
            raise _fail(source, f"model_index.json lists {component} as {library}.{cls_name}, which "
                                f"{_version(library)} does not have; update {library}, or check model_index.json")
        _check_json_files(folder, root, source)
        if _is_module(cls):
            expected = "model.safetensors" if library == "transformers" else "diffusion_pytorch_model.safetensors"
            _check_weights(folder, root, source, label=f"{component}/", expected=expected, allow_pickle=allow_pickle)
        elif isinstance(getattr(cls, "config_name", None), str) and not (folder / cls.config_name).is_file():
            raise _fail(source, f"{component}/ has no {cls.config_name}; download the model again")


def _headers(folder: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``{tensor: (file, shape)}`` over the safetensors files a load reads in ``folder``."""
    found: dict[str, tuple[str, tuple[int, ...]]] = {}
    if folder.is_dir():
        for path in _weight_files(folder)[0]:
            for key, value in read_safetensors_header(path).items():
                found[key] = (path.name, tuple(int(n) for n in value["shape"]))
    return found


def _files_label(folder: Path, root: Path) -> str:
    safe = _weight_files(folder)[0] if folder.is_dir() else []
    if len(safe) == 1:
        return _rel(safe[0], root)
    return f"the weights in {_rel(folder, root)}/" if folder != root else "its weights"


def _missing_tensors(module: torch.nn.Module, folder: Path) -> list[str]:
    """Parameters (and buffers) ``module`` needed but its files lacked.

    diffusers leaves such a tensor on the meta device; transformers initialises it at
    random (and does not mark it loaded): either is a model that cannot work as saved.
    """
    tensors = [*module.named_parameters(), *module.named_buffers()]
    meta = [name for name, t in tensors if t.is_meta]
    if meta:
        return meta
    if not hasattr(module, "_keys_to_ignore_on_load_missing"):  # only transformers models get here
        return []
    found = _headers(folder)
    if not found:
        return []  # pickles or a single file: nothing cheap to compare
    params = list(module.named_parameters())
    missing = [name for name, p in params if name not in found and not getattr(p, "_is_hf_initialized", False)]
    if len(missing) * 2 > len(params):
        return []  # a naming the library converts on load: not a missing tensor
    ignore = [re.compile(p) for p in (getattr(module, "_keys_to_ignore_on_load_missing", None) or [])]
    return [name for name in missing if not any(p.search(name) for p in ignore)]


def _missing_message(source: str, where: str, missing: list[str]) -> ModelLoadError:
    shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
    count = f"{len(missing)} tensor{'s' if len(missing) != 1 else ''}"
    return _fail(source, f"{where} lacks {count} the model needs ({shown}); download it again")


def _check_loaded(source: str, loaded: Any) -> None:
    """After a load: every tensor came from the files (none left empty or made up)."""
    if isinstance(loaded, tuple):  # (CLIPSeg model, processor)
        root = Path(str(getattr(loaded[0], "name_or_path", "") or ""))
        modules = {"": loaded[0]}
    else:
        config = getattr(loaded, "config", None) or {}
        root = Path(str(config.get("_name_or_path", "") or ""))
        modules = {k: m for k, m in getattr(loaded, "components", {}).items() if isinstance(m, torch.nn.Module)}
    for component, module in modules.items():
        folder = root / component if component else root
        missing = _missing_tensors(module, folder)
        if missing:
            where = _files_label(folder, root) if folder.is_dir() else f"its {component or 'model'} weights"
            raise _missing_message(source, where, missing)


def _meta_model(cls: Any, folder: Path) -> torch.nn.Module:
    """``cls`` built from ``folder``'s config on the meta device: the shapes it expects, no memory."""
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        if hasattr(cls, "load_config"):  # diffusers
            return cls.from_config(cls.load_config(str(folder)))
        return cls(cls.config_class.from_pretrained(str(folder)))


def _weights_problem(source: str, root: Path, kind: str) -> ModelLoadError | None:
    """After a failed load: a tensor whose shape the config does not expect, or tensors the files lack."""
    if kind == "textmask":
        from transformers import CLIPSegForImageSegmentation

        parts: list[tuple[str, Any]] = [("", CLIPSegForImageSegmentation)]
    else:
        parts = [(c, cls) for c, lib, name in _components(root, source)
                 if _is_module(cls := _library_class(lib, name)[1])]
    for component, cls in parts:
        folder = root / component if component else root
        found = _headers(folder)
        if not found:
            continue
        try:
            model = _meta_model(cls, folder)
        except RuntimeError:  # NotImplementedError too: the meta device's limits, not the config's fault
            continue
        except Exception as err:  # noqa: BLE001 - a config the class cannot be built from (bad values)
            config = _rel(folder / "config.json", root)
            return _fail(source, f"{config} does not describe a {cls.__name__} ({_first_line(err)}); "
                                 "download the model again or fix it")
        for key, tensor in model.state_dict().items():
            if key in found and found[key][1] != tuple(tensor.shape):
                file, shape = found[key]
                config = _rel(folder / "config.json", root)
                return _fail(source, f"tensor {key} in {_rel(folder / file, root)} has shape {list(shape)}, but "
                                     f"{config} expects {list(tensor.shape)}; the weights and the config are of "
                                     "different models: download the model again")
        names = [name for name, _ in model.named_parameters()]
        missing = [name for name in names if name not in found]
        if missing and len(missing) * 2 <= len(names):
            return _missing_message(source, _files_label(folder, root), missing)
    return None


def _diagnose(source: str, folder: str | Path | None, kind: str, allow_pickle: bool) -> ModelLoadError | None:
    """What is wrong with the model in ``folder`` after its load failed, if the files show it."""
    if folder is None or not Path(os.path.expanduser(str(folder))).is_dir():
        return None
    root = Path(os.path.expanduser(str(folder)))
    try:
        check_model_folder(root, kind=kind, allow_pickle=allow_pickle, source=source)
        return _weights_problem(source, root, kind)
    except ModelLoadError as found:
        return found
    except Exception:  # noqa: BLE001 - a diagnosis that fails says nothing; the load error speaks
        return None


def _first_line(err: BaseException) -> str:
    """The error's first line (with the next one where it ends in a colon), with its class where it helps."""
    lines = [" ".join(line.split()) for line in str(err).splitlines() if line.strip()]
    text = " ".join(lines[:2]) if len(lines) > 1 and lines[0].endswith(":") else (lines[0] if lines else "")
    if not text:
        return type(err).__name__
    if not isinstance(err, (OSError, ValueError, RuntimeError)) or type(err).__name__.endswith("ValidationError"):
        return f"{type(err).__name__}: {text}"
    return text


_SHAPE = re.compile(r"(\S+) expected shape (?:torch\.Size\()?(\[[\d, ]*\])\)?,? but got (?:torch\.Size\()?(\[[\d, ]*\])")


def _explain(source: str, err: BaseException, allow_pickle: bool, *, kind: str = "diffusion",
             folder: str | Path | None = None) -> ModelLoadError:
    """One line saying what is wrong, for any exception a load raised (see :func:`check_model_folder`)."""
    if isinstance(err, ModelLoadError):
        return err
    found = _diagnose(source, folder if folder is not None else source, kind, allow_pickle)
    if found is not None:
        return found
    text = _first_line(err)
    shape = _SHAPE.search(str(err))
    if shape:
        key, expected, got = shape.groups()
        return _fail(source, f"tensor {key} has shape {got}, but its config expects {expected}; "
                             "the weights and the config are of different models: download the model again")
    if "meta tensor" in text:
        return _fail(source, "some tensors the model needs are missing from its weights; download it again")
    return _fail(source, text)


def _explained(kind: str) -> Callable[[_LoadFn], _LoadFn]:
    """Wrap a loader: check the files first, turn any failure into a one-line ModelLoadError.

    Out-of-memory errors pass through (the manager reports and recovers from them), and so
    do paint_widgets' own errors; after a load, :func:`_check_loaded`.
    """
    def wrap(load: _LoadFn) -> _LoadFn:
        @functools.wraps(load)
        def run(source: str, *args: Any, **kwargs: Any) -> Any:
            allow_pickle = bool(kwargs.get("allow_pickle", False))
            if describe_source(source) != "hub":
                check_model_folder(source, kind=kind, allow_pickle=allow_pickle)
            try:
                loaded = load(source, *args, **kwargs)
                _check_loaded(source, loaded)
            except PaintError:
                raise
            except Exception as err:
                if is_out_of_memory(err):
                    raise
                raise _explain(source, err, allow_pickle, kind=kind) from err
            return loaded

        return cast(_LoadFn, run)

    return wrap


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


@_explained("diffusion")  # files checked first; any failure: a one-line ModelLoadError
def load_inpaint_pipeline(source: str, *, dtype: torch.dtype, allow_pickle: bool = False, config: str | None = None):
    """An inpainting pipeline for ``source`` (folder, Hub id or single ``.safetensors`` file).

    A folder or Hub id (downloaded first) loads with the inpainting class of its family,
    read from ``model_index.json`` (:func:`.families.family_of`: SD 1.x/2.x with a 9- or
    a 4-channel UNet, SDXL); an unrecognised one through ``AutoPipelineForInpainting``.
    A single file goes through ``from_single_file`` of its family's class (the family
    read from its tensor names), with ``config`` (a local diffusers folder of the same
    family) for the component configs, or the configs diffusers fetches for it.
    """
    import diffusers
    from diffusers import AutoPipelineForInpainting

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
                return _from_single_file(source, path, config, common)
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
    except PaintError:
        raise
    except Exception as err:  # any library error (KeyError, AttributeError, ImportError...): say what is wrong
        if is_out_of_memory(err):
            raise
        raise _explain(source, err, allow_pickle, folder=folder) from err


#: The Hub repo whose configs diffusers fetches for a single file: (family, 9-channel UNet) ->
#: repo, as ``diffusers.loaders.single_file_utils.DIFFUSERS_DEFAULT_PIPELINE_PATHS`` says.
SINGLE_FILE_CONFIG_REPOS = {
    ("sd1", True): "stable-diffusion-v1-5/stable-diffusion-inpainting",
    ("sd1", False): "stable-diffusion-v1-5/stable-diffusion-v1-5",
    ("sd2", True): "stabilityai/stable-diffusion-2-inpainting",
    ("sd2", False): "stabilityai/stable-diffusion-2-1",
    ("sdxl", True): "diffusers/stable-diffusion-xl-1.0-inpainting-0.1",
    ("sdxl", False): "stabilityai/stable-diffusion-xl-base-1.0",
}


def _from_single_file(source: str, path: Path, config: str | None, common: dict[str, Any]) -> Any:
    """``<family's pipeline class>.from_single_file(path)``; offline, a config folder or a cached repo is needed."""
    import diffusers
    from huggingface_hub import constants, try_to_load_from_cache

    from . import families

    family = families.family_of(path)
    if family.name in ("sd3", "flux", "unknown"):  # transformer families: diffusers folders only
        what = "not a Stable Diffusion 1.x, 2.x or SDXL checkpoint" if family.name == "unknown" else \
            f"a {family.label} checkpoint, which loads from its diffusers folder or Hub id only"
        raise ModelLoadError(f"{source} is {what}; single files of SD 1.x, SD 2.x and SDXL load")
    pipeline_cls = getattr(diffusers, family.pipeline_class)
    options = dict(common)
    if family.name in ("sd1", "sd2"):
        options.update(safety_checker=None, requires_safety_checker=False)
    if config:
        folder = Path(os.path.expanduser(config))
        if not (folder / "model_index.json").is_file():
            raise ModelLoadError(f"model config {config} for {source} must be a diffusers folder (with model_index.json) "
                                 f"of a {family.label} model")
        options.update(config=str(folder), local_files_only=True)
    elif constants.HF_HUB_OFFLINE:
        repo = SINGLE_FILE_CONFIG_REPOS[(family.name, bool(family.inpaint_unet))]
        if not isinstance(try_to_load_from_cache(repo, "model_index.json"), str):
            raise ModelLoadError(
                f"{source} is a single {family.label} file: its configs (UNet, VAE, text encoders, tokenizers, "
                f"scheduler) come from {repo}, which is not in the local cache and the Hub is offline "
                "(HF_HUB_OFFLINE=1); give a local diffusers folder of the same family with "
                "manager().configure(model_config=FOLDER) or PAINT_WIDGETS_MODEL_CONFIG=FOLDER, "
                "or go online once so it is downloaded"
            )
        options.update(local_files_only=True)
    return pipeline_cls.from_single_file(str(path), **options)


@_explained("textmask")
def load_clipseg(source: str, *, dtype: torch.dtype, allow_pickle: bool = False, downloaded: str | None = None):
    """``(CLIPSegForImageSegmentation, CLIPSegProcessor)`` for ``source``, as transformers' docs load them.

    ``downloaded``: the local folder of a Hub id already fetched (no second request).
    """
    from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

    kind = describe_source(source)
    if kind == "file":
        raise ModelLoadError(f"text-mask model {source} must be a folder or a Hub id, not a single file")
    if kind == "hub":
        name = downloaded or hub.download(source, _top_level_files(source, allow_pickle),
                                          env_var="PAINT_WIDGETS_TEXTMASK_MODEL")
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
    except Exception as err:  # any library error: say what is wrong with the files
        if is_out_of_memory(err):
            raise
        raise _explain(source, err, allow_pickle, kind="textmask", folder=name) from err
    return model.eval(), processor


#: The click model when none is configured (SAM ViT-B, safetensors on the Hub).
DEFAULT_SEGMENT_MODEL = "facebook/sam-vit-base"
#: ``config.json``'s ``model_type`` → (model class, processor class) in transformers.
SEGMENT_CLASSES: dict[str, tuple[str, str]] = {
    "sam": ("SamModel", "SamProcessor"),
    "sam2": ("Sam2Model", "Sam2Processor"),
    "sam3_tracker": ("Sam3TrackerModel", "Sam3TrackerProcessor"),
    "sam3": ("Sam3TrackerModel", "Sam3TrackerProcessor"),
    "sam3_video": ("Sam3TrackerModel", "Sam3TrackerProcessor"),  # facebook/sam3's layout: tracker weights inside
}

# --------------------------------------------------------------------------- SAM (click-to-segment)


def segment_family(folder: str | Path) -> str:
    """``model_type`` of the transformers model in ``folder`` (its ``config.json``)."""
    path = Path(os.path.expanduser(str(folder))) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelLoadError(f"{folder} has no config.json, so it is not a transformers SAM model folder") from None
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{path} could not be read as JSON ({err}); download the model again") from None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return str(model_type or "")


def _sam_classes(model_type: str, source: str) -> tuple[Any, Any]:
    import transformers

    names = SEGMENT_CLASSES.get(model_type)
    if names is None:
        known = ", ".join(sorted(SEGMENT_CLASSES))
        raise ModelLoadError(f"{source} is a {model_type or 'unknown'!r} model, not a SAM model for clicks "
                             f"(config.json's model_type should be one of {known})")
    model_cls, processor_cls = (getattr(transformers, n, None) for n in names)
    if model_cls is None or processor_cls is None:
        raise ModelLoadError(f"{source} needs transformers.{names[0]}, which transformers "
                             f"{transformers.__version__} does not have; update transformers")
    return model_cls, processor_cls


def load_segment_model(source: str, *, dtype: torch.dtype, allow_pickle: bool = False) -> tuple[Any, Any]:
    """``(model, processor)`` of a SAM checkpoint (folder or Hub id), its class read from ``config.json``.

    ``processor`` is transformers' ``SamProcessor`` for SAM, a
    :class:`~.sam_inputs.TrackerInputs` for SAM 2 / SAM 3 tracker (no torchvision needed).
    """
    kind = describe_source(source)
    if kind == "file":
        raise ModelLoadError(f"segment model {source} must be a folder or a Hub id, not a single file")
    if kind == "hub":
        folder = hub.download(source, _top_level_files(source, allow_pickle),
                              env_var="PAINT_WIDGETS_SEGMENT_MODEL")
        hub.report(hub.LoadProgress(source, "load"))
    else:
        folder = os.path.expanduser(source)
    root = Path(folder)
    family = segment_family(root)
    model_cls, processor_cls = _sam_classes(family, source)
    _check_weights(root, root, source, label="the folder", expected="model.safetensors",
                           allow_pickle=allow_pickle)
    try:
        with hub.quiet_progress_bars(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # SAM 2 / SAM 3 tracker processors need torchvision: their few steps are in sam_inputs
            processor = (processor_cls.from_pretrained(folder) if family == "sam"
                         else TrackerInputs(root, family))
            model, info = model_cls.from_pretrained(folder, use_safetensors=None if allow_pickle else True,
                                                    torch_dtype=dtype, output_loading_info=True)
    except PaintError:
        raise
    except Exception as err:  # any library error: one line saying what is wrong
        if is_out_of_memory(err):
            raise
        raise ModelLoadError(f"{source} could not be loaded as {model_cls.__name__}: "
                             f"{_first_line(err)}") from err
    missing = sorted(info.get("missing_keys") or ())
    if missing:  # random weights in their place would give random masks, silently
        raise ModelLoadError(
            f"{source} lacks {len(missing)} of {model_cls.__name__}'s weights (e.g. {missing[0]}): it is not a "
            f"checkpoint for clicks{' (a SAM 3 text model without the tracker)' if family == 'sam3' else ''}; "
            "give a SAM, SAM 2 or SAM 3 tracker checkpoint")
    return model.eval(), processor


# --------------------------------------------------------------------------- SAM 3 text masks


class Sam3Inputs:
    """SAM 3's text and image preparation without torchvision: its tokenizer, size, mean and std."""

    def __init__(self, folder: str | Path) -> None:
        from transformers import AutoTokenizer

        root = Path(folder)
        config: dict[str, Any] = {}
        for name in ("preprocessor_config.json", "processor_config.json"):
            if (root / name).is_file():
                data = json.loads((root / name).read_text(encoding="utf-8"))
                config.update(data.get("image_processor", data) if isinstance(data, dict) else {})
        size = config.get("size") or {"height": 1008, "width": 1008}
        self.size = (int(size.get("height", 1008)), int(size.get("width", 1008)))
        self.rescale = float(config.get("rescale_factor", 1 / 255))
        self.mean = np.asarray(config.get("image_mean", [0.5] * 3), np.float32)
        self.std = np.asarray(config.get("image_std", [0.5] * 3), np.float32)
        self.tokenizer = AutoTokenizer.from_pretrained(str(root))

    def pixels(self, image: Image.Image) -> torch.Tensor:
        """``(1, 3, h, w)`` float32: resized (bilinear), rescaled, normalised."""
        h, w = self.size
        arr = np.asarray(image.convert("RGB").resize((w, h), Image.Resampling.BILINEAR), np.float32)
        arr = (arr * self.rescale - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))[None]


def textmask_family(folder: str | Path) -> str:
    """``model_type`` in ``folder``'s ``config.json`` (``clipseg``, ``sam3``...); ``""`` if unreadable."""
    try:
        config = json.loads((Path(os.path.expanduser(str(folder))) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(config.get("model_type", "")) if isinstance(config, dict) else ""


def load_textmask_model(source: str, *, dtype: torch.dtype, allow_pickle: bool = False) -> tuple[Any, Any]:
    """CLIPSeg (:func:`~.load_clipseg`) or SAM 3, read from the checkpoint's config."""
    where = describe_source(source)
    folder = os.path.expanduser(source) if where == "folder" else None
    if where == "hub":
        folder = hub.download(source, _top_level_files(source, allow_pickle),
                              env_var="PAINT_WIDGETS_TEXTMASK_MODEL")
    if folder is None or textmask_family(folder) != "sam3":
        return load_clipseg(source, dtype=dtype, allow_pickle=allow_pickle,
                            downloaded=folder if where == "hub" else None)
    import transformers

    if not hasattr(transformers, "Sam3Model"):
        raise ModelLoadError(f"{source} is a SAM 3 model, which transformers {transformers.__version__} "
                             "does not have; update transformers")
    root = Path(folder)
    _check_weights(root, root, source, label="the folder", expected="model.safetensors",
                           allow_pickle=allow_pickle)
    try:
        with hub.quiet_progress_bars(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inputs = Sam3Inputs(root)
            net = transformers.Sam3Model.from_pretrained(str(root), use_safetensors=None if allow_pickle else True,
                                                         torch_dtype=dtype)
    except PaintError:
        raise
    except Exception as err:  # any library error: one line
        if is_out_of_memory(err):
            raise
        raise ModelLoadError(f"{source} could not be loaded as Sam3Model: {_first_line(err)}") from err
    return net.eval(), inputs


def module_bytes(*modules: Any) -> int:
    """Bytes of parameters and buffers of the given torch modules."""
    total = 0
    for module in modules:
        if isinstance(module, torch.nn.Module):
            total += sum(t.numel() * t.element_size() for t in module.parameters())
            total += sum(t.numel() * t.element_size() for t in module.buffers())
    return total
