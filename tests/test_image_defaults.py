"""One reader of the prompt and seed stored in an image, for every front door."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from paint_widgets.image_defaults import image_defaults


def png_with(tmp_path: Path, name: str = "made.png", **texts: str) -> Path:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text("sd-metadata" if key == "sd_metadata" else key, value)
    path = tmp_path / name
    Image.new("RGB", (64, 64), (90, 120, 150)).save(path, pnginfo=info)
    return path


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"medusa with cobras" -s 50 -S 801380492 -W 512', {"prompt": "medusa with cobras", "seed": 801380492}),
        ("a tabby cat --seed 7 -s 20", {"prompt": "a tabby cat", "seed": 7}),
        ("a tabby cat --seed=8", {"prompt": "a tabby cat", "seed": 8}),
        ("'twas a night -S9", {"prompt": "'twas a night", "seed": 9}),
        ('"a cat" -S 99999999999', {"prompt": "a cat"}),  # out of range: no seed
        ('"a cat" -S -3', {"prompt": "a cat"}),
        ('"unclosed -S 5', {}),
        ("-S 5", {"seed": 5}),
    ],
)
def test_dream_lines_as_invokeai_wrote_them(tmp_path, line, expected):
    assert image_defaults(png_with(tmp_path, Dream=line)) == expected


def test_stores_are_read_in_order_and_fill_each_other(tmp_path):
    ours = json.dumps({"params": {"prompt": "ours", "negative_prompt": "blur"}})
    invoke = json.dumps({"image": {"prompt": [{"prompt": "theirs", "weight": 1.0}], "seed": 5}})
    path = png_with(tmp_path, paint_widgets=ours, sd_metadata=invoke, Dream='"dream" -S 6')
    # our prompt wins, InvokeAI's sd-metadata gives the seed our record lacks, Dream is last
    assert image_defaults(path) == {"prompt": "ours", "negative_prompt": "blur", "seed": 5}
    assert image_defaults(png_with(tmp_path, "d.png", Dream='"dream" -S 6')) == {"prompt": "dream", "seed": 6}


def test_an_open_pil_image_is_read_from_its_info(tmp_path):
    path = png_with(tmp_path, Dream='"from info" -S 11')
    with Image.open(path) as opened:
        assert image_defaults(opened) == {"prompt": "from info", "seed": 11}
    assert image_defaults(Image.fromarray(np.zeros((8, 8, 3), np.uint8))) == {}


def test_outcrop_takes_prompt_and_seed_of_an_invokeai_image(mgr, tmp_path):
    """The same file gives ``!fix`` and ``pw.outcrop``/``pw.outpaint`` the same defaults."""
    import paint_widgets as pw

    rng = np.random.default_rng(4)
    info = PngImagePlugin.PngInfo()
    info.add_text("Dream", '"a desert at dusk" -s 50 -S 4242 -W 128 -H 128')
    path = tmp_path / "invoke.png"
    Image.fromarray(rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)).save(path, pnginfo=info)
    crop = pw.outcrop(str(path), top=64, steps=2, seam_steps=2)
    shifted = pw.outpaint(str(path), "left", 32, steps=2, seam_steps=2)
    for result in (crop, shifted):
        assert result.seeds == [4242]
        assert result.metadata[0]["params"]["prompt"] == "a desert at dusk"
    given = pw.outcrop(str(path), top=64, steps=2, seam_steps=2, prompt="snow", seed=3)
    assert given.seeds == [3] and given.metadata[0]["params"]["prompt"] == "snow"


def test_studio_opens_an_image_with_its_stored_prompt_and_seed(mgr, tmp_path):
    import paint_widgets as pw

    path = png_with(tmp_path, Dream='"a red barn" -S 77')
    studio = pw.Studio(str(path), outdir=tmp_path / "out")
    try:
        assert (studio.prompt.value, studio.seed.value, studio.lock_seed.value) == ("a red barn", 77, True)
        assert "stored in the image" in studio.status.value
        assert studio.params().seed == 77
    finally:
        studio.close()
    plain = pw.Studio(np.zeros((64, 64, 3), np.uint8), outdir=tmp_path / "out")
    try:
        assert plain.prompt.value == "" and not plain.lock_seed.value
    finally:
        plain.close()
