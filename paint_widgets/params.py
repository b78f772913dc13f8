"""The one table of generation parameters.

Each :class:`Param` row declares a parameter once: its name (the
:class:`~paint_widgets.requests.GenerationParams` field and the argparse ``dest``),
its ``invoke>`` switches, type, range or choices, default and per-operation
defaults, help text, where it prints in a command line, and how the Studio shows
it. From :data:`PARAMS` come the validation (``GenerationParams``), the argparse
switches (:mod:`paint_widgets.commands.parser`), the printed command lines, the
PNG metadata, the Studio's controls (:mod:`paint_widgets.widgets._params`) and a
test checks the README's switch table against it.

Adding a parameter is one row here, its field in ``GenerationParams`` (and its
keyword in ``inpaint()``, both checked against this table by a test), plus the
code that uses it.

No torch and no ipywidgets here: every layer may import it.
"""

from __future__ import annotations

import math
import random
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInputError
from .io import MIN_SIDE, require_number

#: InvokeAI sampler names we accept (``-A``): the ten of InvokeAI 2.3's scheduler map.
SAMPLERS = (
    "ddim", "plms", "k_lms", "k_euler", "k_euler_a", "k_heun",
    "k_dpm_2", "k_dpm_2_a", "k_dpmpp_2", "dpmpp_2",
)
#: Names InvokeAI 2.3 accepted but did not carry out, with what we say instead.
REFUSED_SAMPLERS = {
    "k_dpmpp_2_a": "sampler k_dpmpp_2_a (-A): InvokeAI 2.3 accepted the name but had no scheduler for it "
                   "(it fell back to the model's own), so no image of it can be reproduced; "
                   "use k_dpmpp_2 (DPM++ 2M) or k_euler_a (ancestral)",
}
INFILL_METHODS = ("patchmatch", "telea", "tile", "color", "auto")  # auto: by the hole (imaging.infill)
MAX_STEPS = 1000
MAX_SIDE = 8192
MAX_SEED = 2**32 - 1

#: The operations a request can be; a row may give any of them its own default.
OPERATIONS = ("inpaint", "outcrop", "outpaint")

# Where a parameter prints in an ``invoke>`` line (``Param.printed``):
#: always, before ``-I``, in the reference's order ``-s -S -W -H -C``
HEAD = "head"
#: always, right after ``-I`` (``-A -f``)
TAIL = "tail"
#: after those (and in ``!fix`` lines), only when it differs from the default
CHANGED = "changed"


@dataclass(frozen=True)
class Control:
    """How the Studio shows a parameter; :func:`paint_widgets.widgets._params.controls_for` builds it.

    ``kind``: ``"slider"``, ``"field"`` (a number box), ``"bounded"`` (a number box
    limited to the parameter's range), ``"area"`` (multi-line text), ``"line"``
    (one-line text), ``"dropdown"`` or ``"checkbox"``; empty: chosen from the type
    (choices → dropdown, text → line, bool → checkbox, number → field).
    ``low``/``high``: the slider's range when narrower than the parameter's.
    ``start``: the first value when the default is None (the seed: a random one).
    """

    label: str
    kind: str = ""
    low: float | None = None
    high: float | None = None
    step: float | None = None
    placeholder: str = ""
    start: Callable[[], Any] | None = None


@dataclass(frozen=True)
class Param:
    """One generation parameter: everything the front doors need to know about it.

    ``low``/``high`` bound a number (``low_open``: ``low`` itself is refused);
    ``optional``: None is allowed and means ``none_means`` (``"random"``). ``per_op``
    gives some operations their own default (outcrop's strength 0.9). ``printed``:
    :data:`HEAD`, :data:`TAIL`, :data:`CHANGED` or None (prompt, ``-n`` and the model
    have places of their own); ``slot`` orders HEAD and TAIL (the reference prints
    ``-A`` before ``-f``, ``!fix`` lines keep the table's order). ``per_image``: the
    line prints the value the image was made with (the seed drawn, its size), which
    the caller passes in.
    """

    name: str
    type: type
    default: Any
    help: str
    switches: tuple[str, ...] = ()
    metavar: str | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False
    none_means: str = ""
    per_op: tuple[tuple[str, Any], ...] = ()
    printed: str | None = CHANGED
    slot: int = 0
    per_image: bool = False
    control: Control | None = None
    is_path: bool = False  # a file or Hub id: printed shell-quoted only where needed, not as a prompt

    def default_for(self, operation: str) -> Any:
        """The default of this parameter for ``operation`` (``"inpaint"``, ``"outcrop"``, ...)."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {OPERATIONS}")
        return dict(self.per_op).get(operation, self.default)

    @property
    def label(self) -> str:
        """How error messages name it: ``steps (-s)``, ``cfg_scale (-C)``, ``seam_size``."""
        long = next((s[2:] for s in self.switches if s.startswith("--")), self.name)
        return f"{long} ({self.short})" if self.short else long

    @property
    def short(self) -> str:
        """The one-dash switch (``-s``), or ``""``."""
        return next((s for s in self.switches if not s.startswith("--")), "")

    @property
    def usage(self) -> str:
        """The switches as the README writes them: ``-s/--steps N``, ``--color_correct``."""
        spelled = "/".join(self.switches)
        return spelled if self.type is bool else f"{spelled} {self.metavar}"

    @property
    def is_text(self) -> bool:
        """Free text that must be a string (the prompts), not a choice or the model."""
        return self.type is str and not self.choices and not self.optional

    def check(self, value: Any) -> Any:
        """``value`` validated and normalised (ints as int, floats as float); raises InvalidInputError.

        Free text is checked by :class:`~paint_widgets.requests.GenerationParams` (one
        message for all of them); bools and the model pass as given (the model is
        checked when it loads).
        """
        if value is None and self.optional:
            return None
        if self.choices:
            if self.name == "sampler" and value in REFUSED_SAMPLERS:
                raise InvalidInputError(REFUSED_SAMPLERS[value])
            if value not in self.choices:
                where = f" ({self.short})" if self.short else ""
                raise InvalidInputError(f"unknown {self.name.replace('_', ' ')} {value!r}{where}; "
                                        f"choose one of: {', '.join(self.choices)}")
            return value
        if self.type in (int, float):
            return require_number(value, self.label, low=self.low, high=self.high,
                                  low_open=self.low_open, integer=self.type is int)
        return value

    def tokens(self, value: Any) -> list[str]:
        """This parameter with ``value`` as command-line words: ``["-s", "50"]``, ``["--color_correct"]``."""
        switch = self.switches[0]
        if self.type is bool:
            return [switch] if value else []
        if isinstance(value, float):
            return [switch, number_text(value)]
        if isinstance(value, str) and self.is_path:
            return [switch, shlex.quote(value)]
        if isinstance(value, str) and not self.choices:
            return [switch, quote(value)]
        return [switch, str(value)]

    def shown_default(self, operation: str = "inpaint") -> str:
        """The default as the README and help print it: ``50``, ``0.75``, ``random``, ``off``."""
        return value_text(self.default_for(operation), self)


def value_text(value: Any, param: Param) -> str:
    """``value`` in words: None as ``param.none_means``, bools as on/off, ``""`` as none."""
    if value is None:
        return param.none_means
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value != "" else "none"


def number_text(value: float) -> str:
    """Floats as the reference prints them: ``7.5``, ``20.0``, ``0.75``."""
    return repr(float(value)) if math.isfinite(value) else str(value)


def quote(text: str) -> str:
    """Quote a prompt the way ``invoke>`` prints it (double quotes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _random_seed() -> int:
    return random.randrange(MAX_SEED + 1)


#: Every generation parameter, in the order a ``!fix`` line prints them (HEAD and
#: TAIL keep their own order, see :attr:`Param.slot`).
PARAMS: tuple[Param, ...] = (
    Param("prompt", str, "", "what to paint; instead of the words before the first switch",
          switches=("-p", "--prompt"), metavar="TEXT", printed=None,
          control=Control("Prompt", kind="area", placeholder="what to paint")),
    Param("steps", int, 50, "sampling steps", switches=("-s", "--steps"), metavar="N",
          low=1, high=MAX_STEPS, printed=HEAD,
          control=Control("Steps (-s)", kind="slider", high=150)),
    Param("seed", int, None, "seed; images after the first use seed+1, seed+2, ...",
          switches=("-S", "--seed"), metavar="N", low=0, high=MAX_SEED, optional=True,
          none_means="random", printed=HEAD, per_image=True,
          control=Control("Seed (-S)", kind="bounded", start=_random_seed)),
    Param("width", int, None, "resize the image (and mask) to this width first",
          switches=("-W", "--width"), metavar="N", low=MIN_SIDE, high=MAX_SIDE, optional=True,
          none_means="the image's", printed=HEAD, per_image=True),
    Param("height", int, None, "resize the image (and mask) to this height first",
          switches=("-H", "--height"), metavar="N", low=MIN_SIDE, high=MAX_SIDE, optional=True,
          none_means="the image's", printed=HEAD, per_image=True),
    Param("cfg", float, 7.5, "prompt guidance (classifier-free guidance scale)",
          switches=("-C", "--cfg_scale"), metavar="F", low=0.0, high=100.0, printed=HEAD,
          control=Control("CFG (-C)", kind="slider", high=30.0, step=0.5)),
    Param("strength", float, 0.75, "how much changes, 0-1: int(steps x strength) denoising steps run",
          switches=("-f", "--strength"), metavar="F", low=0.0, low_open=True, high=1.0,
          per_op=(("outcrop", 0.9),), printed=TAIL, slot=1,
          control=Control("Strength (-f)", kind="slider", low=0.01, step=0.01)),
    Param("sampler", str, "k_lms", "the sampler (scheduler), by InvokeAI name",
          switches=("-A", "--sampler"), metavar="NAME", choices=SAMPLERS, printed=TAIL,
          control=Control("Sampler (-A)")),
    Param("inpaint_replace", float, 0.0, "0-1: how far the painted area starts from fresh noise",
          switches=("-r", "--inpaint_replace"), metavar="F", low=0.0, high=1.0,
          control=Control("Replace (-r)", kind="slider", step=0.05)),
    Param("seam_size", int, 0, "width of the seam band re-run after outpainting (0: no seam pass)",
          switches=("--seam_size",), metavar="N", low=0, high=1024, per_op=(("outcrop", 96),),
          control=Control("seam_size")),
    Param("seam_blur", int, 0, "blur of the seam band's mask",
          switches=("--seam_blur",), metavar="N", low=0, high=1024, per_op=(("outcrop", 16),),
          control=Control("seam_blur")),
    Param("seam_strength", float, 0.7, "strength of the seam pass",
          switches=("--seam_strength",), metavar="F", low=0.0, low_open=True, high=1.0,
          control=Control("seam_strength")),
    Param("seam_steps", int, 10, "sampling steps of the seam pass",
          switches=("--seam_steps",), metavar="N", low=1, high=MAX_STEPS, per_op=(("outcrop", 20),),
          control=Control("seam_steps")),
    Param("tile_size", int, 32, "tile size of the tile infill",
          switches=("--tile_size",), metavar="N", low=1, high=1024),
    Param("infill_method", str, "patchmatch", "how the new area is filled before outpainting",
          switches=("--infill_method",), metavar="M", choices=INFILL_METHODS,
          control=Control("Infill")),
    Param("negative_prompt", str, "", "what to keep out of the picture",
          switches=("--negative_prompt",), metavar="TEXT",
          control=Control("Negative", kind="line", placeholder="what to avoid")),
    Param("color_correct", bool, False, "match the painted area's colours to the kept pixels",
          switches=("--color_correct",)),
    Param("soft", bool, False, "soft inpainting: a mask value m in (0, 1) changes a pixel only in the last m "
          "share of the steps (differential diffusion)",
          switches=("--soft",), control=Control("Soft (--soft)", kind="checkbox")),
    Param("iterations", int, 1, "images to make, with seeds S, S+1, ...",
          switches=("-n", "--iterations"), metavar="N", low=1, high=1000, printed=None,
          control=Control("Images (-n)", kind="slider", high=8)),
    Param("model", str, None, "the diffusion model for this line (hub id, folder or .safetensors file)",
          switches=("--model",), metavar="M", optional=True, none_means="the manager's default", is_path=True),
)

#: The rows by name.
PARAM: dict[str, Param] = {p.name: p for p in PARAMS}


def printed(where: str) -> list[Param]:
    """The rows printed at ``where`` (:data:`HEAD`, :data:`TAIL`, :data:`CHANGED`) in print order."""
    return sorted((p for p in PARAMS if p.printed == where), key=lambda p: p.slot)


def defaults_for(operation: str) -> dict[str, Any]:
    """``{name: default}`` of every parameter for ``operation``."""
    return {p.name: p.default_for(operation) for p in PARAMS}


def with_switches() -> Iterator[Param]:
    """The rows a command line can set (those with switches)."""
    return (p for p in PARAMS if p.switches)


__all__ = [
    "CHANGED", "HEAD", "INFILL_METHODS", "MAX_SEED", "MAX_SIDE", "MAX_STEPS", "OPERATIONS",
    "PARAM", "PARAMS", "SAMPLERS", "TAIL", "Control", "Param", "defaults_for", "number_text",
    "printed", "quote", "value_text", "with_switches",
]
