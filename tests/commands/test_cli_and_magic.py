"""End to end: every command example of the reference docs through ``%invoke`` and
the ``paint-widgets`` console script, with the tiny models and small local images.

The examples run as written, except that ``/path/to/`` is pointed at a folder of
local test images and relative paths (``./images/man.png``) resolve in a temporary
working folder laid out like the docs'. InvokeAI's coyote prompt file (ten 512x512
lines at 50 steps) runs through ``run_file(..., overrides={"steps": 5})`` to keep
the suite quick; its first line also runs exactly as written.

Torch runs on one thread here: on a small shared CPU, two threads contending with
other processes are many times slower than one.
"""

from __future__ import annotations

import builtins
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import paint_widgets
from paint_widgets.commands import Runner, run_file
from paint_widgets.commands import cli as cli_module
from paint_widgets.errors import OutputError
from paint_widgets.io import INVOKE_COMMAND_KEY, read_metadata
from paint_widgets.result import Result

PEER = Path("/work/shared/peer/invokeai-2.3")
for _candidate in Path(__file__).resolve().parents:
    if (_candidate / "shared" / "peer" / "invokeai-2.3").is_dir():
        PEER = _candidate / "shared" / "peer" / "invokeai-2.3"
        break

#: Every command example of reference/INPAINTING.md and reference/OUTPAINTING.md, verbatim.
REFERENCE = [
    '"man with cat on shoulder" -I./images/man.png -M./images/man-transparent.png',
    "a baseball -I /path/to/still_life.png -tm orange",
    "a baseball -I /path/to/breakfast.png -tm orange 0.6",
    "!mask ./test-pictures/curly.png -tm hair 0.5",
    "medusa with cobras -I ./test-pictures/curly.png -tm hair 0.5 -C20",
    "a stream by a river -I /path/to/transparent_img.png",
    "!fix images/curly.png --outcrop top 128 right 64 bottom 64",
    "!fix images/curly.png --out_direction top 64",
]
#: Output sizes (w, h) of each example with the local images below.
SIZES = [(64, 64), (64, 64), (64, 64), (64, 64), (64, 64), (64, 64),
         (64 + 64, 128 + 128 + 64),  # outcrop: the canvas grows (amounts rounded up to 64)
         (64, 128)]  # outpaint: same size, shifted
#: Output labels: [N] per image, [N.1]..[N.3] for !mask.
LABELS = ["1", "2", "3", "4.1", "4.2", "4.3", "5", "6", "7", "8"]

OUTPUT_LINE = re.compile(r"^\[(\d+(?:\.\d+)?)\] (\S+): (.+)$")
IMAGE_NAME = re.compile(r"^\d{6}\.\d+\.png$")


# --------------------------------------------------------------------------- fixtures


def picture(w: int, h: int) -> np.ndarray:
    """A test picture with structure: gradients and an orange block."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // (w - 1), yy * 255 // (h - 1), (xx + yy) * 127 // (w + h - 2)], axis=-1)
    img = img.astype(np.uint8)
    img[h // 4: h // 2, w // 3: 2 * w // 3] = (230, 140, 20)
    return img


def make_workspace(root: Path) -> Path:
    """A working folder laid out like the reference's examples (small images)."""
    for folder in ("images", "test-pictures", "path/to", "tests/inpainting"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    small = picture(64, 64)
    Image.fromarray(small).save(root / "images/man.png")
    hole = np.dstack([small, np.full((64, 64), 255, np.uint8)])
    hole[24:48, 16:48, 3] = 0  # transparent = paint here
    Image.fromarray(hole).save(root / "images/man-transparent.png")
    Image.fromarray(small).save(root / "test-pictures/curly.png")
    Image.fromarray(picture(64, 128)).save(root / "images/curly.png")
    Image.fromarray(small).save(root / "path/to/still_life.png")
    Image.fromarray(small[:, ::-1]).save(root / "path/to/breakfast.png")
    border = np.dstack([small, np.full((64, 64), 255, np.uint8)])
    border[:16] = 0  # the reference's outpainting input: black, fully transparent borders
    border[:, :16] = 0
    Image.fromarray(border).save(root / "path/to/transparent_img.png")
    for name in ("coyote-input.webp", "coyote-mask.webp", "coyote-inpainting.prompt"):
        shutil.copy(PEER / "inpainting" / name, root / "tests/inpainting" / name)
    return root


def as_written(line: str, root: Path) -> str:
    """The example with ``/path/to/`` pointing at the local copies."""
    return line.replace("/path/to/", f"{root}/path/to/")


@pytest.fixture(scope="module")
def kernel(tiny_models):
    """The kernel's manager on the tiny models (what %invoke uses)."""
    mgr = paint_widgets.manager()
    mgr.release()
    mgr.budget_bytes = None
    mgr.configure(model=str(tiny_models["sd-inpaint"]), textmask_model=str(tiny_models["clipseg"]))
    yield mgr
    mgr.release()


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = make_workspace(tmp_path / "ws")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def runner(kernel) -> Runner:
    return Runner(mgr=kernel, stdout=io.StringIO(), stderr=io.StringIO())


def outputs(text: str) -> list[tuple[str, str, str]]:
    """``(label, path, command)`` of each ``[N] path: command`` line."""
    found = []
    for line in text.splitlines():
        match = OUTPUT_LINE.match(line)
        if match:
            found.append(match.groups())
    return found


def check_reference_outputs(text: str, root: Path, outdir: str = "outputs/img-samples") -> None:
    """The printed Outputs blocks, files, names, sizes and metadata of the REFERENCE run."""
    found = outputs(text)
    assert [label for label, _, _ in found][: len(LABELS)] == LABELS
    assert text.count("Outputs:") >= len(REFERENCE)
    assert ">> generating masks from ./test-pictures/curly.png" in text
    sizes = SIZES[:3] + [SIZES[3]] * 3 + SIZES[4:]
    lines = REFERENCE[:3] + [REFERENCE[3]] * 3 + REFERENCE[4:]
    for (label, path, command), size, line in zip(found, sizes, lines, strict=False):
        file = root / path
        assert file.is_file(), path
        assert file.parent.resolve() == (root / outdir).resolve()
        with Image.open(file) as image:
            assert image.size == size, (line, image.size)
            stored = image.info.get(INVOKE_COMMAND_KEY)
        meta = read_metadata(file)
        assert meta["command"] == command == stored
        if "." in label:  # !mask
            kind = ("deselected", "selected", "masked")[int(label.split(".")[1]) - 1]
            assert re.fullmatch(rf"\d{{6}}\.curly\.hair\.{kind}\.png", file.name)
            assert command == "!mask ./test-pictures/curly.png -tm hair 0.5"
            continue
        assert IMAGE_NAME.match(file.name)
        seed = int(file.name.split(".")[1])
        assert meta["params"]["seed"] == seed and f"-S {seed}" in command
        assert meta["params"]["steps"] == 50  # as written: the default
        assert (meta["params"]["width"], meta["params"]["height"]) == size
    by_line = {line: (path, command) for (_, path, command), line in zip(found, lines, strict=False)}
    medusa = by_line[REFERENCE[4]][1]
    assert medusa.startswith('"medusa with cobras" -s 50 -S ')
    assert re.search(r" -W 64 -H 64 -C 20\.0 -I \./test-pictures/curly\.png -A k_lms -f 0\.75", medusa)
    assert by_line[REFERENCE[0]][1].endswith("-M ./images/man-transparent.png")
    assert read_metadata(root / by_line[REFERENCE[6]][0])["params"]["strength"] == 0.9
    assert by_line[REFERENCE[6]][1].startswith("!fix images/curly.png --outcrop top 128 right 64 bottom 64 -S ")
    assert by_line[REFERENCE[7]][1].startswith("!fix images/curly.png -D top 64 -S ")


# --------------------------------------------------------------------------- console script


class CliRun:
    """One ``python -m paint_widgets.commands.cli`` process, started now, read on demand."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], stdin: str | None = None) -> None:
        self.cwd = cwd
        self._stdin = stdin
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "paint_widgets.commands.cli", *args], cwd=cwd, env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self._done: tuple[str, str] | None = None

    def wait(self) -> tuple[int, str, str]:
        if self._done is None:
            self._done = self.proc.communicate(self._stdin, timeout=480)
        out, err = self._done
        return self.proc.returncode, out, err


@pytest.fixture(scope="module")
def cli_runs(tiny_models, tmp_path_factory: pytest.TempPathFactory):
    """Both console-script runs start at once (each pays torch's import) and run
    alongside the in-process tests."""
    root = make_workspace(tmp_path_factory.mktemp("cli") / "ws")
    env = dict(os.environ, PAINT_WIDGETS_MODEL=str(tiny_models["sd-inpaint"]),
               PAINT_WIDGETS_TEXTMASK_MODEL=str(tiny_models["clipseg"]), OMP_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HOME=str(root))
    env.pop("PYTEST_CURRENT_TEST", None)
    commands = [as_written(line, root) for line in REFERENCE] + [
        "a cat -I ./images/man.png --foo 3",
        "a cat -I ./images/missing.png -s 2",
        "still going -I ./images/man.png -s 3 -S 5",
    ]
    stdin = "\n".join([
        "# a comment, then a blank line",
        "",
        "quick -I ./images/man.png -s 3 -S 11",
        "!mask ./test-pictures/curly.png -tm hair",
        "quit",
        "never -I ./images/man.png -s 3 -S 12",
    ]) + "\n"
    runs = {
        "args": CliRun(commands, root, env),
        "stdin": CliRun(["--outdir", "custom-out"], root, env, stdin=stdin),
    }
    yield root, runs
    for run in runs.values():
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def test_console_script_runs_start(cli_runs) -> None:
    """(Starts the console-script processes early; their results are checked below.)"""
    _, runs = cli_runs
    assert all(run.proc.pid for run in runs.values())


# --------------------------------------------------------------------------- Result.save


def test_result_save_takes_the_next_number_when_one_is_taken(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "000000.5.png").write_bytes(b"someone else's")
    monkeypatch.setattr("paint_widgets.result.next_number", lambda outdir: 0)  # a stale look
    result = Result(images=[Image.new("RGB", (8, 8))], seeds=[5], commands=['"x" -S 5'])
    [path] = result.save(out)
    assert path.name == "000001.5.png"
    assert (out / "000000.5.png").read_bytes() == b"someone else's"
    assert result.paths == [path] and read_metadata(path)["command"] == '"x" -S 5'


def test_result_save_reports_real_write_errors(tmp_path: Path, monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise OutputError("cannot write: disk full")

    monkeypatch.setattr("paint_widgets.result.save_png_atomic", fail)
    result = Result(images=[Image.new("RGB", (8, 8))], seeds=[5], commands=["x"])
    with pytest.raises(OutputError, match="disk full"):
        result.save(tmp_path)


# --------------------------------------------------------------------------- the magic


@pytest.fixture(scope="module")
def ipython(kernel):
    from IPython.testing.globalipapp import get_ipython

    shell = get_ipython()
    shell.run_line_magic("load_ext", "paint_widgets")
    return shell


@pytest.fixture
def shown(ipython, monkeypatch: pytest.MonkeyPatch) -> list:
    """Images the magic displayed inline (and a fresh output counter for the magic)."""
    from paint_widgets.commands.magic import InvokeMagics, _show

    magics = ipython.magics_manager.registry[InvokeMagics.__name__]
    monkeypatch.setattr(magics, "runner", Runner(on_result=_show))
    displayed: list = []
    monkeypatch.setattr("paint_widgets.commands.magic.display", displayed.append)
    return displayed


def test_magic_runs_every_reference_example(ipython, ws, shown, capsys, kernel) -> None:
    loads = kernel.loads
    results = []
    for line in REFERENCE:
        result = ipython.run_line_magic("invoke", as_written(line, ws))
        assert isinstance(result, Result), line
        results.append(result)
    out, err = capsys.readouterr()
    assert "error:" not in err and "Traceback" not in err  # (stderr has the loaders' progress bars)
    check_reference_outputs(out, ws)
    # models loaded once each (the diffusion model and CLIPSeg), shared by every command
    assert kernel.loads - loads == 2
    assert out.count(">> loaded model") <= 2
    # every image was shown inline, once; the returned Result's repr is then text
    assert len(shown) == sum(len(r.images) for r in results) == 10
    assert all(r.shown and r._repr_png_() is None for r in results)
    assert [r.image.size for r in results] == [SIZES[i] for i in range(len(REFERENCE))]
    assert [len(r.paths) for r in results] == [1, 1, 1, 3, 1, 1, 1, 1]


def test_line_magic_in_a_cell_returns_the_result(ipython, ws, shown, capsys) -> None:
    outcome = ipython.run_cell('r = %invoke "a red barn" -I ./images/man.png -tm orange -s 3 -S 4 -n 2')
    assert outcome.success
    r = ipython.user_ns["r"]
    assert isinstance(r, Result) and r.seeds == [4, 5] and len(shown) == 2
    out = capsys.readouterr().out
    assert [(label, Path(path).name) for label, path, _ in outputs(out)] == [
        ("1", "000000.4.png"), ("2", "000001.5.png")]
    assert '"a red barn" -s 3 -S 5 -W 64 -H 64' in out


def test_line_magic_error_is_one_line_and_returns_none(ipython, ws, shown, capsys) -> None:
    outcome = ipython.run_cell("r = %invoke a cat -I ./images/man.png --foo 3")
    assert outcome.success and ipython.user_ns["r"] is None
    out, err = capsys.readouterr()
    assert err == "error: unknown switch --foo in: a cat -I ./images/man.png --foo 3\n"
    assert "Traceback" not in out + err and not shown
    ipython.run_line_magic("invoke", "a cat -I ./images/nothere.png")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.match(r"error: image \(-I\) .*not found: .*nothere\.png in: ", err)
    assert ipython.run_line_magic("invoke", "   ") is None
    assert "no command given" in capsys.readouterr().err


def test_cell_magic_runs_each_line_and_goes_on_after_errors(ipython, ws, shown, capsys) -> None:
    cell = "\n".join([
        "# inpaint, then a broken line, then a mask and an outpaint",
        "",
        "a red barn -I ./images/man.png -M ./images/man-transparent.png -s 3 -S 21",
        "a cat -I ./images/man.png -s nine",
        "!mask ./test-pictures/curly.png -tm orange 0.4",
        "!fix images/curly.png -D bottom 32 -s 3 -S 22",
    ])
    results = ipython.run_cell_magic("invoke", "", cell)
    assert isinstance(results, list) and len(results) == 3
    assert [r.seeds for r in results] == [[21], [], [22]]
    out, err = capsys.readouterr()
    assert err == "error: -s/--steps: expected a whole number, not 'nine' in: a cat -I ./images/man.png -s nine\n"
    names = sorted(p.name for p in (ws / "outputs/img-samples").iterdir())
    assert names == ["000000.21.png", "000001.curly.orange.deselected.png", "000001.curly.orange.masked.png",
                     "000001.curly.orange.selected.png", "000002.22.png"]
    assert len(shown) == 5
    # a command on the %%invoke line itself runs first
    results = ipython.run_cell_magic("invoke", "first -I ./images/man.png -s 2 -S 31", "second -I ./images/man.png -s 2 -S 32")
    assert [r.seeds for r in results] == [[31], [32]]


def test_coyote_prompt_file(ws, runner) -> None:
    """InvokeAI's regression prompt file: all ten lines (with -s 5 instead of 50, see the module doc)."""
    results = run_file("tests/inpainting/coyote-inpainting.prompt", overrides={"steps": 5}, runner=runner)
    assert runner.failures == 0 and len(results) == 10
    names = sorted(p.name for p in (ws / "outputs/img-samples").iterdir())
    assert names == [f"{i:06d}.1234554321.png" for i in range(10)]
    original = np.asarray(Image.open(ws / "tests/inpainting/coyote-input.webp").convert("RGB"))
    keep = np.asarray(Image.open(ws / "tests/inpainting/coyote-mask.webp").convert("L")) == 255
    import cv2

    far_from_mask = cv2.erode(keep.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    assert far_from_mask.mean() > 0.2
    for i, name in enumerate(names):
        path = ws / "outputs/img-samples" / name
        meta = read_metadata(path)
        assert meta["params"]["strength"] == [0.2, 0.4, 0.6, 0.8, 0.99][i % 5]
        assert meta["params"]["steps"] == 5 and meta["params"]["seed"] == 1234554321
        assert ("red roses" in meta["params"]["prompt"]) == (i >= 5)
        assert meta["command"].endswith(f"-f {meta['params']['strength']} -M tests/inpainting/coyote-mask.webp")
        image = np.asarray(Image.open(path))
        assert image.shape == (512, 512, 3)
        # paste-back: pixels well away from the mask are the input's, bit for bit
        assert np.array_equal(image[far_from_mask], original[far_from_mask])
    printed = outputs(runner.stdout.getvalue())
    assert [label for label, _, _ in printed] == [str(i) for i in range(1, 11)]


def test_coyote_first_line_as_written(ipython, ws, shown, capsys) -> None:
    line = next(line for line in (ws / "tests/inpainting/coyote-inpainting.prompt").read_text().splitlines()
                if line and not line.startswith("#"))
    result = ipython.run_line_magic("invoke", line)
    assert result.seeds == [1234554321] and result.image.size == (512, 512)
    [(_, path, command)] = outputs(capsys.readouterr().out)
    assert path == "outputs/img-samples/000000.1234554321.png"
    assert command == ('"a coyote, deep palette knife oil painting, sunflowers, plants, desert landscape, award '
                       'winning" -s 50 -S 1234554321 -W 512 -H 512 -C 7.5 -I tests/inpainting/coyote-input.webp '
                       "-A k_lms -f 0.2 -M tests/inpainting/coyote-mask.webp")


# --------------------------------------------------------------------------- runner semantics


def test_opaque_image_without_mask_is_img2img_over_the_whole_image(ws, runner) -> None:
    rgba = np.dstack([picture(64, 64), np.full((64, 64), 255, np.uint8)])
    Image.fromarray(rgba).save(ws / "opaque-rgba.png")
    for image in ("./images/man.png", "opaque-rgba.png"):
        result = runner.run(f"a painting -I {image} -s 4 -S 3 -f 0.5")
        assert result is not None, runner.stderr.getvalue()
        command = result.commands[0]
        assert command == f'"a painting" -s 4 -S 3 -W 64 -H 64 -C 7.5 -I {image} -A k_lms -f 0.5'
        meta = read_metadata(result.paths[0])
        assert meta["command"] == command and meta["mode"] == "img2img"
        assert result.request.mask is None
        changed = np.any(np.asarray(result.image) != picture(64, 64), axis=-1)
        assert changed.mean() > 0.5  # the whole image is repainted, not a masked part
    # the Python API still refuses an empty mask
    with pytest.raises(paint_widgets.MaskError):
        paint_widgets.inpaint(picture(64, 64), None, "x", steps=2, mgr=runner.mgr)


def test_fix_takes_prompt_and_seed_from_the_image(ws, runner) -> None:
    made = runner.run('"a red barn" -I ./images/man.png -tm orange -s 2 -S 42')
    fixed = runner.run(f"!fix {made.paths[0]} -c top 64 -s 2 --seam_steps 2")
    assert fixed is not None, runner.stderr.getvalue()
    assert fixed.commands[0] == (f'!fix {made.paths[0]} --outcrop top 64 -p "a red barn" -S 42 -s 2 '
                                 "--seam_steps 2")
    assert fixed.image.size == (64, 128) and fixed.seeds == [42]
    again = runner.run(f"!fix {made.paths[0]} -D left 16 -s 2 -S 7")
    assert again.seeds == [7] and '-p "a red barn" -S 7' in again.commands[0]


def test_existing_files_are_never_overwritten(ws, runner) -> None:
    out = ws / "outputs/img-samples"
    out.mkdir(parents=True)
    (out / "000000.5.png").write_bytes(b"first")
    (out / "000007.curly.hair.masked.png").write_bytes(b"second")
    result = runner.run("x -I ./images/man.png -s 2 -S 5")
    assert result.paths == [Path("outputs/img-samples/000008.5.png")]
    masks = runner.run("!mask ./test-pictures/curly.png -tm hair")
    assert [p.name for p in masks.paths] == [f"000009.curly.hair.{k}.png" for k in ("deselected", "selected", "masked")]
    assert (out / "000000.5.png").read_bytes() == b"first"
    assert (out / "000007.curly.hair.masked.png").read_bytes() == b"second"


def test_prompts_and_paths_cannot_place_outputs_elsewhere(ws, runner) -> None:
    before = set(ws.parent.iterdir())
    lines = [
        '"../../escape/x" -I ./images/../images/man.png -s 2 -S 1',
        "!mask ./images/../test-pictures/curly.png -tm '../../escape/../x' 0.5",
        f"!mask {ws}/test-pictures/../test-pictures/curly.png -tm /etc/passwd 0.5",
    ]
    for line in lines:
        assert runner.run(line) is not None, runner.stderr.getvalue()
    assert set(ws.parent.iterdir()) == before
    written = sorted(p.name for p in (ws / "outputs/img-samples").iterdir())
    assert written[0] == "000000.1.png"
    assert all("/" not in name and not name.startswith(".") for name in written)
    assert len(written) == 7
    assert set(ws.iterdir()) == {ws / name for name in ("images", "test-pictures", "path", "tests", "outputs")}


def test_outdir_per_command(ws, runner) -> None:
    result = runner.run("x -I ./images/man.png -s 2 -S 1 -o other/place")
    assert result.paths == [Path("other/place/000000.1.png")]
    runner.outdir = "session-out"
    assert runner.run("x -I ./images/man.png -s 2 -S 2").paths == [Path("session-out/000000.2.png")]


def test_errors_print_one_line_and_the_runner_goes_on(ws, runner, monkeypatch) -> None:
    results = runner.run_lines([
        "a cat -I ./images/man.png --foo",
        "a cat -I ./images/man.png -tm hair -M ./images/man.png",
        "a cat -I ./images/missing.png",
        "a cat -I ./images/man.png -s 2 -S 9",
    ])
    assert len(results) == 1 and runner.failures == 3 and runner.succeeded == 1
    assert runner.stderr.getvalue().splitlines()[:2] == [
        "error: unknown switch --foo in: a cat -I ./images/man.png --foo",
        "error: use either -M/--init_mask or -tm/--text_mask, not both in: "
        "a cat -I ./images/man.png -tm hair -M ./images/man.png",
    ]
    assert re.fullmatch(r"error: image \(-I\) .*not found: \S*images/missing\.png in: a cat -I \./images/missing\.png",
                        runner.stderr.getvalue().splitlines()[2])

    def boom(*args, **kwargs):
        raise RuntimeError("boom\non two lines")

    monkeypatch.setattr("paint_widgets.engine.api.run", boom)
    assert runner.run("a cat -I ./images/man.png -s 2") is None
    assert runner.stderr.getvalue().splitlines()[-1] == (
        "error: RuntimeError: boom on two lines in: a cat -I ./images/man.png -s 2")
    assert runner.failures == 4


# --------------------------------------------------------------------------- console script, in process


def test_cli_bad_command_exit_status(capsys) -> None:
    assert cli_module.main(["a cat"]) == 1  # fails at parsing: no model is loaded
    err = capsys.readouterr().err
    assert err == "error: needs an image to work on: -I IMAGE (text-to-image is not supported) in: a cat\n"
    assert cli_module.main(["# only a comment"]) == 0


def test_cli_bad_device_exit_status(capsys) -> None:
    assert cli_module.main(["--device", "bogus", "x -I y.png"]) == 2
    assert "unknown device 'bogus'" in capsys.readouterr().err


def test_cli_help(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        cli_module.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--model", "--textmask-model", "--outdir", "--device", "COMMAND"):
        assert option in out


def test_cli_from_file(ws, kernel, capsys) -> None:
    commands = ws / "prompts.txt"
    commands.write_text("# two commands\n\nfirst -I ./images/man.png -s 2 -S 1\n!fix images/curly.png -D sideways\n"
                        "second -I ./images/man.png -s 2 -S 2\n", encoding="utf-8")
    assert cli_module.main(["--from_file", str(commands), "--outdir", "ff"]) == 1
    out, err = capsys.readouterr()
    assert [label for label, _, _ in outputs(out)] == ["1", "2"]
    assert err.count("error:") == 1 and "unknown direction 'sideways'" in err
    assert cli_module.main(["--from_file", "nope.txt"]) == 1
    assert "error: cannot read command file" in capsys.readouterr().err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _scripted_input(lines: list):
    prompts = []

    def fake_input(prompt: str = "") -> str:
        prompts.append(prompt)
        if not lines:
            raise EOFError
        item = lines.pop(0)
        if isinstance(item, BaseException) or (isinstance(item, type) and issubclass(item, BaseException)):
            raise item
        return item

    return fake_input, prompts


def test_cli_interactive_prompt(ws, kernel, monkeypatch, capsys) -> None:
    home = ws / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(sys, "stdin", _Tty())
    fake, prompts = _scripted_input([
        "",
        "a cat -I ./images/man.png -s 2 -S 1",
        KeyboardInterrupt,  # ^C at the prompt: a fresh prompt
        "a cat -I ./images/man.png --nope",
        "quit",
        "never -I ./images/man.png -s 2 -S 2",
    ])
    monkeypatch.setattr(builtins, "input", fake)
    status = cli_module.main(["--outdir", "inter"])
    assert status == 1  # one command failed
    assert prompts == ["invoke> "] * 5
    out, err = capsys.readouterr()
    assert "[1] inter/000000.1.png: " in out
    assert err.strip() == "error: unknown switch --nope in: a cat -I ./images/man.png --nope"
    assert sorted(p.name for p in (ws / "inter").iterdir()) == ["000000.1.png"]
    assert (home / ".paint_widgets_history").exists()
    # EOF ends it too; an unwritable history file is skipped silently
    monkeypatch.setenv("HOME", str(ws / "no" / "such" / "home"))
    fake, prompts = _scripted_input([])
    monkeypatch.setattr(builtins, "input", fake)
    assert cli_module.main([]) == 0 and prompts == ["invoke> "]


def test_cli_reads_standard_input_in_process(ws, kernel, monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a cat -I ./images/man.png -s 2 -S 3\nexit\nnot run\n"))
    assert cli_module.main(["--outdir", "piped"]) == 0
    assert sorted(p.name for p in (ws / "piped").iterdir()) == ["000000.3.png"]
    assert "[1] piped/000000.3.png" in capsys.readouterr().out


# --------------------------------------------------------------------------- console script, subprocesses


def test_console_script_runs_every_reference_example(cli_runs, tiny_models) -> None:
    root, runs = cli_runs
    status, out, err = runs["args"].wait()
    assert status == 1, err  # two commands failed
    check_reference_outputs(out, root)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert errors[0] == "error: unknown switch --foo in: a cat -I ./images/man.png --foo 3"
    assert re.fullmatch(r"error: image \(-I\) .*not found: \S*images/missing\.png in: "
                        r"a cat -I \./images/missing\.png -s 2", errors[1])
    assert "Traceback" not in err
    # it went on after the failures
    found = outputs(out)
    assert found[-1][0] == "9" and found[-1][1] == "outputs/img-samples/000008.5.png"  # !mask used one number
    # one process, each model loaded once
    assert out.count(f">> loaded model {tiny_models['sd-inpaint']}") == 1
    assert out.count(f">> loaded model {tiny_models['clipseg']}") == 1


def test_console_script_reads_commands_from_standard_input(cli_runs) -> None:
    root, runs = cli_runs
    status, out, err = runs["stdin"].wait()
    assert status == 0, err
    assert not [line for line in err.splitlines() if line.startswith("error:")]
    found = outputs(out)
    assert [(label, path) for label, path, _ in found] == [
        ("1", "custom-out/000000.11.png"),
        ("2.1", "custom-out/000001.curly.hair.deselected.png"),
        ("2.2", "custom-out/000001.curly.hair.selected.png"),
        ("2.3", "custom-out/000001.curly.hair.masked.png"),
    ]
    assert found[0][2] == '"quick" -s 3 -S 11 -W 64 -H 64 -C 7.5 -I ./images/man.png -A k_lms -f 0.75'
    assert found[1][2] == "!mask ./test-pictures/curly.png -tm hair 0.5"
    assert sorted(p.name for p in (root / "custom-out").iterdir()) == sorted(Path(p).name for _, p, _ in found)
