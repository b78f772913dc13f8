"""LoRAs: InvokeAI 2.3's ``withLora(name,weight)`` in the prompt, on a resident pipeline.

The prompt carries the LoRAs everywhere (the command language, ``pw.inpaint(...,
loras={...})`` which appends them, the Studio's prompt box), so a printed line replays
with them: ``"a cat withLora(ink-style,0.8)" -s 30 ...``. Before encoding, the engine
takes them out of the text (:func:`split_loras`); the encoder never sees them.

A name is a ``.safetensors`` file (path, ``~`` expanded) or the stem of one in the LoRA
folder (``manager().configure(lora_dir=...)`` or ``$PAINT_WIDGETS_LORA_DIR``), as
InvokeAI read them from its ``loras`` folder; the weight defaults to 1.0. Each LoRA is
loaded into the pipeline once with diffusers' ``load_lora_weights`` (peft adapters) and
kept; a run sets the adapters it names and their weights (``set_adapters``: no reload
for a new weight) and a run that names none disables them all, which gives the pixels
of the model as if no LoRA had ever been loaded.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, ModelLoadError

#: ``withLora(name)`` or ``withLora(name, 0.8)``, as InvokeAI 2.3 wrote it.
LORA_CALL = re.compile(r"withLora\(\s*([^,()]+?)\s*(?:,\s*([^,()]*?)\s*)?\)")
DEFAULT_WEIGHT = 1.0
MAX_WEIGHT = 10.0
_ATTR = "_paint_widgets_loras"  # on the pipeline: {file path: adapter name}


def split_loras(prompt: str) -> tuple[str, dict[str, float]]:
    """``(prompt without withLora(...), {name: weight})``; a name given twice keeps the last weight.

    Raises :class:`InvalidInputError` for a weight that is not a finite number in
    ``[-MAX_WEIGHT, MAX_WEIGHT]``.
    """
    loras: dict[str, float] = {}

    def take(match: re.Match[str]) -> str:
        name, weight = match.group(1), match.group(2)
        loras[name] = _weight(weight, name)
        return " "

    text = LORA_CALL.sub(take, prompt)
    return " ".join(text.split()) if loras else prompt, loras


def _weight(text: str | None, name: str) -> float:
    if text is None or not text.strip():
        return DEFAULT_WEIGHT
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError(f"withLora({name},{text}): the weight must be a number, e.g. 0.8") from None
    if not math.isfinite(value) or abs(value) > MAX_WEIGHT:
        raise InvalidInputError(f"withLora({name},{text}): the weight must be between -{MAX_WEIGHT:g} and "
                                f"{MAX_WEIGHT:g}")
    return value


def lora_call(name: str, weight: float) -> str:
    """``withLora(name,weight)`` for the prompt; refuses names the syntax cannot hold."""
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "(),"):
        raise InvalidInputError(f"LoRA name {name!r} must be non-empty, without commas or parentheses "
                                "(rename the file, or put it in the LoRA folder and use its stem)")
    return f"withLora({name.strip()},{_weight(repr(float(weight)), name):g})"


def with_loras(prompt: str, loras: Mapping[str, float] | None) -> str:
    """``prompt`` with ``withLora(name,weight)`` appended for each of ``loras`` (the API's ``loras=``)."""
    if not loras:
        return prompt
    if not isinstance(loras, Mapping):
        raise InvalidInputError(f"loras must be a dict {{name or path: weight}}, not {type(loras).__name__}")
    return " ".join([prompt, *(lora_call(name, weight) for name, weight in loras.items())]).strip()


def resolve(name: str, lora_dir: str | None) -> Path:
    """The ``.safetensors`` file ``name`` means: a path, or ``<lora_dir>/<name>.safetensors``."""
    path = Path(os.path.expanduser(name))
    if path.suffix.lower() == ".safetensors" or os.sep in name or "/" in name:
        if path.is_file():
            return path.resolve()
        raise ModelLoadError(f"LoRA {name}: no such file")
    if lora_dir:
        folder = Path(os.path.expanduser(lora_dir))
        candidate = folder / f"{name}.safetensors"
        if candidate.is_file():
            return candidate.resolve()
        have = sorted(p.stem for p in folder.glob("*.safetensors")) if folder.is_dir() else []
        listed = f"it has {', '.join(have)}" if have else "it has no .safetensors files"
        raise ModelLoadError(f"LoRA {name}: no {name}.safetensors in the LoRA folder {folder} ({listed})")
    raise ModelLoadError(f"LoRA {name}: not a .safetensors file, and no LoRA folder is set; give a path, or "
                         "manager().configure(lora_dir=FOLDER) or PAINT_WIDGETS_LORA_DIR=FOLDER")


def check_loras(prompt: str, lora_dir: str | None) -> dict[Path, float]:
    """``{file: weight}`` of the prompt's LoRAs, every name resolved (errors before any work)."""
    _, loras = split_loras(prompt)
    return {resolve(name, lora_dir): weight for name, weight in loras.items()}


def use_loras(pipe: Any, loras: Mapping[Path, float], *, label: str = "this model") -> None:
    """Make ``pipe`` run with exactly ``loras`` (file -> weight): load new ones once, set the
    weights of those named, disable the rest (none named: the plain model)."""
    loaded: dict[str, str] = getattr(pipe, _ATTR, None) or {}
    if not loras and not loaded:
        return  # never had a LoRA: nothing to switch off
    for path in loras:
        key = str(path)
        if key in loaded:
            continue
        adapter = f"lora_{len(loaded)}"
        try:
            pipe.load_lora_weights(key, adapter_name=adapter)
        except Exception as err:  # noqa: BLE001 - shapes that do not fit, not a LoRA file, peft missing
            raise ModelLoadError(f"LoRA {path.name} does not load into {label} ({_first_line(err)}); "
                                 "a LoRA only fits the model family it was trained for") from err
        loaded[key] = adapter
        setattr(pipe, _ATTR, loaded)
    if loras:
        pipe.enable_lora()
        pipe.set_adapters([loaded[str(p)] for p in loras], adapter_weights=[float(w) for w in loras.values()])
    else:
        pipe.disable_lora()


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0][:300] if text else type(err).__name__


__all__ = ["check_loras", "lora_call", "resolve", "split_loras", "use_loras", "with_loras"]
