"""A Recipe: what a notebook tuned on one picture, to apply to a folder.

A recipe is the prompt, the text mask (words, threshold, grow, feather), the mask
inversion and the generation parameters that differ from their defaults. It is
one line of the command language without ``-I`` (the image comes from the batch),
so a recipe saved from a notebook is a prompt file, and a prompt file is a list
of recipes, each applied to every image::

    "a red brick wall" -tm orange 0.6 --grow 8 -s 30 -C 7.5 -S 42
    "a wide beach" -c top 64 left 128 -s 30
    "more sky" -D top 64

A recipe with ``-c/--outcrop`` (or ``outcrop={"top": 64}``) grows each image's
canvas, one with ``-D/--out_direction`` shifts it and paints the strip: each image
gets the :class:`~paint_widgets.requests.OutcropRequest` or
:class:`~paint_widgets.requests.OutpaintRequest` a single ``!fix`` would build,
with that operation's defaults (outcrop: strength 0.9, a 96 px seam pass).

``--grow N`` and ``--feather N`` are the TextMaskTuner's refinements; they are
read here, before the line goes to the command parser (which knows the rest).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CommandError, InvalidInputError
from ..io import require_number, user_path
from ..params import PARAM, number_text, quote
from ..requests import DIRECTIONS, GenerationParams, OutcropRequest, OutpaintRequest

#: The placeholder image a recipe line is parsed with (a batch gives the real one).
_PLACEHOLDER = "__batch_input__.png"
#: The mask refinements a recipe line adds to the command language, with their ranges.
_REFINE = {"--grow": (-256, 256), "--feather": (0, 256)}
#: Request options (not generation parameters) a recipe may carry.
REQUEST_OPTIONS = ("region", "crop_padding")
#: What a recipe does to each image.
OPERATIONS = ("inpaint", "outcrop", "outpaint")
Margins = Mapping[str, int]


def outcrop_margins(value: Margins | str) -> dict[str, int]:
    """Outcrop margins from ``{"top": 64}`` or the command language's words (``"top 64 right 32"``),
    checked by :class:`OutcropRequest` (whole pixels, 0..4096, at least one side)."""
    if isinstance(value, str):
        request = _parse_extension(f"-c {value}")
        if not isinstance(request, OutcropRequest):
            raise InvalidInputError(f"outcrop takes sides and pixels, e.g. 'top 64 right 32', not {value!r}")
        return {k: v for k, v in request.margins().items() if v}
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"outcrop must be a dict like {{'top': 64}} or words like 'top 64', not {value!r}")
    unknown = sorted(set(value) - set(DIRECTIONS))
    if unknown:
        raise InvalidInputError(f"unknown outcrop side(s) {', '.join(map(str, unknown))}; use {', '.join(DIRECTIONS)}")
    sides = {str(side): value[side] for side in value}
    request = OutcropRequest(image=_PLACEHOLDER, top=sides.get("top", 0), right=sides.get("right", 0),
                             bottom=sides.get("bottom", 0), left=sides.get("left", 0))
    return {k: v for k, v in request.margins().items() if v}


def outpaint_shift(value: tuple[str, int | None] | str) -> tuple[str, int | None]:
    """``(direction, pixels or None)`` from ``("top", 64)``, ``"top"`` or ``"top 64"``, checked by
    :class:`OutpaintRequest` (None pixels: half the image along that axis)."""
    if isinstance(value, str):
        request = _parse_extension(f"-D {value}")
        if not isinstance(request, OutpaintRequest):
            raise InvalidInputError(f"outpaint takes a direction and optional pixels, e.g. 'top 64', not {value!r}")
    else:
        try:
            direction, pixels = (value[0], value[1] if len(value) > 1 else None)
        except (TypeError, IndexError):
            raise InvalidInputError(f"outpaint must be ('top', 64), 'top' or 'top 64', not {value!r}") from None
        request = OutpaintRequest(image=_PLACEHOLDER, direction=direction, pixels=pixels)
    return request.direction, request.pixels


def _parse_extension(switch: str) -> Any:
    """The request the command language builds for ``"" -I <placeholder> SWITCH``."""
    from ..commands.parser import parse

    try:
        command = parse(f'"" -I {_PLACEHOLDER} {switch}')
    except CommandError as err:
        raise InvalidInputError(str(err)) from None
    return command.request if command is not None else None


@dataclass(frozen=True)
class Recipe:
    """Prompt, text mask and parameters to apply to every image of a batch.

    ``params``: GenerationParams fields other than ``prompt`` (only the ones that
    differ from the defaults matter); ``options``: request options (``region``,
    ``crop_padding``). ``outcrop`` (``{"top": 64}`` or ``"top 64"``) or ``outpaint``
    (``("top", 64)`` or ``"top"``) make it grow or shift each image instead of
    inpainting a mask. Validated on creation.
    """

    prompt: str = ""
    text_mask: tuple[str, float] | None = None
    grow: int = 0
    feather: int = 0
    invert_mask: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    outcrop: Margins | None = None
    outpaint: tuple[str, int | None] | None = None

    def __post_init__(self) -> None:
        self._check_extension()
        if not isinstance(self.prompt, str):
            raise InvalidInputError(f"recipe prompt must be a string, not {self.prompt!r}")
        if isinstance(self.text_mask, str):
            object.__setattr__(self, "text_mask", (self.text_mask, 0.5))
        if self.text_mask is not None:
            words, threshold = self.text_mask
            if not isinstance(words, str) or not words.strip():
                raise InvalidInputError("recipe text mask needs words, e.g. ('orange', 0.6)")
            threshold = require_number(threshold, "text mask threshold", low=0.0, high=1.0)
            object.__setattr__(self, "text_mask", (words, float(threshold)))
        for name, (low, high) in (("grow", _REFINE["--grow"]), ("feather", _REFINE["--feather"])):
            object.__setattr__(self, name, require_number(getattr(self, name), name, low=low, high=high,
                                                          integer=True))
        params = dict(self.params)
        params.pop("prompt", None)
        unknown = sorted(set(params) - set(PARAM))
        if unknown:
            raise InvalidInputError(f"unknown parameter(s) {', '.join(unknown)}; use GenerationParams fields")
        checked = GenerationParams(**params)  # validates every value
        object.__setattr__(self, "params", {k: getattr(checked, k) for k in sorted(params)})
        options = dict(self.options)
        bad = sorted(set(options) - set(REQUEST_OPTIONS))
        if bad:
            raise InvalidInputError(f"unknown recipe option(s) {', '.join(bad)}; use {', '.join(REQUEST_OPTIONS)}")
        object.__setattr__(self, "options", dict(sorted(options.items())))

    def _check_extension(self) -> None:
        """Normalise ``outcrop``/``outpaint`` and refuse what cannot go with them."""
        if self.outcrop is not None and self.outpaint is not None:
            raise InvalidInputError("a recipe takes either outcrop (-c) or outpaint (-D), not both")
        if self.outcrop is not None:
            object.__setattr__(self, "outcrop", outcrop_margins(self.outcrop))
        if self.outpaint is not None:
            object.__setattr__(self, "outpaint", outpaint_shift(self.outpaint))
        if self.operation == "inpaint":
            return
        used = [name for name, on in (("a text mask (-tm)", self.text_mask is not None), ("--grow", self.grow),
                                      ("--feather", self.feather), ("--invert_mask", self.invert_mask),
                                      ("region/crop_padding", bool(self.options))) if on]
        if used:
            raise InvalidInputError(f"an {self.operation} recipe paints the new area and takes no mask: "
                                    f"leave out {', '.join(used)}")

    # ------------------------------------------------------------------ using it

    @property
    def operation(self) -> str:
        """``"inpaint"``, ``"outcrop"`` or ``"outpaint"``: which request each image gets."""
        return "outcrop" if self.outcrop is not None else ("outpaint" if self.outpaint is not None else "inpaint")

    def base_params(self) -> GenerationParams:
        """The defaults of this recipe's request type (outcrop's are its own: strength 0.9, a seam pass)."""
        if self.operation == "outcrop":
            return OutcropRequest.default_params()
        if self.operation == "outpaint":
            return OutpaintRequest(image=_PLACEHOLDER).params
        return GenerationParams()

    def generation_params(self, **changes: Any) -> GenerationParams:
        """The GenerationParams of this recipe, with ``changes`` applied."""
        return self.base_params().with_(**{**self.params, "prompt": self.prompt, **changes})

    def _copy(self, **fields: Any) -> Recipe:
        values = {"prompt": self.prompt, "text_mask": self.text_mask, "grow": self.grow, "feather": self.feather,
                  "invert_mask": self.invert_mask, "params": self.params, "options": self.options,
                  "outcrop": self.outcrop, "outpaint": self.outpaint}
        return Recipe(**{**values, **fields})

    def with_(self, **params: Any) -> Recipe:
        """A copy with ``params`` (GenerationParams fields, or ``prompt``) changed."""
        prompt = params.pop("prompt", self.prompt)
        return self._copy(prompt=prompt, params={**self.params, **params})

    def canonical(self) -> str:
        """A stable JSON text of everything that changes the pixels (what batch keys hash)."""
        values = self.generation_params().as_dict()
        data: dict[str, Any] = {"params": values, "text_mask": self.text_mask, "grow": self.grow,
                                "feather": self.feather, "invert_mask": self.invert_mask,
                                "options": dict(self.options)}
        data.update(self._extension())  # only when set: inpaint keys stay as they were
        return json.dumps(data, sort_keys=True, default=str)

    def _extension(self) -> dict[str, Any]:
        if self.outcrop is not None:
            return {"outcrop": dict(self.outcrop)}
        if self.outpaint is not None:
            return {"outpaint": list(self.outpaint)}
        return {}

    def as_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready): what the batch stores in each output's metadata."""
        return {"prompt": self.prompt, "text_mask": list(self.text_mask) if self.text_mask else None,
                "grow": self.grow, "feather": self.feather, "invert_mask": self.invert_mask,
                "params": dict(self.params), "options": dict(self.options), **self._extension()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Recipe:
        tm = data.get("text_mask")
        shift = data.get("outpaint")
        return cls(prompt=data.get("prompt", ""), text_mask=(tm[0], tm[1]) if tm else None,
                   grow=data.get("grow", 0), feather=data.get("feather", 0),
                   invert_mask=bool(data.get("invert_mask", False)), params=data.get("params", {}),
                   options=data.get("options", {}), outcrop=data.get("outcrop"),
                   outpaint=(shift[0], shift[1]) if shift else None)

    # ------------------------------------------------------------------ as a prompt-file line

    def line(self) -> str:
        """This recipe as one prompt-file line (the command language without ``-I``)."""
        parts = [quote(self.prompt)]
        if self.outcrop is not None:
            parts.append("-c")
            for side in DIRECTIONS:
                if side in self.outcrop:
                    parts += [side, str(self.outcrop[side])]
        if self.outpaint is not None:
            parts += ["-D", self.outpaint[0]] + ([str(self.outpaint[1])] if self.outpaint[1] is not None else [])
        if self.text_mask:
            parts += ["-tm", shlex.quote(self.text_mask[0]), number_text(self.text_mask[1])]
        if self.grow:
            parts += ["--grow", str(self.grow)]
        if self.feather:
            parts += ["--feather", str(self.feather)]
        if self.invert_mask:
            parts.append("--invert_mask")
        for name, value in self.params.items():
            param = PARAM[name]
            if not param.switches or value is None:
                continue
            parts += param.tokens(value)  # text values come quoted
        return " ".join(parts)

    def save(self, path: str | os.PathLike) -> Path:
        """Write this recipe as a one-line prompt file (``paint-widgets batch --from_file``)."""
        target = user_path(path, "recipe file")
        target.write_text(self.line() + "\n", encoding="utf-8")
        return target

    @classmethod
    def from_line(cls, line: str) -> Recipe | None:
        """The recipe of one prompt-file line; None for a blank line or a comment."""
        from ..commands.parser import parse, split_prompt

        text = line.strip()
        if not text or text.startswith("#"):
            return None
        prompt, tokens = split_prompt(text)
        refine: dict[str, int] = {}
        rest: list[str] = []
        i = 0
        while i < len(tokens):
            word = tokens[i]
            name, _, joined = word.partition("=")
            if name in _REFINE:
                value = joined or (tokens[i + 1] if i + 1 < len(tokens) else "")
                i += 1 if joined else 2
                try:
                    refine[name[2:]] = int(value, 10)
                except ValueError:
                    raise CommandError(f"{name} takes a whole number of pixels, not {value!r}") from None
                continue
            rest.append(word)
            i += 1
        if any(w == "--init_img" or w.startswith(("-I", "--init_img=")) for w in rest):
            raise CommandError("a batch recipe takes no -I: the batch gives the images (--input)")
        command = parse(" ".join([quote(prompt), shlex.join(rest), "-I", _PLACEHOLDER]))
        if command is None or command.kind != "generate":
            raise CommandError(f"a batch recipe is a prompt with switches, not {text.split()[0]}")
        request = command.request
        if request.image_ref != _PLACEHOLDER or getattr(request, "mask_ref", None) or command.outdir:
            raise CommandError("a batch recipe takes no -I, -M or -o: the batch gives the images "
                               "(--input), masks (--masks) and output folder (--outdir)")
        values = request.params
        params = {name: getattr(values, name) for name in command.given if name != "prompt"}
        shape: dict[str, Any] = {}
        if isinstance(request, OutcropRequest):
            shape["outcrop"] = request.margins()
        elif isinstance(request, OutpaintRequest):
            shape["outpaint"] = (request.direction, request.pixels)
        else:
            shape.update(text_mask=request.text_mask, invert_mask=request.invert_mask)
        try:
            return cls(prompt=values.prompt, params=params, grow=refine.get("grow", 0),
                       feather=refine.get("feather", 0), **shape)
        except InvalidInputError as err:
            raise CommandError(str(err)) from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> list[Recipe]:
        """Every recipe of a prompt file, one a line (blank lines and ``#`` comments skipped)."""
        from ..commands.runner import split_lines

        source = user_path(path, "prompt file", CommandError)
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise CommandError(f"cannot read prompt file {source}: {getattr(err, 'strerror', None) or err}") \
                from None
        recipes = []
        for number, line in enumerate(split_lines(text), start=1):
            try:
                recipe = cls.from_line(line)
            except CommandError as err:
                raise CommandError(f"line {number} of {source}: {err}") from None
            if recipe is not None:
                recipes.append(recipe)
        if not recipes:
            raise CommandError(f"prompt file {source} holds no recipe (only blank lines and comments)")
        return recipes


__all__ = ["OPERATIONS", "REQUEST_OPTIONS", "Recipe", "outcrop_margins", "outpaint_shift"]
