"""The prompt and seed an image was made with, read from its PNG metadata.

One reader for every front door: ``!fix`` in the command language, ``pw.outcrop()``
and ``pw.outpaint()`` and the Studio all take an image's stored prompt and seed from
here, unless the user gives their own. It knows three stores, in this order:

1. this package's JSON (``paint_widgets`` text chunk, see :func:`.io.read_metadata`);
2. InvokeAI 2.x's ``sd-metadata`` JSON (``{"image": {"prompt": ..., "seed": ...}}``);
3. InvokeAI's ``Dream`` text chunk, a command line (``"a prompt" -S 42 -s 50 ...``).

Metadata is untrusted input: every value is size-limited, parsed (JSON, shell
words), checked for type and range, and never evaluated. A file that is missing,
damaged or not an image gives ``{}``.
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Any

from PIL import Image

from .io import MAX_METADATA_CHARS, METADATA_KEY, json_object, read_png_text

SEED_LIMIT = 2**32
# Where a Dream line's unquoted prompt ends: the first word that is a switch.
_FIRST_SWITCH = re.compile(r"(?:^|\s)(--?[A-Za-z])")
_SEED_SWITCHES = ("-S", "--seed")


def image_defaults(image: Image.Image | str | os.PathLike) -> dict[str, Any]:
    """``{"prompt", "seed", "negative_prompt"}``, those found, stored in ``image``'s metadata.

    ``image`` is a path (only the header is read, no pixels decoded) or an open PIL
    image (its ``info``). Stores are read in the order of the module docstring; a
    value found in an earlier one wins.
    """
    texts = _texts(image)
    found = _ours(texts.get(METADATA_KEY))
    if {"prompt", "seed"} <= set(found):
        return found
    for key, value in {**_dream_line(texts.get("Dream")), **_sd_metadata(texts.get("sd-metadata"))}.items():
        found.setdefault(key, value)
    return found


def _texts(image: Image.Image | str | os.PathLike) -> dict[str, str]:
    if not isinstance(image, Image.Image):
        return read_png_text(image)
    return {k: v for k, v in image.info.items()
            if isinstance(k, str) and isinstance(v, str) and len(v) <= MAX_METADATA_CHARS}


def _seed(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < SEED_LIMIT:
        return value
    return None


def _ours(text: str | None) -> dict[str, Any]:
    data = json_object(text)
    params = data.get("params")
    stored: dict[str, Any] = params if isinstance(params, dict) else {}
    found: dict[str, Any] = {}
    for name in ("prompt", "negative_prompt"):
        if isinstance(stored.get(name), str) and stored[name]:
            found[name] = stored[name]
    seed = _seed(stored.get("seed", data.get("seed")))
    if seed is not None:
        found["seed"] = seed
    return found


def _sd_metadata(text: str | None) -> dict[str, Any]:
    """InvokeAI 2.x: ``{"image": {"prompt": [{"prompt": ..., "weight": ...}] | str, "seed": ...}}``."""
    image = json_object(text).get("image")
    if not isinstance(image, dict):
        return {}
    found: dict[str, Any] = {}
    prompt = image.get("prompt")
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], dict):
        prompt = prompt[0].get("prompt")
    if isinstance(prompt, str) and prompt:
        found["prompt"] = prompt
    seed = _seed(image.get("seed"))
    if seed is not None:
        found["seed"] = seed
    return found


def _words(line: str) -> tuple[str, list[str]] | None:
    """``(prompt, switch words)`` as InvokeAI split a line: a leading quote quotes the
    prompt (an apostrophe that is never closed does not: 'twas ...); else the prompt
    runs to the first switch. None for a line that does not split (unclosed quote)."""
    if line[:1] in ("'", '"'):
        lexer = shlex.shlex(line, posix=True)
        lexer.whitespace_split, lexer.commenters = True, ""
        try:
            words = list(lexer)
            return (words[0], words[1:]) if words else ("", [])
        except ValueError:
            if line[0] == '"':
                return None
    match = _FIRST_SWITCH.search(line)
    cut = match.start(1) if match else len(line)
    try:
        return line[:cut].strip(), shlex.split(line[cut:])
    except ValueError:
        return None


def _dream_line(line: str | None) -> dict[str, Any]:
    """Prompt and ``-S``/``--seed`` of a ``Dream`` command line; ``{}`` if it does not parse."""
    if line is None or len(line) > MAX_METADATA_CHARS:
        return {}
    words = _words(line.strip())
    if words is None:
        return {}
    prompt, switches = words
    found: dict[str, Any] = {"prompt": prompt} if prompt else {}
    for i, word in enumerate(switches):
        name, _, value = word.partition("=")
        if name in _SEED_SWITCHES and not value and i + 1 < len(switches):
            value = switches[i + 1]
        elif word.startswith("-S") and word[2:].isdigit():
            value = word[2:]
        elif name not in _SEED_SWITCHES:
            continue
        seed = _seed(int(value)) if value.isdigit() else None
        if seed is not None:
            found["seed"] = seed
    return found


__all__ = ["image_defaults"]
