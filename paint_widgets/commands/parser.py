"""The ``invoke>`` command language: one line in, one request object out.

The grammar is InvokeAI 2.x's, parsed with :mod:`shlex` and :mod:`argparse`
(``allow_abbrev=False``: a switch is spelled out or not recognised). A line is
one of::

    PROMPT [SWITCHES]                      inpaint (or outcrop/outpaint with -c/-D); needs -I
    !fix IMAGE --outcrop DIR PX [DIR PX ...] [SWITCHES]
    !fix IMAGE --out_direction DIR [PX] [SWITCHES]
    !mask IMAGE -tm TEXT [THRESHOLD]
    # a comment (blank lines too: both are skipped)

The prompt is everything before the first switch (a word that starts with ``-``
or ``--`` and a letter, after a space), as InvokeAI read it: ``a baseball -I
x.png`` has the prompt ``a baseball``; commas and apostrophes need no quotes. A
prompt that starts with a quote is read up to the closing quote (``"a cat" -s
5``). ``-p/--prompt TEXT`` gives it as a switch instead (it wins over a leading
prompt); ``!fix`` prints its prompt that way.

Switch values may be joined to short switches (``-C20``, ``-f0.75``, ``-r0.8``,
``-I./images/man.png``) or given after ``=`` for long ones (``--steps=20``). A
``#`` that starts a word outside quotes begins a comment.

:func:`parse` returns a :class:`Command` holding the same request object the
Python API builds (:class:`~paint_widgets.requests.InpaintRequest`,
:class:`~paint_widgets.requests.OutcropRequest`,
:class:`~paint_widgets.requests.OutpaintRequest`,
:class:`~paint_widgets.requests.MaskRequest`). Every problem (unknown switch,
bad or out-of-range value, missing argument) is a
:class:`~paint_widgets.errors.CommandError` with a one-line message. Parsing
never touches files: a missing image is found when the command runs.
"""

from __future__ import annotations

import argparse
import difflib
import io
import os
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, NoReturn, cast

from ..errors import CommandError, InvalidInputError
from ..image_defaults import image_defaults
from ..io import printable, user_path
from ..params import INFILL_METHODS, PARAM, PARAMS, SAMPLERS, Param, with_switches
from ..requests import (
    DIRECTIONS,
    GenerationParams,
    InpaintRequest,
    MaskRequest,
    OutcropRequest,
    OutpaintRequest,
)

#: Where outputs go unless ``--outdir``/``-o`` says otherwise (relative to the working folder).
DEFAULT_OUTDIR = os.path.join("outputs", "img-samples")

#: GenerationParams fields a command line can set (the table's rows with switches).
PARAM_FIELDS = tuple(p.name for p in with_switches())

#: The byte-order mark some editors put at the start of a UTF-8 file: not part of a command.
BOM = "\ufeff"

#: Switches (dest names) that only a prompt line takes, not ``!fix``.
_INPAINT_ONLY = ("init_img", "init_mask", "invert_mask", "text_mask", "preview")


@dataclass(frozen=True)
class Command:
    """One parsed command line.

    ``kind`` is ``"generate"`` (a prompt line), ``"fix"`` (``!fix``) or ``"mask"``
    (``!mask``); ``request`` the request object to run; ``line`` the line as typed;
    ``given`` the :class:`~paint_widgets.requests.GenerationParams` fields the line
    set explicitly (the rest are defaults); ``outdir`` the ``-o/--outdir`` value, if any.
    """

    kind: str
    request: Any
    line: str
    given: frozenset[str] = field(default_factory=frozenset)
    outdir: str | None = None
    #: ``--preview``: run the few-step preview of this inpaint line (:mod:`paint_widgets.engine.preview`).
    preview: bool = False

    @property
    def params(self) -> GenerationParams | None:
        return getattr(self.request, "params", None)

    def with_params(self, **changes: Any) -> Command:
        """A copy whose request has ``changes`` applied to its params (validated again).

        Unknown names raise :class:`CommandError`; a ``!mask`` command is returned as is.
        """
        params = self.params
        if params is None or not changes:
            return self
        unknown = sorted(set(changes) - set(PARAM))
        if unknown:
            raise CommandError(f"unknown parameter(s) {', '.join(unknown)}; use: {', '.join(PARAM_FIELDS)}")
        try:
            new_params = params.with_(**changes)
        except InvalidInputError as err:
            raise CommandError(str(err)) from None
        return replace(self, request=replace(self.request, params=new_params),
                       given=self.given | frozenset(changes))


# --------------------------------------------------------------------------- argparse


class _Parser(argparse.ArgumentParser):
    """argparse that raises :class:`CommandError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise CommandError(message or "cannot parse the command")


def _int(text: str) -> int:
    try:
        return int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, not {text!r}")
    return value


def _argparse_options(param: Param) -> dict[str, Any]:
    """How argparse reads one parameter's value: a flag, a whole number, a number or a word."""
    if param.type is bool:
        return {"action": "store_true"}
    options: dict[str, Any] = {"metavar": param.metavar}
    if param.type in (int, float):
        options["type"] = _int if param.type is int else _float
    return options


def _build_parser() -> _Parser:
    p = _Parser(prog="invoke>", add_help=False, allow_abbrev=False, exit_on_error=False,
                argument_default=argparse.SUPPRESS)
    add = p.add_argument
    # generation: one switch per row of the parameter table (dest = GenerationParams field)
    for param in with_switches():
        add(*param.switches, dest=param.name, help=param.help, **_argparse_options(param))
    # inpainting
    add("-I", "--init_img", dest="init_img", metavar="IMAGE")
    add("-M", "--init_mask", dest="init_mask", metavar="MASK")
    add("--invert_mask", dest="invert_mask", action="store_true")
    add("-tm", "--text_mask", dest="text_mask", nargs="+", metavar="TEXT [THRESHOLD]")
    add("--preview", dest="preview", action="store_true")  # few-step preview of the crop
    # extending
    add("-c", "--outcrop", dest="outcrop", nargs="+", action="extend", metavar="DIR PX")
    add("-D", "--out_direction", dest="out_direction", nargs="+", metavar="DIR [PX]")
    # output
    add("-o", "--outdir", dest="outdir", metavar="DIR")
    return p


_PARSER = _build_parser()
_SWITCHES = sorted(s for action in _PARSER._actions for s in action.option_strings)
_SWITCH_NAMES = {action.dest: "/".join(action.option_strings) for action in _PARSER._actions}


def switches() -> list[str]:
    """Every switch the language knows (short and long spellings)."""
    return list(_SWITCHES)


def _parse_switches(tokens: list[str]) -> dict[str, Any]:
    try:
        namespace, extras = _PARSER.parse_known_args(tokens)
    except argparse.ArgumentError as err:
        name = err.argument_name or "argument"
        raise CommandError(f"{name}: {err.message}") from None
    if extras:
        _reject_extras(extras)
    return vars(namespace)


def _reject_extras(extras: list[str]) -> None:
    for token in extras:
        if token.startswith("-") and len(token) > 1 and not _looks_like_number(token):
            name = token.split("=", 1)[0]
            close = difflib.get_close_matches(name, _SWITCHES, n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise CommandError(f"unknown switch {name}{hint}")
    raise CommandError(
        f"unexpected word {extras[0]!r} after the switches: put the prompt first, "
        "quote values that contain spaces, or give the prompt with -p"
    )


def _looks_like_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- tokenising


_FIRST_SWITCH = re.compile(r"(?:^|\s)(--?[A-Za-z])")


def _strip_comment(text: str) -> str:
    """Cut ``text`` at a ``#`` that starts a word outside quotes."""
    quote: str | None = None
    escaped = False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1].isspace()):
            return text[:i]
    return text


def _split(text: str) -> list[str]:
    try:
        return shlex.split(_strip_comment(text))
    except ValueError as err:  # "No closing quotation", "No escaped character"
        raise CommandError(f"cannot split the command into words: {str(err).lower()}") from None


def split_prompt(line: str) -> tuple[str, list[str]]:
    """``(prompt, switch tokens)`` of a prompt line, the way InvokeAI split it.

    A line starting with a quote: the quoted text is the prompt. Otherwise the
    prompt is the raw text before the first word that starts with ``-``/``--``
    and a letter (quotes and apostrophes inside it are kept as typed).
    """
    line = line.strip()
    if line[:1] in ("'", '"'):
        rest = io.StringIO(line)
        lexer = shlex.shlex(rest, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        try:
            prompt = lexer.get_token() or ""
        except ValueError:
            if line[0] == '"':
                raise CommandError("the prompt's opening quote is never closed") from None
            prompt = None  # an apostrophe ('twas ...): read the prompt unquoted
        if prompt is not None:
            return prompt, _split(rest.read())  # what the lexer has not read
    match = _FIRST_SWITCH.search(line)
    if match is None:
        return line, []
    return line[: match.start(1)].strip(), _split(line[match.start(1):])


# --------------------------------------------------------------------------- building requests


def _params(values: Mapping[str, Any], base: GenerationParams) -> GenerationParams:
    changes = {name: values[name] for name in PARAM_FIELDS if name in values}
    for param in PARAMS:  # choices are read case-insensitively (-A K_EULER)
        if param.choices and param.name in changes:
            changes[param.name] = str(changes[param.name]).lower()
    return base.with_(**changes) if changes else base


def _text_mask(values: list[str]) -> tuple[str, float]:
    if len(values) > 2:
        if _looks_like_number(values[-1]):
            example = f'-tm "{" ".join(values[:-1])}" {values[-1]}'
        else:
            example = f'-tm "{" ".join(values)}"'
        raise CommandError(f"-tm/--text_mask takes TEXT [THRESHOLD], got {len(values)} words: "
                           f"quote a description with spaces, e.g. {example}")
    text = values[0]
    if len(values) == 1:
        return text, 0.5
    if not _looks_like_number(values[1]):
        raise CommandError(
            f"-tm/--text_mask threshold {values[1]!r} is not a number; quote a description with spaces, "
            f'e.g. -tm "{text} {values[1]}"'
        )
    return text, float(values[1])


def _direction(word: str, switch: str) -> str:
    direction = word.lower()
    if direction not in DIRECTIONS:
        raise CommandError(f"{switch}: unknown direction {word!r}; choose one of: {', '.join(DIRECTIONS)}")
    return direction


def _pixels(word: str, switch: str) -> int:
    try:
        return int(word, 10)
    except ValueError:
        raise CommandError(f"{switch}: expected a number of pixels, not {word!r}") from None


def _outcrop_margins(values: list[str]) -> dict[str, int]:
    switch = "-c/--outcrop"
    if len(values) % 2:
        raise CommandError(f"{switch} takes pairs of DIRECTION PIXELS, e.g. --outcrop top 128 right 64; "
                           f"got {' '.join(values)}")
    margins: dict[str, int] = {}
    for word, amount in zip(values[::2], values[1::2], strict=True):
        direction = _direction(word, switch)
        if direction in margins:
            raise CommandError(f"{switch}: {direction} is given twice")
        margins[direction] = _pixels(amount, switch)
    return margins


def _out_direction(values: list[str]) -> tuple[str, int | None]:
    switch = "-D/--out_direction"
    if len(values) > 2:
        raise CommandError(f"{switch} takes one DIRECTION and an optional PIXELS, e.g. -D top 64; "
                           f"got {' '.join(values)}")
    direction = _direction(values[0], switch)
    return direction, (_pixels(values[1], switch) if len(values) == 2 else None)


def _default_params(cls: type) -> GenerationParams:
    spec = next(f for f in fields(cls) if f.name == "params")
    factory = cast(Callable[[], GenerationParams], spec.default_factory)
    return factory()


def _image_path(ref: str, what: str = "image (-I)") -> str:
    """A path argument as the engine opens it: ``~`` expanded, nothing else (see
    :func:`~paint_widgets.io.user_path`); a name with a control character or one that
    is not UTF-8 is a :class:`CommandError` here, before anything runs."""
    user_path(ref, what, CommandError)
    return os.path.expanduser(ref)  # as typed otherwise ("./x.png" stays "./x.png")


def _outdir(values: Mapping[str, Any]) -> str | None:
    """The ``-o/--outdir`` value, read like every other path (``~`` expanded)."""
    if "outdir" not in values:
        return None
    return _image_path(values["outdir"], "output folder (-o/--outdir)")


def _extend_request(values: dict[str, Any], image_ref: str, prompt: str, what: str = "image (-I)") -> Any:
    """An OutcropRequest or OutpaintRequest from ``-c``/``-D`` and the generation switches."""
    if "outcrop" in values and "out_direction" in values:
        raise CommandError("use either -c/--outcrop or -D/--out_direction, not both")
    if "outcrop" in values:
        base = _default_params(OutcropRequest).with_(prompt=prompt)
        return OutcropRequest(image=_image_path(image_ref, what), **_outcrop_margins(values["outcrop"]),
                              params=_params(values, base), image_ref=image_ref)
    direction, pixels = _out_direction(values["out_direction"])
    base = _default_params(OutpaintRequest).with_(prompt=prompt)
    return OutpaintRequest(image=_image_path(image_ref, what), direction=direction, pixels=pixels,
                           params=_params(values, base), image_ref=image_ref)


def _refuse(values: Mapping[str, Any], names: tuple[str, ...], why: str) -> None:
    for name in names:
        if name in values:
            raise CommandError(f"{_SWITCH_NAMES[name]} {why}")


def _given(values: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(name for name in PARAM_FIELDS if name in values)


def _parse_prompt_line(line: str) -> Command:
    prompt, tokens = split_prompt(line)
    values = _parse_switches(tokens)
    prompt = values.get("prompt", prompt)
    given = _given(values) | ({"prompt"} if prompt else set())
    if "init_img" not in values:
        raise CommandError("needs an image to work on: -I IMAGE (text-to-image is not supported)")
    image_ref = values["init_img"]
    if "outcrop" in values or "out_direction" in values:
        _refuse(values, ("init_mask", "text_mask", "invert_mask", "preview"), "cannot be combined with -c/--outcrop or -D/--out_direction")
        request = _extend_request(values, image_ref, prompt)
    else:
        if "init_mask" in values and "text_mask" in values:
            raise CommandError("use either -M/--init_mask or -tm/--text_mask, not both")
        # the seam/infill switches are kept: an -I image with transparent borders is outpainted
        params = _params(values, GenerationParams(prompt=prompt))
        mask_ref = values.get("init_mask")
        request = InpaintRequest(
            image=_image_path(image_ref),
            mask=_image_path(mask_ref, "mask (-M)") if mask_ref is not None else None,
            params=params,
            invert_mask=bool(values.get("invert_mask", False)),
            text_mask=_text_mask(values["text_mask"]) if "text_mask" in values else None,
            image_ref=image_ref,
            mask_ref=mask_ref,
            if_opaque="img2img",  # InvokeAI: an opaque -I with no -M/-tm is img2img
        )
    return Command("generate", request, line, frozenset(given), _outdir(values),
                   preview=bool(values.get("preview", False)))


def _image_operand(tokens: list[str], name: str, usage: str) -> str:
    if len(tokens) < 2 or tokens[1].startswith("-"):
        raise CommandError(f"{name} needs an image first: {usage}")
    return tokens[1]


def _parse_fix(line: str, tokens: list[str]) -> Command:
    usage = "!fix IMAGE --outcrop top 64 [right 64 ...] or !fix IMAGE -D top [64]"
    image_ref = _image_operand(tokens, "!fix", usage)
    values = _parse_switches(tokens[2:])
    _refuse(values, _INPAINT_ONLY, "is not used by !fix (the image is the one after !fix)")
    if "outcrop" not in values and "out_direction" not in values:
        raise CommandError(f"!fix needs --outcrop/-c or --out_direction/-D: {usage} "
                           "(upscaling and face fixing are not supported)")
    request = _extend_request(values, image_ref, values.get("prompt", ""), "!fix image")
    return Command("fix", request, line, _given(values), _outdir(values))


def _parse_mask(line: str, tokens: list[str]) -> Command:
    usage = "!mask IMAGE -tm TEXT [THRESHOLD]"
    image_ref = _image_operand(tokens, "!mask", usage)
    values = _parse_switches(tokens[2:])
    extra = sorted(set(values) - {"text_mask", "outdir"})
    if extra:
        raise CommandError(f"!mask takes only -tm TEXT [THRESHOLD] (and -o DIR), not {_SWITCH_NAMES[extra[0]]}")
    if "text_mask" not in values:
        raise CommandError(f"!mask needs a text to select: {usage}")
    text, threshold = _text_mask(values["text_mask"])
    request = MaskRequest(image=_image_path(image_ref, "!mask image"), prompt=text, threshold=threshold,
                          image_ref=image_ref)
    return Command("mask", request, line, frozenset(), _outdir(values))


_BANG_COMMANDS = {"!fix": _parse_fix, "!mask": _parse_mask}


def parse(line: str) -> Command | None:
    """Parse one ``invoke>`` line; ``None`` for a blank line or a ``#`` comment.

    Raises :class:`CommandError` (one line, naming the problem) for anything else
    that is not a valid command.
    """
    if not isinstance(line, str):
        raise CommandError(f"a command must be a string, not {type(line).__name__}")
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:  # bytes a decoder let through as surrogates (argv, a lenient stream)
        raise CommandError(f"the command is not valid UTF-8 text ('{printable(line.strip())[:80]}'); "
                           "save or type it as UTF-8") from None
    text = line.removeprefix(BOM).strip()
    if not text or text.startswith("#"):
        return None
    try:
        if text.startswith("!"):
            tokens = _split(text)
            name = tokens[0] if tokens else text
            handler = _BANG_COMMANDS.get(name)
            if handler is None:
                raise CommandError(f"unknown command {name}; this language has {', '.join(_BANG_COMMANDS)}")
            return handler(text, tokens)
        return _parse_prompt_line(text)
    except InvalidInputError as err:  # range checks of the request dataclasses
        raise CommandError(str(err)) from None


# --------------------------------------------------------------------------- !fix defaults


def with_image_defaults(command: Command) -> Command:
    """For ``!fix``: the prompt and seed the image was made with, unless the line gives them."""
    if command.kind != "fix":
        return command
    image = command.request.image
    if not isinstance(image, (str, os.PathLike)):
        return command
    defaults = {k: v for k, v in image_defaults(image).items() if k not in command.given}
    if not defaults:
        return command
    return replace(command.with_params(**defaults), given=command.given)


__all__ = [
    "DEFAULT_OUTDIR",
    "INFILL_METHODS",
    "PARAM_FIELDS",
    "SAMPLERS",
    "Command",
    "image_defaults",
    "parse",
    "split_prompt",
    "switches",
    "with_image_defaults",
]
