"""The invoke> command parser: pure parsing, no models, no files (except metadata tests)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from paint_widgets.commands import parse, split_prompt, switches
from paint_widgets.commands.parser import image_defaults, with_image_defaults
from paint_widgets.errors import CommandError
from paint_widgets.io import save_png_atomic
from paint_widgets.requests import (
    GenerationParams,
    InpaintRequest,
    MaskRequest,
    OutcropRequest,
    OutpaintRequest,
)

PEER = Path(__file__).resolve().parents[3] / "shared" / "peer" / "invokeai-2.3"
if not PEER.is_dir():  # the checkout may live elsewhere than /work/main
    PEER = Path("/work/shared/peer/invokeai-2.3")
COYOTE = PEER / "inpainting" / "coyote-inpainting.prompt"

BASE = "a cat -I img.png"


def params_of(line: str) -> GenerationParams:
    return parse(line).request.params


# --------------------------------------------------------------------------- every switch

SWITCH_CASES = [
    # (switches after BASE, GenerationParams field, expected value)
    ("-s 20", "steps", 20),
    ("--steps 20", "steps", 20),
    ("-s20", "steps", 20),
    ("--steps=20", "steps", 20),
    ("-S 7", "seed", 7),
    ("--seed 7", "seed", 7),
    ("-S7", "seed", 7),
    ("-S 4294967295", "seed", 2**32 - 1),
    ("-C 20", "cfg", 20.0),
    ("--cfg_scale 12.5", "cfg", 12.5),
    ("-C20", "cfg", 20.0),
    ("-C20.5", "cfg", 20.5),
    ("-f 0.5", "strength", 0.5),
    ("--strength 0.5", "strength", 0.5),
    ("-f0.75", "strength", 0.75),
    ("-f1", "strength", 1.0),
    ("-A ddim", "sampler", "ddim"),
    ("--sampler k_euler_a", "sampler", "k_euler_a"),
    ("-Ak_heun", "sampler", "k_heun"),
    ("-A K_LMS", "sampler", "k_lms"),
    ("-n 3", "iterations", 3),
    ("--iterations 3", "iterations", 3),
    ("-n3", "iterations", 3),
    ("-W 128", "width", 128),
    ("--width 128", "width", 128),
    ("-W128", "width", 128),
    ("-H 96", "height", 96),
    ("--height 96", "height", 96),
    ("-H96", "height", 96),
    ("-r 0.8", "inpaint_replace", 0.8),
    ("-r0.8", "inpaint_replace", 0.8),
    ("--inpaint_replace 0.8", "inpaint_replace", 0.8),
    ("--seam_size 16", "seam_size", 16),
    ("--seam_blur 4", "seam_blur", 4),
    ("--seam_strength 0.5", "seam_strength", 0.5),
    ("--seam_steps 5", "seam_steps", 5),
    ("--tile_size 16", "tile_size", 16),
    ("--infill_method tile", "infill_method", "tile"),
    ("--infill_method telea", "infill_method", "telea"),
    ("--negative_prompt blurry", "negative_prompt", "blurry"),
    ('--negative_prompt "low quality"', "negative_prompt", "low quality"),
    ("--color_correct", "color_correct", True),
    ('-p "a dog"', "prompt", "a dog"),
    ("--prompt dog", "prompt", "dog"),
]


@pytest.mark.parametrize(("switch", "name", "value"), SWITCH_CASES)
def test_every_generation_switch(switch: str, name: str, value) -> None:
    command = parse(f"{BASE} {switch}")
    assert command.kind == "generate"
    assert isinstance(command.request, InpaintRequest)
    assert getattr(command.request.params, name) == value
    assert name in command.given
    # everything else keeps the Python API's defaults
    defaults = GenerationParams(prompt=command.request.params.prompt)
    for other in ("steps", "cfg", "strength", "seed", "sampler", "iterations", "inpaint_replace"):
        if other != name:
            assert getattr(command.request.params, other) == getattr(defaults, other)


MASK_CASES = [
    # (switches, mask, mask_ref, invert, text_mask)
    ("-M mask.png", "mask.png", "mask.png", False, None),
    ("--init_mask mask.png", "mask.png", "mask.png", False, None),
    ("-Mmask.png", "mask.png", "mask.png", False, None),
    ("-M ./images/man-transparent.png", "./images/man-transparent.png", "./images/man-transparent.png", False, None),
    ("-M mask.png --invert_mask", "mask.png", "mask.png", True, None),
    ("--invert_mask", None, None, True, None),
    ("-tm hair", None, None, False, ("hair", 0.5)),
    ("-tm hair 0.6", None, None, False, ("hair", 0.6)),
    ("--text_mask hair 0.25", None, None, False, ("hair", 0.25)),
    ('-tm "red hair" 0.3', None, None, False, ("red hair", 0.3)),
    ("-tm 'face|hair'", None, None, False, ("face|hair", 0.5)),
    ("-tm hair 1", None, None, False, ("hair", 1.0)),
    ("-tm orange --invert_mask", None, None, True, ("orange", 0.5)),
]


@pytest.mark.parametrize(("switch", "mask", "mask_ref", "invert", "text_mask"), MASK_CASES)
def test_mask_switches(switch: str, mask, mask_ref, invert: bool, text_mask) -> None:
    request = parse(f"{BASE} {switch}").request
    assert isinstance(request, InpaintRequest)
    assert request.mask == mask and request.mask_ref == mask_ref
    assert request.invert_mask is invert
    assert request.text_mask == text_mask


@pytest.mark.parametrize("switch", ["-I img.png", "--init_img img.png", "-Iimg.png", "--init_img=img.png"])
def test_init_image_spellings(switch: str) -> None:
    request = parse(f"a cat {switch}").request
    assert request.image == "img.png" and request.image_ref == "img.png"


def test_image_path_expands_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    request = parse("a cat -I ~/pics/cat.png").request
    assert request.image == "/home/someone/pics/cat.png"
    assert request.image_ref == "~/pics/cat.png"  # printed as typed


OUT_DIRECTION_CASES = [
    ("-D top 64", "top", 64),
    ("--out_direction bottom 32", "bottom", 32),
    ("-D left", "left", None),
    ("-D RIGHT 16", "right", 16),
]


@pytest.mark.parametrize(("switch", "direction", "pixels"), OUT_DIRECTION_CASES)
def test_out_direction(switch: str, direction: str, pixels) -> None:
    for line in (f"{BASE} {switch}", f"!fix img.png {switch}"):
        request = parse(line).request
        assert isinstance(request, OutpaintRequest)
        assert (request.direction, request.pixels) == (direction, pixels)
        assert request.image == "img.png"


OUTCROP_CASES = [
    ("--outcrop top 128 right 64 bottom 64", {"top": 128, "right": 64, "bottom": 64, "left": 0}),
    ("-c top 128 right 64 bottom 64", {"top": 128, "right": 64, "bottom": 64, "left": 0}),
    ("-c left 100", {"top": 0, "right": 0, "bottom": 0, "left": 100}),
    ("-c top 64 -c right 64", {"top": 64, "right": 64, "bottom": 0, "left": 0}),
    ("-c Top 64", {"top": 64, "right": 0, "bottom": 0, "left": 0}),
]


@pytest.mark.parametrize(("switch", "margins"), OUTCROP_CASES)
def test_outcrop(switch: str, margins: dict) -> None:
    for line in (f"{BASE} {switch}", f"!fix img.png {switch}"):
        request = parse(line).request
        assert isinstance(request, OutcropRequest)
        assert request.margins() == margins


def test_fix_takes_generation_switches_over_its_own_defaults() -> None:
    command = parse("!fix img.png -c top 64 -S 5 -s 10 -C 3 -A ddim --seam_steps 4 -n 2")
    p = command.request.params
    assert (p.seed, p.steps, p.cfg, p.sampler, p.seam_steps, p.iterations) == (5, 10, 3.0, "ddim", 4, 2)
    # outcrop's own defaults stay where not given
    assert (p.strength, p.seam_size, p.seam_blur, p.seam_strength) == (0.9, 96, 16, 0.7)
    assert command.given == {"seed", "steps", "cfg", "sampler", "seam_steps", "iterations"}
    # outpaint keeps the CLI defaults
    p = parse("!fix img.png -D top 64").request.params
    assert (p.strength, p.seam_size, p.seam_blur, p.seam_strength, p.seam_steps) == (0.75, 0, 0, 0.7, 10)
    assert p.prompt == "" and p.seed is None  # filled from the image's metadata when it runs


def test_outdir_switch() -> None:
    assert parse(f"{BASE} -o elsewhere").outdir == "elsewhere"
    assert parse(f"{BASE} --outdir elsewhere").outdir == "elsewhere"
    assert parse("!mask img.png -tm hair -o x").outdir == "x"
    assert parse(BASE).outdir is None


def test_switches_cover_the_issue() -> None:
    wanted = """-I --init_img -M --init_mask --invert_mask -tm --text_mask -f --strength -C --cfg_scale
        -s --steps -S --seed -A --sampler -n --iterations -W --width -H --height -r --inpaint_replace
        --seam_size --seam_blur --seam_strength --seam_steps --tile_size -D --out_direction
        --infill_method -c --outcrop""".split()
    assert set(wanted) <= set(switches())


# --------------------------------------------------------------------------- prompts

PROMPT_CASES = [
    ("a baseball -I x.png", "a baseball"),
    ('"a baseball" -I x.png', "a baseball"),
    ("'a baseball' -I x.png", "a baseball"),
    ('"say \\"hi\\"" -I x.png', 'say "hi"'),
    ("a dog's toy -I x.png", "a dog's toy"),
    ("a coyote, deep palette knife oil painting, award winning -s 5 -I x.png",
     "a coyote, deep palette knife oil painting, award winning"),
    ("a well-known cat -I x.png", "a well-known cat"),
    ("a cat - dog -I x.png", "a cat - dog"),
    ("a cat -- -I x.png", "a cat --"),
    ("-I x.png -p cat", "cat"),
    ("-I x.png", ""),
    ("a cat -I x.png -p dog", "dog"),  # -p wins, as in InvokeAI
    ("  spaced   out   -I x.png  ", "spaced   out"),
    ("a cat #1 -I x.png", "a cat #1"),  # a prompt is taken as typed
    ("'twas a dark night -I x.png", "'twas a dark night"),  # an apostrophe, not a quote
]


@pytest.mark.parametrize(("line", "prompt"), PROMPT_CASES)
def test_prompt(line: str, prompt: str) -> None:
    assert params_of(line).prompt == prompt


def test_split_prompt() -> None:
    assert split_prompt("a baseball -I /path/to/still_life.png -tm orange") == (
        "a baseball", ["-I", "/path/to/still_life.png", "-tm", "orange"])
    assert split_prompt('"man with cat" -I./images/man.png') == ("man with cat", ["-I./images/man.png"])
    assert split_prompt("just a prompt") == ("just a prompt", [])


def test_comments() -> None:
    assert parse("# 🌻 🌻 🌻 sunflowers 🌻 🌻 🌻") is None
    assert parse("   # indented") is None
    assert parse("") is None and parse("   \t ") is None
    assert params_of("a cat -I x.png -s 5 # five steps").steps == 5
    assert params_of("a cat -I x.png -s 5 #").steps == 5
    # a # inside a word or quotes is not a comment
    assert parse("a cat -I pic#1.png").request.image == "pic#1.png"
    assert parse('a cat -I x.png -tm "#hair"').request.text_mask == ("#hair", 0.5)


# --------------------------------------------------------------------------- the reference docs


REFERENCE = [
    # INPAINTING.md
    ('"man with cat on shoulder" -I./images/man.png -M./images/man-transparent.png',
     InpaintRequest(image="./images/man.png", mask="./images/man-transparent.png",
                    params=GenerationParams(prompt="man with cat on shoulder"),
                    image_ref="./images/man.png", mask_ref="./images/man-transparent.png")),
    ("a baseball -I /path/to/still_life.png -tm orange",
     InpaintRequest(image="/path/to/still_life.png", params=GenerationParams(prompt="a baseball"),
                    text_mask=("orange", 0.5), image_ref="/path/to/still_life.png")),
    ("a baseball -I /path/to/breakfast.png -tm orange 0.6",
     InpaintRequest(image="/path/to/breakfast.png", params=GenerationParams(prompt="a baseball"),
                    text_mask=("orange", 0.6), image_ref="/path/to/breakfast.png")),
    ("!mask ./test-pictures/curly.png -tm hair 0.5",
     MaskRequest(image="./test-pictures/curly.png", prompt="hair", threshold=0.5,
                 image_ref="./test-pictures/curly.png")),
    ("medusa with cobras -I ./test-pictures/curly.png -tm hair 0.5 -C20",
     InpaintRequest(image="./test-pictures/curly.png", params=GenerationParams(prompt="medusa with cobras", cfg=20.0),
                    text_mask=("hair", 0.5), image_ref="./test-pictures/curly.png")),
    # the line InvokeAI printed for it
    ('"medusa with cobras" -s 50 -S 801380492 -W 512 -H 512 -C 20.0 -I ./test-pictures/curly.png -A k_lms -f 0.75',
     InpaintRequest(image="./test-pictures/curly.png",
                    params=GenerationParams(prompt="medusa with cobras", steps=50, seed=801380492, width=512,
                                            height=512, cfg=20.0, sampler="k_lms", strength=0.75),
                    image_ref="./test-pictures/curly.png")),
    # the !mask output lines
    ("!mask ./test-pictures/curly.png -tm hair 0.5",
     MaskRequest(image="./test-pictures/curly.png", prompt="hair", threshold=0.5,
                 image_ref="./test-pictures/curly.png")),
    # OUTPAINTING.md
    ("a stream by a river -I /path/to/transparent_img.png",
     InpaintRequest(image="/path/to/transparent_img.png", params=GenerationParams(prompt="a stream by a river"),
                    image_ref="/path/to/transparent_img.png")),
    ("!fix images/curly.png --outcrop top 128 right 64 bottom 64",
     OutcropRequest(image="images/curly.png", top=128, right=64, bottom=64, image_ref="images/curly.png")),
    ("!fix images/curly.png --out_direction top 64",
     OutpaintRequest(image="images/curly.png", direction="top", pixels=64, image_ref="images/curly.png")),
]


@pytest.mark.parametrize(("line", "expected"), REFERENCE, ids=[line[:40] for line, _ in REFERENCE])
def test_reference_examples_parse_to_api_requests(line: str, expected) -> None:
    """Each example of the reference docs gives the request the Python API builds.

    One difference on purpose: a prompt line takes an opaque ``-I`` with no mask as
    img2img (as InvokeAI did), the API refuses it unless asked (``if_opaque``).
    """
    command = parse(line)
    request = command.request
    if isinstance(request, InpaintRequest):
        assert request.if_opaque == "img2img"
        request = dataclasses.replace(request, if_opaque="refuse")
    assert request == expected
    assert command.line == line


def test_reference_prose_switch_forms() -> None:
    """INPAINTING.md's prose: -sXXX, -f0.XX, -CXX.X, --inpaint_replace 0.X / -r0.X; -c for --outcrop."""
    p = params_of(f"{BASE} -s100 -f0.85 -C12.5 -r0.5")
    assert (p.steps, p.strength, p.cfg, p.inpaint_replace) == (100, 0.85, 12.5, 0.5)
    assert params_of(f"{BASE} --inpaint_replace 0.5").inpaint_replace == 0.5
    long = parse("!fix images/curly.png --outcrop top 128 right 64 bottom 64").request
    short = parse("!fix images/curly.png -c top 128 right 64 bottom 64").request
    assert long == short
    assert parse("!fix images/curly.png -D top 64").request == parse(
        "!fix images/curly.png --out_direction top 64").request
    # OUTPAINTING.md's seam switch list
    p = params_of(f"{BASE} --seam_size 96 --seam_blur 16 --seam_strength 0.7 --seam_steps 20 --tile_size 32")
    assert (p.seam_size, p.seam_blur, p.seam_strength, p.seam_steps, p.tile_size) == (96, 16, 0.7, 20, 32)


def coyote_lines() -> list[str]:
    return COYOTE.read_text(encoding="utf-8").splitlines()


def test_coyote_prompt_file() -> None:
    """All ten command lines of InvokeAI's regression prompt file, as written."""
    lines = coyote_lines()
    commands = [parse(line) for line in lines]
    real = [c for c in commands if c is not None]
    assert len(real) == 10
    assert sum(1 for line in lines if line.strip().startswith("#")) == 2
    strengths = [c.request.params.strength for c in real]
    assert strengths == [0.2, 0.4, 0.6, 0.8, 0.99] * 2
    for i, command in enumerate(real):
        r = command.request
        assert isinstance(r, InpaintRequest)
        p = r.params
        flowers = "sunflowers" if i < 5 else "red roses"
        assert p.prompt == (f"a coyote, deep palette knife oil painting, {flowers}, plants, "
                            "desert landscape, award winning")
        assert (p.steps, p.seed, p.width, p.height, p.cfg, p.sampler) == (50, 1234554321, 512, 512, 7.5, "k_lms")
        assert (r.image, r.mask) == ("tests/inpainting/coyote-input.webp", "tests/inpainting/coyote-mask.webp")
        assert r.text_mask is None and not r.invert_mask


# --------------------------------------------------------------------------- round trips


ROUND_TRIP = [
    "medusa with cobras -I ./test-pictures/curly.png -tm hair 0.5 -C20 -S 3",
    '"man with cat on shoulder" -I./images/man.png -M./images/man-transparent.png --invert_mask -r 0.3',
    "a cat -I 'my pics/cat.png' -tm 'red hair' 0.4 -s 20 -A ddim -f 0.6 --negative_prompt 'blurry, dark' --color_correct",
    'say "hi" -I x.png -n 2 --seam_size 8 --infill_method tile -W 128 -H 64',
]


@pytest.mark.parametrize("line", ROUND_TRIP)
def test_printed_command_parses_back_to_the_same_request(line: str) -> None:
    request = parse(line).request
    printed = request.command(seed=42, width=128, height=64)
    again = parse(printed).request
    # each printed line reproduces one image: its own seed, no -n
    assert again.params == request.params.with_(seed=42, width=128, height=64, iterations=1)
    for name in ("image", "mask", "invert_mask", "text_mask", "image_ref", "mask_ref"):
        assert getattr(again, name) == getattr(request, name)


@pytest.mark.parametrize("line", [
    "!fix images/curly.png --outcrop top 128 right 64 bottom 64",
    "!fix images/curly.png -D top 64",
    "!fix images/curly.png -D left",
    '!fix "my pics/a.png" -c left 64 -p "a red barn"',
    '!fix a.png -c top 64 -s 10 -C 3 -A ddim --seam_steps 4 --negative_prompt "a, b" --color_correct',
    "!fix a.png -D top 64 -f 0.5 -r 0.2 --seam_size 8 --infill_method tile --tile_size 16",
])
def test_fix_command_round_trip(line: str) -> None:
    """A !fix line prints every parameter that differs from its defaults, so it reproduces."""
    request = parse(line).request
    again = parse(request.command(seed=9, width=64, height=64)).request
    assert again == type(request)(**{**request.__dict__, "params": request.params.with_(seed=9)})


def test_mask_command_round_trip() -> None:
    request = parse("!mask 'my pics/curly.png' -tm 'red hair' 0.25").request
    assert parse(request.command()).request == request


# --------------------------------------------------------------------------- errors

ERRORS = [
    (f"{BASE} --foo", r"^unknown switch --foo$"),
    (f"{BASE} --foo 3 -s 5", r"^unknown switch --foo$"),
    (f"{BASE} --foo=3", r"^unknown switch --foo$"),
    (f"{BASE} --seam-size 3", r"unknown switch --seam-size \(did you mean --seam_size\?\)"),
    (f"{BASE} --step 3", r"unknown switch --step \(did you mean --steps\?\)"),  # no abbreviations
    (f"{BASE} --cfg 3", r"unknown switch --cfg"),
    (f"{BASE} -x", r"unknown switch -x"),
    (f"{BASE} -s five", r"-s/--steps: expected a whole number, not 'five'"),
    (f"{BASE} -s 2.5", r"-s/--steps: expected a whole number"),
    (f"{BASE} -s 0", r"steps \(-s\) must be >= 1, not 0"),
    (f"{BASE} -s", r"-s/--steps: expected one argument"),
    (f"{BASE} -f 0", r"strength \(-f\) must be > 0"),
    (f"{BASE} -f 1.5", r"strength \(-f\) must be <= 1"),
    (f"{BASE} -f nan", r"-f/--strength: expected a finite number"),
    (f"{BASE} -C x", r"-C/--cfg_scale: expected a number, not 'x'"),
    (f"{BASE} -S -5", r"seed \(-S\) must be >= 0"),
    (f"{BASE} -W 4", r"width \(-W\) must be >= 8"),
    (f"{BASE} -r 2", r"inpaint_replace \(-r\) must be <= 1"),
    (f"{BASE} -A euler", r"unknown sampler 'euler' \(-A\)"),
    (f"{BASE} --infill_method magic", r"unknown infill method 'magic'"),
    (f"{BASE} -n 0", r"iterations \(-n\) must be >= 1"),
    (f"{BASE} -tm", r"-tm/--text_mask: expected at least one argument"),
    (f"{BASE} -tm big orange", r"threshold 'orange' is not a number; quote .* -tm \"big orange\""),
    (f"{BASE} -tm big orange 0.3", r"takes TEXT \[THRESHOLD\], got 3 words: .* -tm \"big orange\" 0.3"),
    (f"{BASE} -tm hair 1.5", r"threshold must be <= 1"),
    (f"{BASE} -tm '' 0.5", r"needs a non-empty description"),
    (f"{BASE} -M m.png -tm hair", r"use either -M/--init_mask or -tm/--text_mask, not both"),
    (f"{BASE} -D up", r"-D/--out_direction: unknown direction 'up'"),
    (f"{BASE} -D top 64 32", r"-D/--out_direction takes one DIRECTION"),
    (f"{BASE} -D top x", r"-D/--out_direction: expected a number of pixels, not 'x'"),
    (f"{BASE} -D top 0", r"outpaint pixels must be >= 1"),
    (f"{BASE} -c top", r"-c/--outcrop takes pairs of DIRECTION PIXELS"),
    (f"{BASE} -c top 64 top 64", r"-c/--outcrop: top is given twice"),
    (f"{BASE} -c top -64", r"outcrop top must be >= 0"),
    (f"{BASE} -c top 64 -D top", r"use either -c/--outcrop or -D/--out_direction, not both"),
    (f"{BASE} -c top 64 -tm hair", r"-tm/--text_mask cannot be combined with -c/--outcrop"),
    (f"{BASE} -D top -M m.png", r"-M/--init_mask cannot be combined"),
    (f"{BASE} sitting", r"unexpected word 'sitting' after the switches"),
    ("a cat", r"needs an image to work on: -I IMAGE \(text-to-image is not supported\)"),
    ("a cat -s 5", r"needs an image to work on"),
    ('"a cat -I x.png', r"opening quote is never closed"),
    ('a cat -I "x.png', r"cannot split the command into words: no closing quotation"),
    ("!fix", r"!fix needs an image first"),
    ("!fix -c top 64", r"!fix needs an image first"),
    ("!fix img.png", r"!fix needs --outcrop/-c or --out_direction/-D"),
    ("!fix img.png -U 2", r"unknown switch -U"),
    ("!fix img.png -c top 64 -I other.png", r"-I/--init_img is not used by !fix"),
    ("!fix img.png -c top 64 -tm hair", r"-tm/--text_mask is not used by !fix"),
    ("!fix img.png top 64", r"unexpected word 'top'"),
    ("!mask", r"!mask needs an image first"),
    ("!mask img.png", r"!mask needs a text to select"),
    ("!mask img.png -tm hair -s 5", r"!mask takes only -tm TEXT \[THRESHOLD\] \(and -o DIR\), not -s/--steps"),
    ("!mask img.png -tm hair 7", r"threshold must be <= 1"),
    ("!mask img.png hair", r"unexpected word 'hair'"),
    ("!upscale img.png", r"unknown command !upscale; this language has !fix, !mask"),
    ("!", r"unknown command !"),
]


@pytest.mark.parametrize(("line", "message"), ERRORS, ids=[line for line, _ in ERRORS])
def test_errors_are_one_clear_line(line: str, message: str) -> None:
    with pytest.raises(CommandError, match=message) as info:
        parse(line)
    assert "\n" not in str(info.value)
    assert "usage:" not in str(info.value)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(CommandError, match="must be a string"):
        parse(None)  # type: ignore[arg-type]


def test_with_params_applies_overrides() -> None:
    command = parse("a cat -I x.png -s 50 -S 3")
    quick = command.with_params(steps=2)
    assert quick.request.params.steps == 2 and quick.request.params.seed == 3
    assert "steps" in quick.given
    with pytest.raises(CommandError, match="steps"):
        command.with_params(steps=0)
    with pytest.raises(CommandError, match="unknown parameter"):
        command.with_params(stepz=2)
    mask = parse("!mask x.png -tm hair")
    assert mask.with_params(steps=2) is mask


# --------------------------------------------------------------------------- !fix defaults


def test_fix_defaults_from_our_metadata(tmp_path: Path) -> None:
    path = tmp_path / "000000.42.png"
    meta = {"app": "paint_widgets", "params": {"prompt": "a red barn", "seed": 42, "negative_prompt": "fog"}}
    save_png_atomic(Image.new("RGB", (64, 64)), path, metadata=meta, command='"a red barn" -S 42')
    assert image_defaults(path) == {"prompt": "a red barn", "seed": 42, "negative_prompt": "fog"}
    command = with_image_defaults(parse(f"!fix {path} -c top 64"))
    assert command.request.params.prompt == "a red barn" and command.request.params.seed == 42
    assert '-p "a red barn" -S 42' in command.request.command(42, 64, 128)
    # what the line gives wins
    command = with_image_defaults(parse(f'!fix {path} -c top 64 -S 7 -p "a blue barn"'))
    assert command.request.params.prompt == "a blue barn" and command.request.params.seed == 7
    # other commands are left alone
    line = parse(f"x -I {path}")
    assert with_image_defaults(line) is line


def test_fix_defaults_from_invokeai_metadata(tmp_path: Path) -> None:
    original = json.loads((PEER / "inpainting" / "original.json").read_text())
    info = PngImagePlugin.PngInfo()
    info.add_text("sd-metadata", json.dumps(original))
    path = tmp_path / "invoke.png"
    Image.new("RGB", (64, 64)).save(path, pnginfo=info)
    assert image_defaults(path) == {
        "prompt": "a coyote, deep palette knife oil painting, red aloe, plants, desert landscape, award winning",
        "seed": 1948097268,
    }
    info = PngImagePlugin.PngInfo()
    info.add_text("Dream", '"medusa with cobras" -s 50 -S 801380492 -W 512 -H 512 -C 20.0 -I x.png -A k_lms')
    Image.new("RGB", (64, 64)).save(path, pnginfo=info)
    assert image_defaults(path) == {"prompt": "medusa with cobras", "seed": 801380492}


def test_fix_defaults_from_untrusted_files(tmp_path: Path) -> None:
    assert image_defaults(tmp_path / "missing.png") == {}
    (tmp_path / "junk.png").write_bytes(b"not a png")
    assert image_defaults(tmp_path / "junk.png") == {}
    info = PngImagePlugin.PngInfo()
    info.add_text("sd-metadata", "{not json")
    info.add_text("Dream", '"unclosed -S 5')
    info.add_text("paint_widgets", json.dumps({"params": {"prompt": 5, "seed": "x"}}))
    Image.new("RGB", (64, 64)).save(tmp_path / "bad.png", pnginfo=info)
    assert image_defaults(tmp_path / "bad.png") == {}
    info = PngImagePlugin.PngInfo()
    info.add_text("paint_widgets", json.dumps({"params": {"prompt": "x" * 70000, "seed": 2**40}}))
    Image.new("RGB", (64, 64)).save(tmp_path / "big.png", pnginfo=info)
    assert image_defaults(tmp_path / "big.png") == {}
