"""Outcrop and outpaint recipes in a batch: the single-image requests over a folder of renders."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import paint_widgets as pw
from paint_widgets.batching import Recipe
from paint_widgets.commands.cli import main
from paint_widgets.errors import CommandError, InvalidInputError
from paint_widgets.io import read_metadata, read_png_text

# outcrop's own defaults (strength 0.9, a 96 px seam pass) stay; only the step counts are cut
QUICK = {"steps": 2, "seam_steps": 2, "display": None}


def rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_outcrop_batch_grows_each_image_like_pw_outcrop_and_its_recipe_file_replays(mgr, folder, tmp_path, capsys):
    a = folder["inputs"] / "a.png"
    report = pw.batch([a, folder["bad"]], prompt="a beach", outcrop={"top": 40}, outdir=tmp_path / "o", **QUICK)
    assert [o.status for o in report.outcomes] == ["done", "failed"]
    (out,) = report.outputs
    grown = rgb(out)
    assert grown.shape == (64 + 64, 64, 3)  # 40 rounded up to 64, as a single outcrop
    assert np.array_equal(grown[64:], rgb(a))  # the original pixels, bit-identical
    meta = read_metadata(out)
    command = read_png_text(out)["Dream"]
    assert command.startswith(f"!fix {a} --outcrop top 40 -p ") and f"-S {meta['params']['seed']}" in command
    assert meta["params"]["strength"] == 0.9 and meta["batch"]["recipe"]["outcrop"] == {"top": 40}
    # the same request as a single image: the same pixels
    single = pw.outcrop(str(a), top=40, prompt="a beach", steps=2, seam_steps=2, seed=meta["params"]["seed"],
                        mgr=mgr)
    assert np.array_equal(np.asarray(single.image.convert("RGB")), grown)

    # the recipe saved as a prompt file and handed back gives the same output
    recipe_file = Recipe.from_dict(meta["batch"]["recipe"]).save(tmp_path / "outcrop.txt")
    assert recipe_file.read_text().startswith('"a beach" -c top 40 ')
    replay = pw.batch(a, recipe=recipe_file, outdir=tmp_path / "replay", display=None)
    (again,) = replay.outputs
    assert again.name == out.name and np.array_equal(rgb(again), grown)
    # and from the shell, with --outcrop as on a single image: already written, skipped
    status = main(["batch", "--input", str(a), "--outdir", str(tmp_path / "o"), "a beach", "--outcrop", "top", "40",
                   "-s", "2", "--seam_steps", "2"])
    assert status == 0 and "1 skipped" in capsys.readouterr().out


def test_outpaint_batch_shifts_each_image_and_keeps_its_size(mgr, folder, tmp_path):
    a = folder["inputs"] / "a.png"
    report = pw.batch(a, prompt="more", outpaint=("left", 32), outdir=tmp_path / "o", steps=2, display=None)
    (out,) = report.outputs
    assert rgb(out).shape == (64, 64, 3)
    assert np.array_equal(rgb(out)[:, 32:], rgb(a)[:, :32])  # shifted right by 32, the kept part identical
    assert read_png_text(out)["Dream"].startswith(f"!fix {a} -D left 32 ")
    assert Recipe.from_line('"more" -D left 32 -s 2') == Recipe(prompt="more", outpaint=("left", 32),
                                                                 params={"steps": 2})


def test_outcrop_recipes_refuse_masks():
    with pytest.raises(InvalidInputError, match="take no masks"):
        pw.batch(".", masks=".", outcrop="top 64", prompt="x", display=None)
    with pytest.raises(InvalidInputError, match="leave out a text mask"):
        Recipe(prompt="x", text_mask=("sky", 0.5), outcrop={"top": 64})
    with pytest.raises(CommandError, match="cannot be combined with -c/--outcrop"):
        Recipe.from_line('"x" -c top 64 -tm sky')
    with pytest.raises(InvalidInputError, match="at least one side"):
        Recipe(outcrop={"top": 0})
