"""A first run with a network: the widget that asked for a model shows its download.

The models come from a stand-in for the Hub on 127.0.0.1
(:mod:`paint_widgets.testing.hub_server`), so huggingface_hub's real download code
runs. Each widget shows which model, bytes done of total, then the load; a model
that cannot be had is one line with the fix, and the Studio offers its infill engine.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

import paint_widgets as pw
from paint_widgets.engine.manager import PipelineManager
from paint_widgets.testing.hub_server import HubServer, point_huggingface_hub_at

SD, CLIPSEG = "org/tiny-sd-inpaint", "org/tiny-clipseg"
DOWNLOADING = re.compile(r"^Downloading (?P<model>\S+): (?P<done>[\d.]+ \S?B) of (?P<total>[\d.]+ \S?B) \(\d+ %\)$")


@pytest.fixture(scope="module")
def repos(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("hub-repos")
    shutil.copytree(tiny_models["sd-inpaint"], root / "sd")
    shutil.copytree(tiny_models["clipseg"], root / "clipseg")
    return {SD: root / "sd", CLIPSEG: root / "clipseg"}


@pytest.fixture
def hub(repos, tmp_path, monkeypatch):
    with HubServer(repos) as server:
        point_huggingface_hub_at(server, tmp_path / "hf-home", monkeypatch)
        yield server


@pytest.fixture
def fresh():
    manager = PipelineManager(device="cpu")
    yield manager
    manager.release()


def shown(widget, method: str) -> list[str]:
    """Record every status line ``widget.method(text)`` shows (and still show it)."""
    lines: list[str] = []
    original = getattr(widget, method)

    def record(text, *args, **kwargs):
        lines.append(text)
        return original(text, *args, **kwargs)

    setattr(widget, method, record)
    return lines


def assert_download_then_load(lines: list[str], model: str) -> None:
    downloads = [m for m in map(DOWNLOADING.match, lines) if m]
    assert downloads and all(m["model"] == model for m in downloads), lines
    assert downloads[-1]["done"] == downloads[-1]["total"]  # it got to the end
    first_load = next(i for i, line in enumerate(lines) if line.startswith(f"Loading {model}"))
    assert first_load > lines.index(downloads[-1].string)  # the load comes after the bytes
    assert any(line == f"Loading {model} to cpu…" for line in lines), lines


def test_the_studio_shows_the_download_then_the_load_then_generates(hub, fresh, photo, box_mask, tmp_path):
    studio = pw.Studio(photo, model=SD, mgr=fresh, outdir=tmp_path / "out")
    studio.painter.set_mask(box_mask)
    studio.steps.value = 2
    lines = shown(studio._display, "say")
    assert studio.generate()
    result = studio.wait(120)
    assert isinstance(result, pw.Result), studio.status.value
    assert_download_then_load(lines, SD)
    assert result.metadata[0]["params"]["model"] == SD
    assert studio.generate() and studio.wait(120) is not None  # second run: nothing downloaded again
    assert fresh.loads == 1


def test_the_studio_offers_infill_when_the_model_cannot_be_had(hub, fresh, photo, box_mask, tmp_path):
    studio = pw.Studio(photo, model="org/no-such-model", mgr=fresh, outdir=tmp_path / "out")
    studio.painter.set_mask(box_mask)
    assert studio.engine.value == "diffusion"  # online: it might be downloadable
    assert studio.generate()
    assert studio.wait(120) is None
    message = studio.status.value
    assert "org/no-such-model" in message and "was not found at " + hub.url in message
    assert "PAINT_WIDGETS_MODEL" in message and "\n" not in message
    assert studio.engine.value == "infill"  # switched: Generate again removes the object
    assert studio.generate()
    out = studio.wait(120)
    assert out is not None and np.asarray(out.image).shape == photo.shape


def test_outpaint_margins_shows_the_download(hub, fresh):
    image = np.full((128, 128, 3), 120, np.uint8)
    w = pw.OutpaintMargins(image, right=64, manager=fresh, model=SD, steps=2, seam_steps=2, seed=5)
    lines = shown(w._display, "say")
    w.start(prompt="a wall")
    assert w.wait(120) is not None, w.error
    assert_download_then_load(lines, SD)


def test_the_text_mask_tuner_shows_the_download(hub, fresh, photo):
    tuner = pw.TextMaskTuner(photo, model=CLIPSEG, manager=fresh)
    lines: list[str] = []
    original = tuner._on_load
    tuner._on_load = lambda event: (lines.append(event.describe()), original(event))
    tuner.start("hair")
    assert tuner.wait() is not None
    assert_download_then_load(lines, CLIPSEG)
