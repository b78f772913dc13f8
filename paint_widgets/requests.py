"""One request type per operation, shared by the widgets, the command parser and the API.

A widget click, an ``%invoke`` line and a function call all build one of these
frozen dataclasses, so they validate the same way, produce the same image, and
each can print the ``invoke>`` command line that reproduces it.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import InvalidInputError
from .io import ImageLike, require_number

#: InvokeAI sampler names we accept (``-A``).
SAMPLERS = (
    "ddim", "plms", "k_lms", "k_euler", "k_euler_a", "k_heun",
    "k_dpm_2", "k_dpm_2_a", "k_dpmpp_2", "k_dpmpp_2_a",
)
DIRECTIONS = ("top", "right", "bottom", "left")
INFILL_METHODS = ("patchmatch", "telea", "tile", "color")
REGIONS = ("auto", "full", "crop")
MAX_STEPS = 1000
MAX_SIDE = 8192
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class GenerationParams:
    """The sampling parameters every generating operation shares (``invoke>`` switches)."""

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
    model: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.prompt, str) or not isinstance(self.negative_prompt, str):
            raise InvalidInputError("prompt and negative_prompt must be strings")
        set_ = object.__setattr__
        set_(self, "steps", require_number(self.steps, "steps (-s)", low=1, high=MAX_STEPS, integer=True))
        set_(self, "cfg", require_number(self.cfg, "cfg_scale (-C)", low=0.0, high=100.0))
        set_(self, "strength", require_number(self.strength, "strength (-f)", low=0.0, low_open=True, high=1.0))
        if self.seed is not None:
            set_(self, "seed", require_number(self.seed, "seed (-S)", low=0, high=MAX_SEED, integer=True))
        if self.sampler not in SAMPLERS:
            raise InvalidInputError(f"unknown sampler {self.sampler!r} (-A); choose one of: {', '.join(SAMPLERS)}")
        set_(self, "iterations", require_number(self.iterations, "iterations (-n)", low=1, high=1000, integer=True))
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None:
                set_(self, name, require_number(value, f"{name} (-{name[0].upper()})", low=64, high=MAX_SIDE, integer=True))
        set_(self, "inpaint_replace", require_number(self.inpaint_replace, "inpaint_replace (-r)", low=0.0, high=1.0))
        set_(self, "seam_size", require_number(self.seam_size, "seam_size", low=0, high=1024, integer=True))
        set_(self, "seam_blur", require_number(self.seam_blur, "seam_blur", low=0, high=1024, integer=True))
        set_(self, "seam_strength", require_number(self.seam_strength, "seam_strength", low=0.0, low_open=True, high=1.0))
        set_(self, "seam_steps", require_number(self.seam_steps, "seam_steps", low=1, high=MAX_STEPS, integer=True))
        _require_a_step(self.steps, self.strength, "steps (-s)", "strength (-f)")
        if self.seam_size > 0:
            _require_a_step(self.seam_steps, self.seam_strength, "seam_steps", "seam_strength")
        set_(self, "tile_size", require_number(self.tile_size, "tile_size", low=1, high=1024, integer=True))
        if self.infill_method not in INFILL_METHODS:
            raise InvalidInputError(
                f"unknown infill method {self.infill_method!r}; choose one of: {', '.join(INFILL_METHODS)}"
            )

    def with_(self, **changes: Any) -> GenerationParams:
        """A copy with ``changes`` applied (validated again)."""
        return replace(self, **changes)

    def switches(self, seed: int, width: int, height: int) -> list[str]:
        """The reference's switch order: ``-s -S -W -H -C ... -A -f``, plus non-defaults."""
        out = ["-s", str(self.steps), "-S", str(seed), "-W", str(width), "-H", str(height),
               "-C", _num(self.cfg)]
        return out

    def tail_switches(self) -> list[str]:
        """Switches after ``-I``: sampler, strength, and any non-default extras."""
        out = ["-A", self.sampler, "-f", _num(self.strength)]
        defaults = GenerationParams()
        for name, flag in (("inpaint_replace", "-r"), ("seam_size", "--seam_size"),
                           ("seam_blur", "--seam_blur"), ("seam_strength", "--seam_strength"),
                           ("seam_steps", "--seam_steps"), ("tile_size", "--tile_size"),
                           ("infill_method", "--infill_method")):
            value = getattr(self, name)
            if value != getattr(defaults, name):
                out += [flag, _num(value) if isinstance(value, float) else str(value)]
        if self.negative_prompt:
            out += ["--negative_prompt", quote(self.negative_prompt)]
        if self.color_correct:
            out += ["--color_correct"]
        return out

    def changed_switches(self, defaults: GenerationParams) -> list[str]:
        """Switches for the values that differ from ``defaults`` (``!fix`` lines print these)."""
        out: list[str] = []
        for name, flag in _FIX_SWITCHES:
            value = getattr(self, name)
            if value == getattr(defaults, name):
                continue
            if isinstance(value, bool):
                out.append(flag)
            elif isinstance(value, str):
                out += [flag, quote(value) if name == "negative_prompt" else value]
            else:
                out += [flag, _num(value) if isinstance(value, float) else str(value)]
        return out

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


#: Parameters a ``!fix`` line prints when they differ from the request's defaults
#: (prompt and seed are printed as ``-p``/``-S`` anyway; -n and -W/-H do not apply).
_FIX_SWITCHES = (
    ("steps", "-s"), ("cfg", "-C"), ("strength", "-f"), ("sampler", "-A"), ("inpaint_replace", "-r"),
    ("seam_size", "--seam_size"), ("seam_blur", "--seam_blur"), ("seam_strength", "--seam_strength"),
    ("seam_steps", "--seam_steps"), ("tile_size", "--tile_size"), ("infill_method", "--infill_method"),
    ("negative_prompt", "--negative_prompt"), ("color_correct", "--color_correct"),
)


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


def _num(value: float) -> str:
    """Floats as the reference prints them: ``7.5``, ``20.0``, ``0.75``."""
    return repr(float(value)) if math.isfinite(value) else str(value)


def quote(text: str) -> str:
    """Quote a prompt the way ``invoke>`` prints it (double quotes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _path_arg(value: Any) -> str:
    text = str(value)
    return text if text.startswith("<") and text.endswith(">") else shlex.quote(text)


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

    def __post_init__(self) -> None:
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
            parts += ["-tm", _path_arg(self.text_mask[0]), _num(self.text_mask[1])]
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
        """The reference's outcrop defaults: strength 0.9 and a 96 px seam pass."""
        return GenerationParams(strength=0.9, seam_size=96, seam_blur=16, seam_strength=0.7, seam_steps=20)

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
        return f"!mask {_path_arg(self.image_ref or '<image>')} -tm {_path_arg(self.prompt)} {_num(self.threshold)}"
