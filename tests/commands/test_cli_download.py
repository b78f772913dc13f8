"""The console script on a first run with a network: its download shows, library noise does not.

A real ``paint-widgets`` process downloads a tiny model from a stand-in Hub on
127.0.0.1 (``HF_ENDPOINT``); its standard error shows which model and how many
bytes, then the load, and none of diffusers'/transformers' bars or import lines,
unless ``-v``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from paint_widgets.testing.hub_server import HubServer

SD = "org/tiny-sd-inpaint"
NOISE = ("Loading pipeline components", "Loading weights", "it/s]", "requires torchvision")


@pytest.fixture
def workspace(tiny_models, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(tiny_models["sd-inpaint"], repo)
    Image.fromarray(np.full((64, 96, 3), 90, np.uint8)).save(tmp_path / "in.png")
    mask = np.full((64, 96), 255, np.uint8)
    mask[16:48, 24:72] = 0  # black = paint
    Image.fromarray(mask, "L").save(tmp_path / "mask.png")
    return tmp_path, {SD: repo}


def run_cli(server: HubServer, cwd, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_", "PAINT_"))}
    env.update(HF_ENDPOINT=server.url, HF_HOME=str(cwd / "hf-home"), HF_HUB_OFFLINE="0",
               HF_HUB_DISABLE_TELEMETRY="1", OMP_NUM_THREADS="1")
    command = '"a door" -I in.png -M mask.png -s 2 -S 1'
    return subprocess.run([sys.executable, "-m", "paint_widgets.commands.cli", "--model", SD, *args, command],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_console_script_shows_its_download_and_no_library_noise(workspace):
    cwd, repos = workspace
    with HubServer(repos) as server:
        done = run_cli(server, cwd)
        assert done.returncode == 0, done.stderr
        err = done.stderr.splitlines()
        downloads = [line for line in err if line.startswith(f"Downloading {SD}: ")]
        assert downloads and downloads[-1].endswith("(100 %)"), done.stderr
        assert f"Loading {SD} to cpu…" in err and f"{SD} ready" in err
        assert not [line for line in err if any(noise in line for noise in NOISE)], done.stderr
        assert "Outputs:" in done.stdout
        assert len(server.fetched(SD)) > 0

        again = run_cli(server, cwd)  # cached now: no download line
        assert again.returncode == 0, again.stderr
        assert not any(line.startswith("Downloading") for line in again.stderr.splitlines())


def test_verbose_shows_the_libraries_own_output(workspace):
    cwd, repos = workspace
    with HubServer(repos) as server:
        done = run_cli(server, cwd, "-v")
        assert done.returncode == 0, done.stderr
        assert "Loading pipeline components" in done.stderr or "it/s" in done.stderr
