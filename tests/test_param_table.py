"""The one table of generation parameters (``paint_widgets.params.PARAMS``) and what derives from it.

The README's switch table, ``GenerationParams``, ``inpaint()``'s keywords, argparse,
the printed command lines, the PNG metadata and the Studio's controls must all agree
with the table: a parameter added to it and forgotten anywhere fails here.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from paint_widgets.commands import parser as command_parser
from paint_widgets.commands.parser import PARAM_FIELDS, parse
from paint_widgets.errors import InvalidInputError
from paint_widgets.params import OPERATIONS, PARAM, PARAMS, Param
from paint_widgets.requests import (
    GenerationParams,
    InpaintRequest,
    MaskRequest,
    OutcropRequest,
    OutpaintRequest,
    mask_command,
)

README = Path(__file__).resolve().parents[1] / "README.md"


# --------------------------------------------------------------------------- the README's switch table


def readme_switch_rows() -> list[tuple[list[str], str]]:
    """``[(switch specs, meaning)]`` of the README's ``| switch | meaning (default) |`` table."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("| switch | meaning (default) |")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        switch_cell, meaning = (cell.strip() for cell in line.strip().strip("|").split("|", 1))
        rows.append((re.findall(r"`([^`]+)`", switch_cell), meaning.strip().rstrip("|").strip()))
    assert rows, "the README's switch table is empty or gone"
    return rows


def spec_switches(spec: str) -> list[str]:
    """``"-s/--steps N"`` → ``["-s", "--steps"]``."""
    return spec.split()[0].split("/")


def readme_defaults(meaning: str, count: int) -> dict[str, list[str]]:
    """``"... (0, 0, 0.7, 10; outcrop 96, 16, 0.7, 20)"`` → ``{"inpaint": [...], "outcrop": [...]}``.

    A single value stands for every switch of the row (``-W``, ``-H``: "the image's").
    """
    match = re.search(r"\(([^()]*)\)\s*$", meaning)
    assert match, f"no (default) at the end of {meaning!r}"
    groups = [g.strip() for g in match.group(1).split(";")]
    found = {"inpaint": groups[0].split(", ")}
    for group in groups[1:]:
        operation, _, values = group.partition(" ")
        assert operation in OPERATIONS, f"{operation!r} in {meaning!r} is not an operation"
        found[operation] = values.split(", ")
    for operation, values in found.items():
        if len(values) == 1:
            found[operation] = values * count
        assert len(found[operation]) == count, f"{operation}: {count} switches but defaults {values} in {meaning!r}"
    return found


def test_readme_switches_are_the_languages_switches() -> None:
    """Every switch the parser knows is in the README's table, and nothing else is."""
    in_readme = [s for specs, _ in readme_switch_rows() for spec in specs for s in spec_switches(spec)]
    assert len(in_readme) == len(set(in_readme)), "a switch is listed twice"
    assert sorted(in_readme) == sorted(command_parser.switches())


def test_readme_rows_agree_with_the_table() -> None:
    """Each generation switch: spelled as the table says, its defaults (per operation) and choices."""
    by_switch = {s: p for p in PARAMS for s in p.switches}
    listed: list[str] = []
    for specs, meaning in readme_switch_rows():
        params = [by_switch.get(spec_switches(spec)[0]) for spec in specs]
        if not any(params):
            continue  # -I, -M, -tm, -c, -D, -o: request switches, not generation parameters
        assert all(params), f"a row mixes generation parameters with other switches: {specs}"
        rows: list[Param] = [p for p in params if p is not None]
        assert specs == [p.usage for p in rows], "switches or value names differ from the table"
        defaults = readme_defaults(meaning, len(rows))
        for operation in OPERATIONS:
            changed = [p.name for p in rows if p.default_for(operation) != p.default]
            assert not changed or operation in defaults, f"the README does not give {operation}'s {changed}"
        for operation, values in defaults.items():
            assert values == [p.shown_default(operation) for p in rows], f"{operation} defaults of {specs}"
        words = {w for quoted in re.findall(r"`([^`]+)`", meaning) for w in quoted.split()}
        for p in rows:
            if p.choices:
                assert words == set(p.choices), f"the README lists other choices for {p.usage}"
        listed += [p.name for p in rows]
    assert sorted(listed) == sorted(p.name for p in PARAMS if p.switches)


# --------------------------------------------------------------------------- the table itself


def test_table_is_well_formed() -> None:
    names = [p.name for p in PARAMS]
    assert len(names) == len(set(names)) and set(PARAM) == set(names)
    switches = [s for p in PARAMS for s in p.switches]
    assert len(switches) == len(set(switches))
    for p in PARAMS:
        assert p.help, p.name
        assert p.type in (int, float, str, bool), p.name
        assert p.check(p.default) == p.default, f"{p.name}'s default is out of its own range"
        for operation in OPERATIONS:
            assert p.check(p.default_for(operation)) == p.default_for(operation)
        if p.switches:
            assert p.type is bool or p.metavar, f"{p.name} needs a metavar"
        if p.printed is not None:
            assert p.switches, f"{p.name} is printed but has no switch"


def test_the_reference_switch_order_comes_from_the_table() -> None:
    from paint_widgets.params import HEAD, TAIL, printed

    assert [p.short for p in printed(HEAD)] == ["-s", "-S", "-W", "-H", "-C"]
    assert [p.short for p in printed(TAIL)] == ["-A", "-f"]


# --------------------------------------------------------------------------- GenerationParams and inpaint()


def test_generation_params_fields_are_the_table() -> None:
    declared = {f.name: f.default for f in fields(GenerationParams)}
    assert declared == {p.name: p.default for p in PARAMS}
    assert GenerationParams.for_operation("inpaint") == GenerationParams()
    assert GenerationParams.for_operation("outpaint") == GenerationParams()
    assert OutcropRequest.default_params() == GenerationParams(
        strength=0.9, seam_size=96, seam_blur=16, seam_strength=0.7, seam_steps=20)


def test_inpaint_keywords_are_the_table() -> None:
    from paint_widgets.engine.api import inpaint

    signature = inspect.signature(inpaint).parameters
    for p in PARAMS:
        assert p.name in signature, f"inpaint() has no {p.name}="
        assert signature[p.name].default == p.default, f"inpaint(..., {p.name}=) default differs from the table"


def other_value(p: Param) -> Any:
    """A valid value of ``p`` that is not its default (and keeps at least one denoising step)."""
    if p.type is bool:
        return not p.default
    if p.choices:
        return next(c for c in reversed(p.choices) if c != p.default)
    if p.type is str:
        return "a lighthouse" if p.default != "a lighthouse" else "a cat"
    if p.default is None:
        return int(p.low or 0) + 64
    if p.type is int:
        return p.default + 1
    return (p.default + p.high) / 2


def test_inpaint_passes_every_parameter_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from paint_widgets.engine import api

    seen: list[Any] = []
    monkeypatch.setattr(api, "run", lambda request, **_: seen.append(request))
    values = {p.name: other_value(p) for p in PARAMS}
    api.inpaint("photo.png", "mask.png", **values)
    assert seen[0].params == GenerationParams(**values)


@pytest.mark.parametrize("p", [p for p in PARAMS if p.type in (int, float)], ids=lambda p: p.name)
def test_ranges_are_validated_from_the_table(p: Param) -> None:
    if p.low is not None:
        below = p.low if p.low_open else p.low - 1
        with pytest.raises(InvalidInputError, match=re.escape(p.label) + r" must be >"):
            GenerationParams(**{p.name: below})
    if p.high is not None:
        with pytest.raises(InvalidInputError, match=re.escape(p.label) + r" must be <="):
            GenerationParams(**{p.name: p.high + 1})
    with pytest.raises(InvalidInputError, match=re.escape(p.label) + " must be a number"):
        GenerationParams(**{p.name: "many"})


@pytest.mark.parametrize("p", [p for p in PARAMS if p.choices], ids=lambda p: p.name)
def test_choices_are_validated_from_the_table(p: Param) -> None:
    with pytest.raises(InvalidInputError, match=f"unknown {p.name.replace('_', ' ')} 'nope'.*choose one of"):
        GenerationParams(**{p.name: "nope"})


# --------------------------------------------------------------------------- argparse and command lines


def test_argparse_switches_come_from_the_table() -> None:
    assert PARAM_FIELDS == tuple(p.name for p in PARAMS if p.switches)
    for p in PARAMS:
        if p.switches:
            assert command_parser._SWITCH_NAMES[p.name] == "/".join(p.switches)


@pytest.mark.parametrize("p", [p for p in PARAMS if p.switches], ids=lambda p: p.name)
def test_each_switch_parses_prints_and_parses_back(p: Param) -> None:
    """A non-default value survives line → request → printed line → request."""
    value = other_value(p)
    words = p.tokens(value)
    command = parse(" ".join(["a cat", "-I", "x.png", *words]))
    assert getattr(command.params, p.name) == value
    assert p.name in command.given
    request = command.request
    line = request.command(seed=5, width=512, height=512)
    again = parse(line).params
    if p.printed is not None and not p.per_image:
        assert getattr(again, p.name) == value, line
        assert " ".join(words) in line


#: Lines printed by the code before the table (same requests): they must not change by a byte
#: (but for ``--model``, printed since the models issue so a line replays with its model).
EVERY = GenerationParams(
    prompt='say "hi"', negative_prompt='no "x"', steps=10, cfg=12.25, strength=0.9, seed=3, sampler="ddim",
    iterations=3, width=512, height=640, inpaint_replace=0.5, seam_size=8, seam_blur=4, seam_strength=0.5,
    seam_steps=6, tile_size=16, infill_method="telea", color_correct=True, model="m")
BYTE_IDENTICAL = [
    (InpaintRequest(image="x", params=EVERY, image_ref="my pics/x.png", mask_ref="m.png", invert_mask=True),
     (7, 512, 640),
     r'''"say \"hi\"" -s 10 -S 7 -W 512 -H 640 -C 12.25 -I 'my pics/x.png' -A ddim -f 0.9 -r 0.5 --seam_size 8 '''
     r'''--seam_blur 4 --seam_strength 0.5 --seam_steps 6 --tile_size 16 --infill_method telea '''
     r'''--negative_prompt "no \"x\"" --color_correct --model m -M m.png --invert_mask'''),
    (InpaintRequest(image="x", params=GenerationParams(prompt="medusa with cobras", cfg=20),
                    image_ref="./test-pictures/curly.png", text_mask=("hair", 0.5)),
     (801380492, 512, 512),
     '"medusa with cobras" -s 50 -S 801380492 -W 512 -H 512 -C 20.0 -I ./test-pictures/curly.png -A k_lms -f 0.75 '
     '-tm hair 0.5'),
    (OutcropRequest(image="x", top=128, right=64, params=EVERY, image_ref="curly.png"), (7, 576, 704),
     r'''!fix curly.png --outcrop top 128 right 64 -p "say \"hi\"" -S 7 -s 10 -C 12.25 -A ddim -r 0.5 '''
     r'''--seam_size 8 --seam_blur 4 --seam_strength 0.5 --seam_steps 6 --tile_size 16 --infill_method telea '''
     r'''--negative_prompt "no \"x\"" --color_correct --model m'''),
    (OutcropRequest(image="x", top=64, image_ref="curly.png"), (7, 576, 704), "!fix curly.png --outcrop top 64 -S 7"),
    (OutpaintRequest(image="x", direction="top", pixels=64, params=EVERY, image_ref="curly.png"), (7, 512, 512),
     r'''!fix curly.png -D top 64 -p "say \"hi\"" -S 7 -s 10 -C 12.25 -f 0.9 -A ddim -r 0.5 --seam_size 8 '''
     r'''--seam_blur 4 --seam_strength 0.5 --seam_steps 6 --tile_size 16 --infill_method telea '''
     r'''--negative_prompt "no \"x\"" --color_correct --model m'''),
    (OutpaintRequest(image="x", direction="top", image_ref="curly.png"), (7, 512, 512), "!fix curly.png -D top -S 7"),
]


@pytest.mark.parametrize(("request_", "image", "line"), BYTE_IDENTICAL, ids=lambda x: str(x)[:30])
def test_printed_lines_are_byte_identical_to_before_the_table(request_: Any, image: tuple, line: str) -> None:
    assert request_.command(*image) == line


def test_one_mask_command_builder() -> None:
    request = MaskRequest(image="my pics/curly.png", prompt="red hair", threshold=0.25, image_ref="my pics/curly.png")
    assert request.command() == mask_command("my pics/curly.png", "red hair", 0.25) \
        == "!mask 'my pics/curly.png' -tm 'red hair' 0.25"
    assert mask_command(None, "hair", 0.5) == "!mask <image> -tm hair 0.5"
    assert parse(request.command()).request == request


def test_mask_pngs_store_the_printed_line(mgr, tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from paint_widgets.engine.textmask import save_mask_debug

    source = tmp_path / "my pics" / "curly.png"
    source.parent.mkdir()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(source)
    printed_line = MaskRequest(image=str(source), prompt="red hair", threshold=0.25, image_ref=str(source)).command()
    paths = save_mask_debug(source, "red hair", 0.25, tmp_path / "out", manager=mgr)
    for path in paths:
        with Image.open(path) as image:
            assert image.info["Dream"] == printed_line


# --------------------------------------------------------------------------- metadata and the Studio's controls


def test_metadata_fields_are_the_table() -> None:
    assert list(GenerationParams().as_dict()) == [p.name for p in PARAMS]
    assert EVERY.as_dict()["infill_method"] == "telea"


def test_controls_come_from_the_table() -> None:
    import ipywidgets as widgets

    from paint_widgets.widgets._params import controls_for, swap_defaults, unplaced, values_from

    controls = controls_for(PARAMS, "outcrop")
    assert list(controls) == [p.name for p in PARAMS if p.control is not None]
    for name, control in controls.items():
        p = PARAM[name]
        assert control.description == p.control.label
        if p.default_for("outcrop") is not None:
            assert control.value == p.default_for("outcrop")
    assert isinstance(controls["steps"], widgets.IntSlider) and controls["steps"].max == 150
    assert isinstance(controls["sampler"], widgets.Dropdown) and controls["sampler"].options == PARAM["sampler"].choices
    assert 0 <= controls["seed"].value <= PARAM["seed"].high  # a random seed to start with
    params = GenerationParams(**values_from(controls))
    assert (params.strength, params.seam_size) == (0.9, 96)
    controls["seam_blur"].value = 3  # changed by the user: stays
    swap_defaults(controls, PARAMS, "outcrop", "inpaint")
    assert (controls["strength"].value, controls["seam_size"].value, controls["seam_blur"].value) == (0.75, 0, 3)
    box = widgets.VBox([controls["steps"], widgets.HBox([controls["cfg"]])])
    assert controls["steps"] not in unplaced(controls, [box]) and controls["prompt"] in unplaced(controls, [box])


def test_studio_shows_every_control_under_its_old_name() -> None:
    """``studio.steps``, ``studio.cfg``... are the table's controls; all are in the layout."""
    import numpy as np

    import paint_widgets as pw
    from paint_widgets.widgets._params import unplaced

    class NoModel:
        def default_model(self) -> str:
            return "/nonexistent-model"

    studio = pw.Studio(np.zeros((64, 64, 3), np.uint8), mgr=NoModel())
    for name, control in studio.param_controls.items():
        assert getattr(studio, name) is control
    assert unplaced(studio.param_controls, [studio.params_box]) == []
    assert studio.steps.description == "Steps (-s)" and studio.cfg.description == "CFG (-C)"
    studio.steps.value, studio.seed.value = 7, 11
    assert (studio.params().steps, studio.params().seed) == (7, 11)
    studio.tabs.selected_index = 2
    assert studio.params() == GenerationParams.for_operation("outcrop", steps=7, seed=11)
    studio.tabs.selected_index = 0
    assert studio.params() == GenerationParams(steps=7, seed=11)
