"""Recipes (from the widgets, as prompt-file lines) and ``paint-widgets batch``."""

from __future__ import annotations

import numpy as np
import pytest

import paint_widgets as pw
from paint_widgets.batching import Recipe
from paint_widgets.commands.cli import main
from paint_widgets.errors import CommandError
from paint_widgets.io import read_metadata, read_png_text


def test_recipe_round_trips_through_a_prompt_file(tmp_path):
    recipe = Recipe(prompt='a "red" wall', text_mask=("orange peel", 0.6), grow=8, feather=4,
                    params={"steps": 30, "cfg": 5.0, "seed": 42, "sampler": "ddim", "negative_prompt": "blur"})
    path = recipe.save(tmp_path / "recipe.txt")
    assert path.read_text().startswith('"a \\"red\\" wall" -tm \'orange peel\' 0.6 --grow 8 --feather 4')
    (loaded,) = Recipe.load(path)
    assert loaded == recipe
    assert Recipe.from_line(recipe.line()) == recipe


def test_recipe_lines_refuse_per_image_switches():
    with pytest.raises(CommandError, match="no -I"):
        Recipe.from_line('"x" -I other.png')
    with pytest.raises(CommandError, match="--grow takes a whole number"):
        Recipe.from_line('"x" -tm hair --grow lots')


def test_tuner_and_studio_recipes_feed_batch(mgr, folder, tmp_path):
    image = folder["inputs"] / "a.png"
    tuner = pw.TextMaskTuner(str(image), "square", threshold=0.0, grow=2, manager=mgr)
    recipe = tuner.recipe("a dog", steps=2)
    assert recipe.text_mask == ("square", 0.0) and recipe.grow == 2 and recipe.params == {"steps": 2}
    report = pw.batch(folder["inputs"], recipe=recipe, outdir=tmp_path / "o", display=None)
    assert len(report.done) == 3
    assert read_metadata(report.outputs[0])["batch"]["recipe"]["grow"] == 2
    tuner.close()

    studio = pw.Studio(str(image), mgr=mgr, outdir=tmp_path / "studio")
    studio.param_controls["prompt"].value = "a bird"
    studio.param_controls["steps"].value = 3
    r = studio.recipe()
    assert r.prompt == "a bird" and r.params["steps"] == 3 and "seed" not in r.params and r.text_mask is None
    studio.lock_seed.value = True
    assert studio.recipe().params["seed"] == studio.param_controls["seed"].value
    studio.close()


def test_cli_batch_runs_a_folder_and_reports_failures(mgr, folder, tmp_path, capsys):
    out = tmp_path / "cli"
    status = main(["batch", "--input", str(folder["inputs"]), "--masks", str(folder["masks"]),
                   "--outdir", str(out), "a cat", "-s", "2", "-S", "5"])
    printed = capsys.readouterr().out
    assert status == 1  # one input failed
    assert "3 done" in printed and f"failed: {folder['bad']}" in printed
    files = sorted(out.glob("*.png"))
    assert len(files) == 3 and all(".5." in f.name for f in files)
    assert read_png_text(files[0])["Dream"].startswith('"a cat" -s 2 -S 5 ')
    # the same outputs as the Python API, and a rerun skips them
    api = pw.batch(folder["inputs"], masks=folder["masks"], prompt="a cat", steps=2, seed=5,
                   outdir=tmp_path / "api", display=None)
    assert sorted(p.name for p in api.outputs) == [f.name for f in files]
    assert main(["batch", "--input", str(folder["inputs"]), "--masks", str(folder["masks"]),
                 "--outdir", str(out), "a cat", "-s", "2", "-S", "5"]) == 1
    assert "3 skipped" in capsys.readouterr().out


def test_cli_batch_takes_a_prompt_file_and_text_masks(mgr, folder, tmp_path, capsys):
    recipes = tmp_path / "recipes.txt"
    recipes.write_text('# two recipes, each for every image\n"a cat" -s 2 -S 1\n"a dog" -tm square 0.0 -s 2 -S 2\n')
    (folder["inputs"] / "b_broken.png").unlink()
    status = main(["batch", "--input", str(folder["inputs"]), "--outdir", str(tmp_path / "o"),
                   "--masks", str(folder["masks"]), "--from_file", str(recipes)])
    assert status == 0, capsys.readouterr()
    assert "6 done" in capsys.readouterr().out
    bad = main(["batch", "--input", str(folder["inputs"]), "x", "--bogus", "1"])
    assert bad == 2 and "unknown switch --bogus" in capsys.readouterr().err


def test_ray_engine_without_ray_says_how_to_install(monkeypatch, folder):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(ImportError, match=r'pip install "paint-widgets\[ray\]"'):
        pw.batch(folder["inputs"], prompt="x", engine="ray", display=None)
    assert np is not None
