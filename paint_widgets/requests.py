"""One request type per operation, shared by the widgets, the command parser and the API.

A widget click, an ``%invoke`` line and a function call all build one of these
frozen dataclasses, so they validate the same way, produce the same image, and
each can print the ``invoke>`` command line that reproduces it.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import InvalidInputError
from .io import ImageLike, require_number

# INFILL_METHODS, MAX_*, SAMPLERS and quote live in the parameter table now; re-exported here.
from .params import CHANGED, HEAD, PARAM, PARAMS, TAIL, defaults_for, printed
from .params import INFILL_METHODS as INFILL_METHODS
from .params import MAX_SEED as MAX_SEED
from .params import MAX_SIDE as MAX_SIDE
from .params import MAX_STEPS as MAX_STEPS
from .params import SAMPLERS as SAMPLERS
from .params import number_text as _num
from .params import quote as quote

DIRECTIONS = ("top", "right", "bottom", "left")
REGIONS = ("auto", "full", "crop")


@dataclass(frozen=True)
class GenerationParams:
    """The sampling parameters every generating operation shares (``invoke>`` switches).

    One field per row of :data:`paint_widgets.params.PARAMS`, with the row's default (a
    test checks they agree); validation, the printed switches and :meth:`as_dict` (the
    PNG metadata) all come from that table.
    """

    prompt: str = ""
    negative_prompt: str = ""
    steps: int = 50  # -s
    cfg: float = 7.5  # -C
    strength: float = 0.75  # -f
    seed: int | None = None  # -S; None = random
    sampler: str = "k_lms"  # -A
    iterations: int = 1  # -n
    width: int | None = None  # -W; None = the image's width
    height: int | None = None  # -H
    inpaint_replace: float = 0.0  # -r
    seam_size: int = 0
    seam_blur: int = 0
    seam_strength: float = 0.7
    seam_steps: int = 10
    tile_size: int = 32
    infill_method: str = "patchmatch"
    color_correct: bool = False
    soft: bool = False  # --soft: differential diffusion (the mask's value = share of steps that change it)
    model: str | None = None

    def __post_init__(self) -> None:
        texts = [p for p in PARAMS if p.is_text]
        if any(not isinstance(getattr(self, p.name), str) for p in texts):
            raise InvalidInputError(f"{' and '.join(p.name for p in texts)} must be strings")
        for p in texts:  # one line each, so the command line replays: CLIP reads a line break as a space
            text = getattr(self, p.name)
            if any(c in text for c in _LINE_BREAKS):
                object.__setattr__(self, p.name, _one_line(text))
        for p in PARAMS:  # ranges and choices from the table, in its order
            object.__setattr__(self, p.name, p.check(getattr(self, p.name)))
        steps, strength = PARAM["steps"], PARAM["strength"]
        _require_a_step(self.steps, self.strength, steps.label, strength.label)
        if self.seam_size > 0:
            seam_steps, seam_strength = PARAM["seam_steps"], PARAM["seam_strength"]
            _require_a_step(self.seam_steps, self.seam_strength, seam_steps.label, seam_strength.label)

    @classmethod
    def for_operation(cls, operation: str, **changes: Any) -> GenerationParams:
        """The defaults of ``operation`` (``"inpaint"``, ``"outcrop"``, ``"outpaint"``) with ``changes``."""
        return cls(**{**defaults_for(operation), **changes})

    def with_(self, **changes: Any) -> GenerationParams:
        """A copy with ``changes`` applied (validated again)."""
        return replace(self, **changes)

    def switches(self, seed: int, width: int, height: int) -> list[str]:
        """The reference's switch order before ``-I``: ``-s -S -W -H -C``.

        ``seed``, ``width`` and ``height`` are the image's (the seed drawn, the size made).
        """
        image = {"seed": seed, "width": width, "height": height}
        out: list[str] = []
        for p in printed(HEAD):
            out += p.tokens(image[p.name] if p.per_image else getattr(self, p.name))
        return out

    def tail_switches(self) -> list[str]:
        """Switches after ``-I``: sampler and strength (``-A -f``), then any non-default extras."""
        out: list[str] = []
        for p in printed(TAIL):
            out += p.tokens(getattr(self, p.name))
        for p in printed(CHANGED):
            value = getattr(self, p.name)
            if value != p.default:
                out += p.tokens(value)
        return out

    def changed_switches(self, defaults: GenerationParams) -> list[str]:
        """Switches for the values that differ from ``defaults`` (``!fix`` lines print these).

        Prompt and seed are printed as ``-p``/``-S`` anyway; ``-n``, ``-W``/``-H`` do not apply.
        """
        out: list[str] = []
        for p in PARAMS:
            if p.printed is None or p.per_image:
                continue
            value = getattr(self, p.name)
            if value != getattr(defaults, p.name):
                out += p.tokens(value)
        return out

    def as_dict(self) -> dict[str, Any]:
        """``{name: value}`` of every parameter in the table (what the PNG metadata stores)."""
        return {p.name: getattr(self, p.name) for p in PARAMS}


#: What ends a line where command lines are read (files, stdin, cells: ``\n``, ``\r\n``).
#: Other ``str.splitlines`` separators (U+2028, ``\x0b``...) split nothing there: kept.
_LINE_BREAKS = ("\r", "\n")


def _one_line(text: str) -> str:
    """``text`` with each line break (``\\r\\n`` counts once) a space."""
    text = text.replace("\r\n", " ")
    for c in _LINE_BREAKS:
        text = text.replace(c, " ")
    return text


def _require_a_step(steps: int, strength: float, steps_flag: str, strength_flag: str) -> None:
    """``int(steps * strength)`` denoising steps run (as diffusers counts them): at least one."""
    if int(steps * strength) < 1:
        need = math.ceil(1 / strength - 1e-9)
        while int(need * strength) < 1:
            need += 1
        raise InvalidInputError(
            f"{steps_flag} = {steps} with {strength_flag} = {strength:g} runs int({steps} x {strength:g}) = 0 "
            f"denoising steps; use {steps_flag} = {need} or more, or a higher {strength_flag}"
        )


def _path_arg(value: Any) -> str:
    """A path as a command-line word: quoted, and ``./``-prefixed where it starts with
    ``-`` (``-x.png`` would read as a switch); ``<image>`` placeholders as they are."""
    text = str(value)
    if text.startswith("<") and text.endswith(">"):
        return text
    return shlex.quote("./" + text if text.startswith("-") else text)


IF_OPAQUE = ("refuse", "img2img")


@dataclass(frozen=True)
class InpaintRequest:
    """Inpaint ``image`` where ``mask`` (or the image's transparency, or ``text_mask``) says."""

    image: ImageLike
    mask: Any = None  # array/PIL/path; None = the image's alpha (or the text mask)
    params: GenerationParams = field(default_factory=GenerationParams)
    invert_mask: bool = False
    text_mask: tuple[str, float] | None = None
    region: str = "auto"
    crop_padding: int = 32
    image_ref: str | None = None  # how the command line names the image (-I)
    mask_ref: str | None = None  # how the command line names the mask (-M)
    #: What an image with no mask, no text mask and no transparency means: ``"refuse"``
    #: (nothing to repaint: a MaskError, the API's default) or ``"img2img"`` (repaint the
    #: whole image at ``strength``, as InvokeAI's prompt line did; the command language's).
    if_opaque: str = "refuse"

    def __post_init__(self) -> None:
        if self.if_opaque not in IF_OPAQUE:
            raise InvalidInputError(f"if_opaque must be one of {IF_OPAQUE}, not {self.if_opaque!r}")
        if self.text_mask is not None:
            text, threshold = self.text_mask
            if not isinstance(text, str) or not text.strip():
                raise InvalidInputError("text mask (-tm) needs a non-empty description, e.g. -tm hair")
            threshold = require_number(threshold, "text mask threshold", low=0.0, high=1.0)
            object.__setattr__(self, "text_mask", (text, threshold))
        if self.region not in REGIONS:
            raise InvalidInputError(f"region must be one of {REGIONS}, not {self.region!r}")
        object.__setattr__(
            self, "crop_padding", require_number(self.crop_padding, "crop_padding", low=0, high=4096, integer=True)
        )

    @property
    def has_mask_source(self) -> bool:
        """Whether a mask or a text mask says where to paint (else the image's alpha does)."""
        return self.mask is not None or self.text_mask is not None

    def command(self, seed: int, width: int, height: int) -> str:
        """The ``invoke>`` line that reproduces this request with ``seed``."""
        p = self.params
        parts = [quote(p.prompt), *p.switches(seed, width, height)]
        parts += ["-I", _path_arg(self.image_ref or "<image>")]
        parts += p.tail_switches()
        if self.mask_ref:
            parts += ["-M", _path_arg(self.mask_ref)]
        elif self.mask is not None:
            parts += ["-M", "<mask>"]
        if self.invert_mask:
            parts += ["--invert_mask"]
        if self.text_mask:
            parts += ["-tm", shlex.quote(self.text_mask[0]), _num(self.text_mask[1])]
        return " ".join(parts)


@dataclass(frozen=True)
class OutcropRequest:
    """Grow the canvas by per-side margins (rounded up to 64) and paint the new area."""

    image: ImageLike
    top: int = 0
    right: int = 0
    bottom: int = 0
    left: int = 0
    params: GenerationParams = field(default_factory=lambda: OutcropRequest.default_params())
    image_ref: str | None = None

    @staticmethod
    def default_params() -> GenerationParams:
        """The reference's outcrop defaults (the table's): strength 0.9 and a 96 px seam pass."""
        return GenerationParams.for_operation("outcrop")

    def __post_init__(self) -> None:
        for side in DIRECTIONS:
            object.__setattr__(self, side, require_number(getattr(self, side), f"outcrop {side}", low=0, high=4096, integer=True))
        if not any(getattr(self, side) for side in DIRECTIONS):
            raise InvalidInputError("outcrop needs at least one side to extend, e.g. --outcrop top 64")

    def margins(self) -> dict[str, int]:
        return {side: getattr(self, side) for side in DIRECTIONS}

    def command(self, seed: int, width: int, height: int) -> str:
        parts = ["!fix", _path_arg(self.image_ref or "<image>"), "--outcrop"]
        for side in DIRECTIONS:
            if getattr(self, side):
                parts += [side, str(getattr(self, side))]
        if self.params.prompt:
            parts += ["-p", quote(self.params.prompt)]
        parts += ["-S", str(seed), *self.params.changed_switches(OutcropRequest.default_params())]
        return " ".join(parts)


@dataclass(frozen=True)
class OutpaintRequest:
    """Shift the image by ``pixels`` towards ``direction`` and paint the uncovered strip."""

    image: ImageLike
    direction: str = "top"
    pixels: int | None = None  # None = half the image along that axis
    params: GenerationParams = field(default_factory=GenerationParams)
    image_ref: str | None = None

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise InvalidInputError(f"unknown direction {self.direction!r} (-D); choose one of: {', '.join(DIRECTIONS)}")
        if self.pixels is not None:
            object.__setattr__(self, "pixels", require_number(self.pixels, "outpaint pixels", low=1, high=MAX_SIDE, integer=True))

    def command(self, seed: int, width: int, height: int) -> str:
        parts = ["!fix", _path_arg(self.image_ref or "<image>"), "-D", self.direction]
        if self.pixels is not None:
            parts.append(str(self.pixels))
        if self.params.prompt:
            parts += ["-p", quote(self.params.prompt)]
        parts += ["-S", str(seed), *self.params.changed_switches(GenerationParams())]
        return " ".join(parts)


@dataclass(frozen=True)
class MaskRequest:
    """``!mask IMAGE -tm TEXT [THRESHOLD]``: write the three text-mask debug images."""

    image: ImageLike
    prompt: str
    threshold: float = 0.5
    image_ref: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise InvalidInputError("!mask needs a text to mask, e.g. !mask photo.png -tm hair 0.5")
        object.__setattr__(self, "threshold", require_number(self.threshold, "text mask threshold", low=0.0, high=1.0))

    def command(self) -> str:
        return mask_command(self.image_ref, self.prompt, self.threshold)


def mask_command(image_ref: str | None, prompt: str, threshold: float) -> str:
    """The ``!mask`` line: the one printed and the one stored in the three PNGs.

    ``image_ref`` None (an array, not a file) prints ``<image>``; the image and the
    text are shell-quoted only when they need it, so the line parses back the same.
    """
    return f"!mask {_path_arg(image_ref or '<image>')} -tm {shlex.quote(prompt)} {_num(threshold)}"
