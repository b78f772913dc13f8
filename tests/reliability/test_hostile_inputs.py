"""Hostile inputs the bad-input matrix does not fit: special files, odd text, odd paths,
concurrent writers and late checks, each through the front doors that take them.

* Special files: FIFOs, sockets and devices named like images are refused by
  ``os.stat`` before anything opens them (every test that could hang has a deadline,
  so a regression fails instead of blocking the suite); images in float, 32-bit and
  other unusual modes are converted by their meaning or refused.
* Text: files and standard input are read as UTF-8 with a BOM dropped, split on
  ``\\n``/``\\r\\n`` only, and a line that is not UTF-8 is an error for that line
  alone — through the real ``paint-widgets`` script, ``--from_file``, ``%%invoke``
  and ``Runner.run_file``.
* Paths: ``~`` is expanded for every path the package takes; control characters and
  names that are not UTF-8 are refused before anything is generated; odd but legal
  names are quoted so the stored command replays.
* Concurrent writers: threads, processes and two real ``paint-widgets`` processes
  on one folder never share an output number; stray names cannot push numbering out
  of its six digits; two Studios sharing a folder never refuse a run.
* Late checks: a decompression bomb is one ``ImageLoadError`` through every load path.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from reliability_helpers import (
    H,
    W,
    box_mask,
    deadline,
    files_under,
    mask_file,
    photo,
    png_claiming_size,
    quiet_runner,
)

import paint_widgets as pw
from paint_widgets import io as pio
from paint_widgets.commands import cli
from paint_widgets.commands.magic import InvokeMagics
from paint_widgets.commands.parser import split_prompt
from paint_widgets.commands.runner import decode_lines, split_lines
from paint_widgets.requests import GenerationParams, InpaintRequest
from paint_widgets.result import Result

FAST = {"steps": 2, "seed": 1}
#: Every character str.splitlines splits on besides "\n" and "\r".
SEPARATORS = {"U+2028": "\u2028", "U+2029": "\u2029", "U+0085": "\x85", "\\x0b": "\x0b", "\\x0c": "\x0c",
              "\\x1c": "\x1c", "\\x1d": "\x1d", "\\x1e": "\x1e"}
BOM = "\ufeff"



def snapshot(mgr: Any) -> tuple[int, int]:
    return mgr.loads, mgr.generations


def inputs(folder: Path) -> tuple[Path, Path]:
    """A picture and an ``-M`` mask file in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    image = folder / "in.png"
    Image.fromarray(photo()).save(image)
    return image, mask_file(folder / "m.png", box_mask())


def refused(mgr: Any, q: Any, line: str, pattern: str, before: tuple[int, int]) -> str:
    """The runner refused ``line`` with one error line matching ``pattern``, before any work."""
    assert q.runner.run(line) is None
    (message,) = q.error_lines[-1:]
    assert message.startswith("error: ") and re.search(pattern, message), message
    assert "Traceback" not in q.err.getvalue()
    assert snapshot(mgr) == before, "it got as far as loading or generating"
    return message


def stored_prompt(path: Path) -> str:
    return pio.read_metadata(path)["params"]["prompt"]


# =========================================================================== the console script
# Four real processes start together (each pays torch's import once) and run alongside
# the in-process tests below: two read odd text (standard input, --from_file), two
# write to one output folder at the same time.


def _console_script() -> list[str]:
    script = Path(sys.executable).parent / "paint-widgets"
    return [str(script)] if script.exists() else [sys.executable, "-m", "paint_widgets.commands.cli"]


def _odd_text_lines(image: Path, mask: Path) -> list[bytes]:
    """Line 1 after a BOM; line 2 not UTF-8; lines 3-4 hold every separator inside quotes."""
    tail = f" -I {image} -M {mask} -s 2"
    seps = "".join(SEPARATORS.values())
    return [
        b"\xef\xbb\xbf" + f'"first"{tail} -S 1'.encode(),
        f'"caf{tail} -S 2'.encode().replace(b"caf", b"caf\xe9\"", 1),
        f'"a\u2028b"{tail} -S 3'.encode(),
        f'"c{seps}d"{tail} -S 4'.encode(),
    ]


class Script:
    """One ``paint-widgets`` process, started now, read on demand."""

    def __init__(self, args: list[str | bytes], cwd: Path, env: dict[str, str], stdin: bytes | None = None) -> None:
        self.cwd = cwd
        self._stdin = stdin
        self.proc = subprocess.Popen([*_console_script(), *args], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self._done: tuple[bytes, bytes] | None = None

    def wait(self) -> tuple[int, str, str]:
        if self._done is None:
            self._done = self.proc.communicate(self._stdin, timeout=480)
        out, err = self._done
        return self.proc.returncode, out.decode("utf-8", "backslashreplace"), err.decode("utf-8", "backslashreplace")


@pytest.fixture(scope="module")
def scripts(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("scripts")
    image, mask = inputs(root)
    env = dict(os.environ, PAINT_WIDGETS_MODEL=str(tiny_models["sd-inpaint"]),
               PAINT_WIDGETS_TEXTMASK_MODEL=str(tiny_models["clipseg"]), OMP_NUM_THREADS="1",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HOME=str(root), LC_ALL="C.UTF-8")
    env.pop("PYTEST_CURRENT_TEST", None)
    env.pop("PYTHONUTF8", None)  # standard input decoded strictly: what killed the script before
    lines = _odd_text_lines(image, mask)
    stdin = b"\n".join([*lines, b"quit", b'"never" -I x.png']) + b"\n"
    (root / "cmds.txt").write_bytes(b"\r\n".join(lines) + b"\r\n")
    bad_argv = f'"x" -I {root}/caf'.encode() + b"\xe9.png -s 2"
    writer = [f'"w{i}" -I {image} -M {mask} -s 2 -S {i}' for i in range(6)]
    writer.insert(3, f"!mask {image} -tm red")
    runs = {
        "stdin": Script(["--outdir", "stdin-out"], root, env, stdin=stdin),
        "file": Script(["--from_file", "~/cmds.txt", "--outdir", "~/file-out", bad_argv], root,
                       {**env, "LC_ALL": "C"}),
        "writer-a": Script(["--outdir", "shared", *writer], root, env),
        "writer-b": Script(["--outdir", "shared", *writer], root, env),
    }
    yield root, runs
    for run in runs.values():
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def test_console_scripts_start(scripts):
    """(Starts the four processes early; their results are checked at the end of the module.)"""
    assert all(run.proc.pid for run in scripts[1].values())


# =========================================================================== special files


def _fifo(folder: Path) -> Path:
    path = folder / "x.png"
    os.mkfifo(path)
    return path


def _socket(folder: Path) -> Path:
    import socket

    path = folder / "x.png"
    here = os.getcwd()
    os.chdir(folder)  # socket paths are limited to 108 bytes: bind a relative name
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(path.name)
    finally:
        os.chdir(here)
    return path


def _device(folder: Path) -> Path:
    path = folder / "x.png"
    path.symlink_to("/dev/zero")
    return path


def _directory(folder: Path) -> Path:
    path = folder / "x.png"
    path.mkdir()
    return path


SPECIAL = {
    "FIFO": (_fifo, r"named pipe \(FIFO\)"),
    "socket": (_socket, r"is a socket"),
    "/dev/zero": (_device, r"character device"),
    "folder": (_directory, r"is a folder"),
}

#: front door -> the command line (``{p}`` the special file, ``{i}``/``{m}`` good inputs)
SPECIAL_COMMANDS = {
    "-I": '"x" -I {p} -M {m} -s 2',
    "-M": '"x" -I {i} -M {p} -s 2',
    "!fix -D": "!fix {p} -D top 64 -s 2",
    "!fix --outcrop": "!fix {p} --outcrop top 64 -s 2",
    "!mask": "!mask {p} -tm red",
    "-tm": '"x" -I {p} -tm red -s 2',
}


@pytest.mark.parametrize("door", SPECIAL_COMMANDS)
@pytest.mark.parametrize("kind", SPECIAL)
def test_special_file_command(warm, tmp_path, kind, door):
    writer, pattern = SPECIAL[kind]
    bad = writer(tmp_path)
    image, mask = inputs(tmp_path / "good")
    q = quiet_runner(tmp_path / "out", warm)
    line = SPECIAL_COMMANDS[door].format(p=bad, i=image, m=mask)
    with deadline():
        message = refused(warm, q, line, pattern, snapshot(warm))
    assert str(bad) in message
    assert "regular" in message or kind == "folder"  # and says what to give instead
    assert files_under(tmp_path / "out") == set()
    assert q.runner.run(f'"x" -I {image} -M {mask} -s 2 -S 1') is not None  # the next command runs


SPECIAL_API = {
    "inpaint image": lambda p, mgr: pw.inpaint(str(p), box_mask(), "x", mgr=mgr, **FAST),
    "inpaint mask": lambda p, mgr: pw.inpaint(photo(), str(p), "x", mgr=mgr, **FAST),
    "outcrop": lambda p, mgr: pw.outcrop(str(p), top=64, mgr=mgr, steps=2),
    "outpaint": lambda p, mgr: pw.outpaint(str(p), "top", 64, mgr=mgr, steps=2),
    "text_mask": lambda p, mgr: pw.text_mask(str(p), "red", manager=mgr),
    "load_image": lambda p, mgr: pio.load_image(p),
    "MaskPainter": lambda p, mgr: pw.MaskPainter(str(p)),
    "Studio": lambda p, mgr: pw.Studio(str(p), mgr=mgr),
}


@pytest.mark.parametrize("door", SPECIAL_API)
@pytest.mark.parametrize("kind", SPECIAL)
def test_special_file_api(warm, tmp_path, kind, door):
    writer, pattern = SPECIAL[kind]
    bad = writer(tmp_path)
    before = snapshot(warm)
    with deadline(), pytest.raises(pw.ImageLoadError, match=pattern) as caught:
        SPECIAL_API[door](bad, warm)
    assert str(bad) in str(caught.value) and "\n" not in str(caught.value)
    assert snapshot(warm) == before


@pytest.mark.parametrize("kind", SPECIAL)
def test_special_file_metadata_and_painter_never_block(warm, tmp_path, kind):
    """``!fix`` read PNG metadata before checking the file: a FIFO hung it. Now ``{}``."""
    bad = SPECIAL[kind][0](tmp_path)
    painter = pw.MaskPainter(photo())
    painter.set_mask(box_mask())
    with deadline():
        assert pio.read_png_text(bad) == {} and pio.read_metadata(bad) == {}
        from paint_widgets.commands.parser import image_defaults

        assert image_defaults(bad) == {}
        painter.load_mask(str(bad))  # a handler: shown in place
    assert np.array_equal(painter.mask, box_mask())
    assert re.search(SPECIAL[kind][1], "".join(o.get("text", "") for o in painter.output.outputs))


def test_a_fifo_swapped_in_after_the_check_is_still_never_blocked_on(tmp_path, monkeypatch):
    """Opening is non-blocking and the open file is checked again (no window between stat and open)."""
    good, _ = inputs(tmp_path / "good")
    fifo = _fifo(tmp_path)
    real = pio.check_input_file
    monkeypatch.setattr(pio, "check_input_file", lambda path, what="image": (real(good, what), Path(fifo))[1])
    with deadline(), pytest.raises(pw.ImageLoadError, match=r"named pipe"):
        pio.load_image(fifo)


def test_a_command_file_may_be_a_pipe_but_not_a_folder_or_a_socket(warm, tmp_path):
    image, mask = inputs(tmp_path)
    fifo = tmp_path / "commands.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with open(fifo, "wb") as handle:
            handle.write(f'"piped" -I {image} -M {mask} -s 2 -S 5\n'.encode())

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    q = quiet_runner(tmp_path / "out", warm)
    with deadline():
        results = q.runner.run_file(fifo)  # `paint-widgets --from_file <(...)`
    feeder.join(5)
    assert [r.seeds for r in results] == [[5]] and q.error_lines == []
    for writer, pattern in ((_directory, r"is a folder"), (_socket, r"not a regular file or a pipe")):
        folder = tmp_path / writer.__name__
        folder.mkdir()
        bad = writer(folder)
        assert q.runner.run_file(bad) == []
        assert re.search(pattern, q.error_lines[-1]) and q.error_lines[-1].endswith(f"in: --from_file {bad}")


# =========================================================================== image modes


GRAY = (np.arange(H * W).reshape(H, W) % 256).astype(np.uint8)


def _pil(mode: str) -> Image.Image:
    """A PIL image in ``mode`` holding GRAY (or photo()) by that mode's meaning."""
    if mode == "F01":
        return Image.fromarray(GRAY.astype(np.float32) / 255)
    if mode == "F255":
        return Image.fromarray(GRAY.astype(np.float32))
    if mode == "I":
        return Image.fromarray(GRAY.astype(np.int32))
    if mode == "I16in32":
        return Image.fromarray(GRAY.astype(np.int32) * 257)
    if mode == "I;16":
        return Image.fromarray(GRAY.astype(np.uint16) * 257)
    if mode == "L":
        return Image.fromarray(GRAY)
    if mode == "P":
        return Image.fromarray(photo()).convert("P", palette=Image.Palette.ADAPTIVE)
    return Image.fromarray(photo()).convert(mode)


MODES_GRAY = ["F01", "F255", "I", "I16in32", "I;16", "L"]
MODES_COLOUR = ["CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "P"]


@pytest.mark.parametrize("mode", MODES_GRAY)
def test_pil_images_in_grey_modes_keep_their_levels(mode):
    arr = np.asarray(pio.load_image(_pil(mode)))
    assert arr.shape == (H, W, 3) and np.array_equal(arr[..., 0], GRAY)


@pytest.mark.parametrize("mode", MODES_COLOUR)
def test_pil_images_in_colour_modes_keep_their_colours(mode):
    arr = np.asarray(pio.load_image(_pil(mode)))
    assert arr.shape[:2] == (H, W) and arr.shape[2] in (3, 4)
    assert np.abs(arr[..., :3].astype(int) - photo()).mean() < 12  # colours, not raw channels


def test_premultiplied_and_alpha_modes_become_rgba():
    for mode in ("LA", "La", "PA", "RGBa"):
        base = Image.new("RGBA", (W, H), (200, 100, 50, 255))
        base.putpixel((0, 0), (0, 0, 0, 0))
        im = base.convert(mode) if mode != "La" else base.convert("LA").convert("La")
        arr = np.asarray(pio.load_image(im))
        assert arr.shape == (H, W, 4) and arr[0, 0, 3] == 0 and arr[1, 1, 3] == 255, mode


@pytest.mark.parametrize(("values", "pattern"), [
    (GRAY.astype(np.float32), r"values from 0 to 255, but float images must be in \[0, 1\]; divide it by 255"),
    (GRAY.astype(np.float32) - 300, r"values from -300 to -45.*scale it to \[0, 1\]"),
    (np.full((H, W), np.inf, np.float32), r"NaN or infinite"),
    (GRAY.astype(np.uint16), r"must be uint8 or float in \[0, 1\], not uint16"),
])
def test_arrays_outside_their_documented_range_are_refused(warm, values, pattern):
    before = snapshot(warm)
    with pytest.raises(pw.ImageLoadError, match=pattern):
        pw.inpaint(values, box_mask(), "x", mgr=warm, **FAST)
    assert snapshot(warm) == before


def test_float_arrays_in_0_1_are_read_with_rounding_slack():
    values = GRAY.astype(np.float32) / 255
    values[0, 0] = 1.0 + 1e-6  # arithmetic overshoot: still 0..1, not 0..255
    arr = np.asarray(pio.load_image(values))
    assert arr[0, 0, 0] == 255 and np.array_equal(arr[1:, :, 0], GRAY[1:])


# =========================================================================== text


def test_split_lines_splits_on_newlines_only():
    text = BOM + "one" + "".join(SEPARATORS.values()) + "still one\r\ntwo\n\nfour\n"
    assert split_lines(text) == ["one" + "".join(SEPARATORS.values()) + "still one", "two", "", "four"]
    assert len(text.splitlines()) > 4  # what was used before


def test_decode_lines_reports_each_undecodable_line_and_goes_on():
    raw = [b"\xef\xbb\xbfa\r\n", b"b\xff\xfec\n", b"\xef\xbb\xbfd\n", b"\xe2\x80\xa8"]
    got = list(decode_lines(raw, "test input"))
    assert [(n, text) for n, text, _ in got] == [(1, "a"), (2, "b\\xff\\xfec"), (3, BOM + "d"), (4, "\u2028")]
    assert got[1][2] == "line 2 of test input is not valid UTF-8 text (byte 0xff at position 2); save it as UTF-8"
    assert [problem for _, _, problem in got if problem] == [got[1][2]]


def _odd_file(folder: Path, image: Path, mask: Path) -> Path:
    path = folder / "odd.txt"
    path.write_bytes(b"\r\n".join(_odd_text_lines(image, mask)) + b"\r\n")
    return path


def _check_odd_results(results: list[Result], errors: list[str], source: str) -> None:
    assert [r.seeds for r in results] == [[1], [3], [4]]
    (error,) = errors
    assert error.startswith(f"error: line 2 of {source}") and "byte 0xe9 at position 5" in error
    prompts = [stored_prompt(r.paths[0]) for r in results]
    assert prompts == ["first", "a\u2028b", "c" + "".join(SEPARATORS.values()) + "d"]
    for result in results:  # each stored command reads back to the same prompt
        stored = pio.read_png_text(result.paths[0])["Dream"]
        assert split_prompt(stored)[0] == result.request.params.prompt


def test_run_file_bom_separators_and_an_undecodable_line(warm, tmp_path):
    image, mask = inputs(tmp_path)
    path = _odd_file(tmp_path, image, mask)
    q = quiet_runner(tmp_path / "out", warm)
    results = q.runner.run_file(path)
    _check_odd_results(results, q.error_lines, f"command file {path}")


def test_stdin_in_process_is_decoded_per_line(warm, tmp_path, monkeypatch, capsys):
    image, mask = inputs(tmp_path)
    data = b"\n".join(_odd_text_lines(image, mask)) + b"\nexit\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="strict"))
    default = warm.default_model()
    try:
        assert cli.main(["--outdir", str(tmp_path / "out")]) == 1
    finally:
        warm.configure(model=default)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: line 2 of standard input is not valid UTF-8")
    assert len([p for p in (tmp_path / "out").iterdir()]) == 3


def test_magic_cell_keeps_separators_and_drops_a_bom(warm, tmp_path):
    image, mask = inputs(tmp_path)
    q = quiet_runner(tmp_path / "out", warm)
    magic = InvokeMagics(None, runner=q.runner)
    tail = f" -I {image} -M {mask} -s 2"
    cell = BOM + "\n".join(f'"p{sep}q"{tail} -S {i}' for i, sep in enumerate(SEPARATORS.values()))
    results = magic.invoke("", cell)
    assert q.error_lines == [] and len(results) == len(SEPARATORS)
    assert [stored_prompt(r.paths[0]) for r in results] == [f"p{sep}q" for sep in SEPARATORS.values()]
    assert magic.invoke(BOM + f'"line"{tail} -S 9') is not None  # a %invoke line too


def test_text_that_is_not_text_is_one_error_line(warm, tmp_path):
    image, mask = inputs(tmp_path)
    q = quiet_runner(tmp_path / "out", warm)
    before = snapshot(warm)
    refused(warm, q, f'"caf\udce9" -I {image} -M {mask} -s 2', r"not valid UTF-8 text", before)
    refused(warm, q, b'"x" -I in.png', r"must be a string, not bytes", before)  # type: ignore[arg-type]
    assert q.runner.failures == 2 and files_under(tmp_path / "out") == set()


# =========================================================================== paths


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """``~`` is ``tmp_path/home``; the working folder is ``tmp_path/work``."""
    folder = tmp_path / "home"
    folder.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.chdir(work)
    inputs(folder)
    return folder


def _no_literal_tilde(home: Path) -> None:
    assert not [p for p in home.parent.rglob("~*")], "a folder literally named ~ was made"


def test_tilde_in_every_command_switch(warm, home):
    q = quiet_runner(Path("~/runner-out"), warm)
    results = [
        q.runner.run('"x" -I ~/in.png -M ~/m.png -s 2 -S 1 -o ~/d'),
        q.runner.run("!fix ~/in.png -D top 16 -s 2 -S 2 -o ~/d"),
        q.runner.run("!fix ~/in.png --outcrop right 64 -s 2 -S 3 --outdir ~/d"),
        q.runner.run("!mask ~/in.png -tm red -o ~/d"),
        q.runner.run('"x" -I ~/in.png -M ~/m.png -s 2 -S 5'),
    ]
    assert q.error_lines == [] and all(results)
    folders = [{p.parent for p in r.paths} for r in results]  # type: ignore[union-attr]
    assert folders[:4] == [{home / "d"}] * 4 and folders[4] == {home / "runner-out"}
    assert sorted(p.name[:6] for p in (home / "d").iterdir()) == ["000000", "000001", "000002"] + ["000003"] * 3
    _no_literal_tilde(home)


def test_tilde_in_every_console_script_option(warm, home, tiny_models):
    default = warm.default_model()
    (home / "model").symlink_to(tiny_models["sd-inpaint"])
    (home / "cmds.txt").write_text('"x" -I ~/in.png -M ~/m.png -s 2 -S 7\n', encoding="utf-8")
    try:
        assert cli.main(["--outdir", "~/cli", "--from_file", "~/cmds.txt"]) == 0
        assert cli.main(["--model", "~/model", "--outdir", "~/cli", '"x" -I ~/in.png -M ~/m.png -s 2 -S 8']) == 0
    finally:
        warm.configure(model=default)
    assert sorted(p.name for p in (home / "cli").iterdir()) == ["000000.7.png", "000001.8.png"]
    _no_literal_tilde(home)


def test_tilde_in_every_api_path(warm, home):
    result = pw.inpaint("~/in.png", "~/m.png", "x", mgr=warm, **FAST)
    (saved,) = result.save("~/api")
    assert saved.parent == home / "api"
    assert pio.load_image("~/api/" + saved.name).size == (W, H)
    assert pio.read_metadata("~/api/" + saved.name)["seed"] == 1
    assert pio.next_number("~/api") == 1 and pio.ensure_outdir("~/made") == home / "made"
    assert pw.outpaint("~/in.png", "top", 32, mgr=warm, steps=2, seed=1).image.size == (W, H)
    studio = pw.Studio("~/in.png", outdir="~/st", mgr=warm)
    record = studio._record(InpaintRequest(image=photo(), mask=box_mask(), params=GenerationParams(**FAST)))
    assert Path(record.image_ref).parent == home / "st" / "studio-inputs"
    _no_literal_tilde(home)


CONTROL = {"newline": "\n", "carriage return": "\r", "tab": "\t", "escape": "\x1b", "DEL": "\x7f",
           "NEL (U+0085)": "\x85", "line separator (U+2028)": "\u2028",
           "paragraph separator (U+2029)": "\u2029", "vertical tab": "\x0b", "CSI (U+009B)": "\x9b"}


@pytest.mark.parametrize("name", CONTROL)
def test_a_control_character_in_an_image_name_is_refused(warm, tmp_path, name):
    char = CONTROL[name]
    image, mask = inputs(tmp_path)
    odd = tmp_path / f"in{char}put.png"
    odd.write_bytes(image.read_bytes())  # a real file: refused for its name, not "not found"
    q = quiet_runner(tmp_path / "out", warm)
    before = snapshot(warm)
    pattern = r"contains the control character"
    message = refused(warm, q, f'"x" -I {shlex.quote(str(odd))} -M {mask} -s 2', pattern, before)
    assert message.count("\n") == 0 and "rename it" in message
    refused(warm, q, f'"x" -I {image} -M {shlex.quote(str(odd))} -s 2', pattern, before)
    refused(warm, q, f"!fix {shlex.quote(str(odd))} -D top 64", pattern, before)
    refused(warm, q, f"!mask {shlex.quote(str(odd))} -tm red", pattern, before)
    with pytest.raises(pw.ImageLoadError, match=pattern) as caught:
        pw.inpaint(str(odd), box_mask(), "x", mgr=warm, **FAST)
    assert str(caught.value).isprintable()
    with pytest.raises(pw.ImageLoadError, match=pattern):
        pw.inpaint(photo(), str(odd), "x", mgr=warm, **FAST)
    assert snapshot(warm) == before and files_under(tmp_path / "out") == set()


def test_a_newline_in_a_console_script_path_is_refused(warm, tmp_path, capsys):
    default = warm.default_model()
    try:
        assert cli.main(["--outdir", str(tmp_path / "a\nb")]) == 2
        assert "--outdir name" in capsys.readouterr().err
        assert cli.main(["--model", "a\nb"]) == 2
        assert cli.main(["--from_file", str(tmp_path / "c\nd.txt"), "--outdir", str(tmp_path / "o")]) == 1
    finally:
        warm.configure(model=default)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and "--model name" in err[0] and "command file (--from_file) name" in err[1]
    assert not (tmp_path / "a\nb").exists()


ODD_NAMES = ["it's \"odd\" #1 $HOME;&.png", "two  spaces.png", "back\\slash.png", "ünï cødé ☃.png",
             "{braces} [and] (parens) *?.png", "~tilde.png"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_an_odd_but_legal_name_is_quoted_and_the_stored_command_replays(warm, tmp_path, name):
    folder = tmp_path / "my pictures"
    folder.mkdir()
    image, mask = folder / name, folder / f"mask of {name}"
    Image.fromarray(photo(64, 64)).save(image, format="PNG")
    mask_file(mask, box_mask(64, 64))
    q = quiet_runner(tmp_path / "out", warm)
    first = q.runner.run(f'"x" -I {shlex.quote(str(image))} -M {shlex.quote(str(mask))} -s 2 -S 7')
    assert first is not None and q.error_lines == []
    stored = pio.read_png_text(first.paths[0])["Dream"]
    assert stored == first.commands[0]
    again = q.runner.run(stored)  # the stored command, as a line: the same request, the same pixels
    assert again is not None and q.error_lines == []
    assert again.request.image == str(image) and again.request.mask == str(mask)
    assert np.array_equal(np.asarray(again.image), np.asarray(first.image))


def test_a_small_image_named_like_a_switch_replays_from_its_stored_line(warm, tmp_path, monkeypatch):
    """``-x.png`` is printed ``./-x.png`` (not a switch), a 48x48 image's ``-W 48 -H 48`` is legal."""
    monkeypatch.chdir(tmp_path)
    Image.fromarray(photo(48, 48)).save(tmp_path / "-x.png")
    mask_file(tmp_path / "-m.png", box_mask(48, 48))
    q = quiet_runner(tmp_path / "out", warm)
    first = q.runner.run('"x" -I ./-x.png -M ./-m.png -s 2 -S 7')
    assert first is not None and q.error_lines == []
    stored = pio.read_png_text(first.paths[0])["Dream"]
    assert " -W 48 -H 48 " in stored and " -I ./-x.png " in stored and " -M ./-m.png" in stored
    again = q.runner.run(stored)
    assert again is not None and q.error_lines == []
    assert np.array_equal(np.asarray(again.image), np.asarray(first.image))


def test_a_prompt_with_line_breaks_is_one_line_everywhere_and_replays(warm, tmp_path):
    q = quiet_runner(tmp_path / "out", warm)
    made = pw.inpaint(photo(), box_mask(), "a red\nbarn\r\nat dusk", mgr=warm, **FAST)
    assert made.commands[0].startswith('"a red barn at dusk" ') and "\n" not in made.commands[0]
    assert made.metadata[0]["params"]["prompt"] == "a red barn at dusk"
    (path,) = made.save(tmp_path / "saved")
    again = q.runner.run(f"!fix {path} --outcrop top 64 -s 2")  # its prompt and seed, from the file
    assert again is not None and q.error_lines == [] and again.seeds == made.seeds
    assert again.metadata[0]["params"]["prompt"] == "a red barn at dusk"


def test_a_name_that_is_not_utf8_is_refused_before_anything_is_generated(warm, tmp_path):
    image, mask = inputs(tmp_path)
    raw = os.fsencode(tmp_path) + b"/caf\xe9.png"
    with open(raw, "wb") as handle:  # a real file, named in Latin-1
        handle.write(image.read_bytes())
    name = os.fsdecode(raw)
    q = quiet_runner(tmp_path / "out", warm)
    before = snapshot(warm)
    refused(warm, q, f'"x" -I {name} -M {mask} -s 2', r"not valid UTF-8", before)
    with pytest.raises(pw.ImageLoadError, match=r"caf\\xe9\.png' is not valid UTF-8 text; rename it") as caught:
        pw.inpaint(name, box_mask(), "x", mgr=warm, **FAST)
    str(caught.value).encode("utf-8")  # the message itself prints anywhere
    studio = pw.Studio(photo(), outdir=os.fsdecode(os.fsencode(tmp_path) + b"/sorti\xe9"), mgr=warm)
    studio.painter.set_mask(box_mask())
    assert studio.generate() is False and "not valid UTF-8" in studio.status.value
    assert snapshot(warm) == before and files_under(tmp_path / "out") == set()


def test_text_that_utf8_cannot_encode_never_fails_a_save(tmp_path):
    """Nothing made is lost to its own metadata: unencodable text is stored escaped."""
    image = Image.fromarray(photo())
    result = Result(images=[image], seeds=[1], commands=['"caf\udce9" -S 1'],
                    metadata=[{"params": {"prompt": "caf\udce9"}}])
    (saved,) = result.save(tmp_path)
    assert pio.read_png_text(saved)["Dream"] == '"caf\\udce9" -S 1'
    assert pio.read_metadata(saved)["params"]["prompt"] == "caf\udce9"  # JSON escapes it exactly
    assert np.array_equal(np.asarray(Image.open(saved)), photo())


# =========================================================================== numbering


def _numbers(folder: Path) -> list[int]:
    return sorted(int(p.name[:6]) for p in folder.iterdir() if re.match(r"^[0-9]{6}\.", p.name))


def test_stray_names_cannot_push_numbering_out_of_six_digits(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for stray in ("999999.junk.png", "abc.png", "0000123.png", "\u0661\u0662\u0663\u0664\u0665\u0666.png",
                  "12345.png", ".000009.tmp"):
        (out / stray).write_bytes(b"stray")
    (out / "000010").mkdir()  # no dot: not a numbered name
    (out / "000002.7.png").mkdir()  # a folder where an output would go: that number is taken
    (out / "000003.x.png").symlink_to("nowhere")  # a dangling link: taken too
    assert pio.next_number(out) == 4
    image = Image.new("RGB", (8, 8))
    paths = [Result(images=[image], seeds=[s], commands=["x"]).save(out)[0] for s in range(3)]
    assert [p.name for p in paths] == ["000004.0.png", "000005.1.png", "000006.2.png"]
    (out / "000002.7.png").rmdir()
    assert pio.next_number(out) == 7
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "999999.junk.png").write_bytes(b"stray")
    assert pio.next_number(lone) == 0
    assert pio.save_numbered(lone, [("a.png", image, None, None)])[0].name == "000000.a.png"
    assert (lone / "999999.junk.png").read_bytes() == b"stray"


def test_a_full_range_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(pio, "_scan_numbers", lambda folder: (set(range(pio.MAX_NUMBER + 1)), set()))
    with pytest.raises(pw.OutputError, match=r"used every number from 000000 to 999999; choose another folder"):
        pio.next_number(tmp_path)


def test_a_stale_claim_only_skips_its_number(tmp_path):
    (tmp_path / ".000000.claim").write_bytes(b"")  # left by a writer that was killed
    image = Image.new("RGB", (8, 8))
    (path,) = Result(images=[image], seeds=[1], commands=["x"]).save(tmp_path)
    assert path.name == "000001.1.png"
    with pytest.raises(pw.OutputExistsError, match="being written by another writer"):
        with pio.claim_number(tmp_path, 0):
            pass


def test_a_stale_look_at_another_seed_does_not_share_the_number(tmp_path, monkeypatch):
    """Before, only the exact name was checked: 000000.5.png next to 000000.99.png."""
    (tmp_path / "000000.99.png").write_bytes(b"another writer's")
    monkeypatch.setattr("paint_widgets.result.next_number", lambda outdir: 0)
    (path,) = Result(images=[Image.new("RGB", (8, 8))], seeds=[5], commands=["x"]).save(tmp_path)
    assert path.name == "000001.5.png" and _numbers(tmp_path) == [0, 1]


def test_a_failed_set_leaves_nothing_and_frees_its_number(tmp_path, monkeypatch):
    real = pio.save_png_atomic
    calls = {"n": 0}

    def second_fails(image, path, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise pw.OutputError(f"cannot write {path}: No space left on device")
        return real(image, path, **kwargs)

    monkeypatch.setattr(pio, "save_png_atomic", second_fails)
    image = Image.new("RGB", (8, 8))
    with pytest.raises(pw.OutputError, match="No space left"):
        pio.save_numbered(tmp_path, [("input.png", image, None, None), ("mask.png", image, None, None)])
    assert files_under(tmp_path) == set()
    assert [p.name for p in pio.save_numbered(tmp_path, [("input.png", image, None, None)])] == ["000000.input.png"]


def test_threads_never_share_a_number(tmp_path):
    start = threading.Barrier(8)
    failures: list[BaseException] = []

    def write(tag: int) -> None:
        image = Image.new("RGB", (8, 8))  # one per thread: Pillow keeps save options on the image object
        try:
            start.wait()
            for i in range(8):
                Result(images=[image], seeds=[tag * 100 + i], commands=["x"]).save(tmp_path)
                pio.save_numbered(tmp_path / "pairs", [("input.png", image, {"w": tag, "i": i}, None),
                                                       ("mask.png", image, {"w": tag, "i": i}, None)])
        except BaseException as err:  # noqa: BLE001 - reported below
            failures.append(err)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    numbers = _numbers(tmp_path)
    assert len(numbers) == len(set(numbers)) == 64
    _check_pairs(tmp_path / "pairs", 64)


def _check_pairs(folder: Path, count: int) -> None:
    by_number: dict[int, list[str]] = defaultdict(list)
    for path in folder.iterdir():
        by_number[int(path.name[:6])].append(path.name[7:])
    assert len(by_number) == count and all(sorted(v) == ["input.png", "mask.png"] for v in by_number.values())
    for number in by_number:  # the two files of a pair come from the same writer and call
        a, b = (pio.read_metadata(folder / f"{number:06d}.{kind}.png") for kind in ("input", "mask"))
        assert a == b
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


WRITER = r"""
import sys, time
from pathlib import Path
from PIL import Image
from paint_widgets.io import save_numbered
from paint_widgets.result import Result
out, go, tag = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
image = Image.new("RGB", (8, 8))
print("ready", flush=True)
while not go.exists():
    time.sleep(0.001)
for i in range(15):
    Result(images=[image], seeds=[i], commands=[tag], metadata=[{"w": tag}]).save(out)
    save_numbered(out / "pairs", [("input.png", image, {"w": tag, "i": i}, None),
                                  ("mask.png", image, {"w": tag, "i": i}, None)])
"""


def test_processes_never_share_a_number(tmp_path):
    go = tmp_path / "go"
    out = tmp_path / "out"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(go), f"w{n}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in range(4)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    go.touch()  # all four start writing at once
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    numbers = _numbers(out)
    assert len(numbers) == len(set(numbers)) == 60
    _check_pairs(out / "pairs", 60)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_two_studios_sharing_an_outdir_never_refuse(warm, tmp_path):
    studios = [pw.Studio(photo(), outdir=tmp_path / "shared", mgr=warm) for _ in range(2)]
    records = tmp_path / "shared" / "studio-inputs"
    records.mkdir(parents=True)
    (records / "000000.input.png").write_bytes(b"half of an old record: its number is taken")
    request = InpaintRequest(image=photo(), mask=box_mask(), params=GenerationParams(**FAST))
    failures: list[BaseException] = []
    refs: list[tuple[str, str]] = []
    start = threading.Barrier(2)

    def record(studio: Any) -> None:
        try:
            start.wait()
            for _ in range(10):
                done = studio._record(request)
                refs.append((done.image_ref, done.mask_ref))
        except BaseException as err:  # noqa: BLE001 - reported below
            failures.append(err)

    threads = [threading.Thread(target=record, args=(s,)) for s in studios]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == [] and len(refs) == 20
    numbers = [int(Path(image).name[:6]) for image, _ in refs]
    assert len(set(numbers)) == 20 and 0 not in numbers
    assert all(Path(image).name[:6] == Path(mask).name[:6] for image, mask in refs)
    for studio in studios:  # and real runs from both at once
        studio.painter.set_mask(box_mask())
        studio.steps.value = 2
        assert studio.generate() is True
    assert all(studio.wait(timeout=120) is not None for studio in studios)
    assert (records / "000000.input.png").read_bytes().startswith(b"half")


# =========================================================================== late checks


@pytest.fixture(params=["bomb", "over the limit"])
def huge(request, tmp_path) -> Path:
    """A PNG whose header claims 20000x20000 (400 Mpx) or 9000x8000 (72 Mpx)."""
    path = tmp_path / "huge-upload.png"
    path.write_bytes(png_claiming_size(20_000, 20_000) if request.param == "bomb" else png_claiming_size(9_000, 8_000))
    return path


LIMIT = r"over the limit of 67,108,864 pixels \(8192x8192\); downscale it first"

HUGE_API = {
    "inpaint image": lambda p, mgr: pw.inpaint(str(p), box_mask(), "x", mgr=mgr, **FAST),
    "inpaint mask path": lambda p, mgr: pw.inpaint(photo(), str(p), "x", mgr=mgr, **FAST),
    "outcrop": lambda p, mgr: pw.outcrop(str(p), top=64, mgr=mgr, steps=2),
    "text_mask": lambda p, mgr: pw.text_mask(str(p), "red", manager=mgr),
    "save_mask_debug": lambda p, mgr: pw.save_mask_debug(str(p), "red", 0.5, p.parent / "out", manager=mgr),
    "upload bytes (load_image)": lambda p, mgr: pio.load_image(p.read_bytes(), what="uploaded mask"),
    "MaskPainter(path)": lambda p, mgr: pw.MaskPainter(str(p)),
    "Studio(path)": lambda p, mgr: pw.Studio(str(p), mgr=mgr),
    "header check": lambda p, mgr: pio.check_image_file(p, "image"),
}


@pytest.mark.parametrize("door", HUGE_API)
def test_huge_image_api(warm, huge, door):
    before = snapshot(warm)
    with pytest.raises(pw.ImageLoadError, match=LIMIT) as caught:
        HUGE_API[door](huge, warm)
    message = str(caught.value)
    assert "\n" not in message and ("huge-upload.png" in message or "uploaded mask" in message)
    assert snapshot(warm) == before


HUGE_COMMANDS = {
    "-I": '"x" -I {p} -M {m} -s 2',
    "-M": '"x" -I {i} -M {p} -s 2',
    "-I with -tm": '"x" -I {p} -tm red -s 2',
    "!fix": "!fix {p} -D top 64 -s 2",
    "!mask": "!mask {p} -tm red",
}


@pytest.mark.parametrize("door", HUGE_COMMANDS)
def test_huge_image_command(warm, tmp_path, huge, door):
    image, mask = inputs(tmp_path / "good")
    q = quiet_runner(tmp_path / "out", warm)
    message = refused(warm, q, HUGE_COMMANDS[door].format(p=huge, i=image, m=mask), LIMIT, snapshot(warm))
    assert str(huge) in message and files_under(tmp_path / "out") == set()


@pytest.mark.parametrize("given_as", ["path", "upload bytes"])
def test_huge_upload_in_the_painter_is_shown_in_place(huge, given_as):
    painter = pw.MaskPainter(photo())
    painter.set_mask(box_mask())
    painter.load_mask(str(huge) if given_as == "path" else huge.read_bytes())
    assert np.array_equal(painter.mask, box_mask())
    assert re.search(LIMIT, "".join(o.get("text", "") for o in painter.output.outputs))


# =========================================================================== the console script: results


def _outputs(text: str) -> list[tuple[str, str]]:
    return re.findall(r"^\[([0-9.]+)\] (\S+): ", text, flags=re.M)


def test_console_script_standard_input(scripts):
    root, runs = scripts
    status, out, err = runs["stdin"].wait()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert status == 1, err
    assert len(errors) == 1 and errors[0].startswith("error: line 2 of standard input is not valid UTF-8 text")
    assert "Traceback" not in err
    found = [root / path for _, path in _outputs(out)]
    assert [stored_prompt(p) for p in found] == ["first", "a\u2028b", "c" + "".join(SEPARATORS.values()) + "d"]
    assert len(list((root / "stdin-out").iterdir())) == 3  # "quit" stopped it: "never" did not run


def test_console_script_from_file_and_undecodable_argv(scripts):
    root, runs = scripts
    status, out, err = runs["file"].wait()
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert status == 1, err
    assert len(errors) == 2 and "Traceback" not in err
    assert errors[0].startswith("error: the command is not valid UTF-8 text")  # the COMMAND argument
    assert errors[1].startswith(f"error: line 2 of command file {root}/cmds.txt is not valid UTF-8 text")
    found = [Path(path) for _, path in _outputs(out)]
    assert all(p.parent == root / "file-out" for p in found)  # --outdir ~/file-out, expanded
    assert [stored_prompt(p) for p in found] == ["first", "a\u2028b", "c" + "".join(SEPARATORS.values()) + "d"]
    assert not (root / "~").exists()


def test_two_console_scripts_on_one_folder_never_share_a_number(scripts):
    root, runs = scripts
    printed: list[Path] = []
    for name in ("writer-a", "writer-b"):
        status, out, err = runs[name].wait()
        assert status == 0, err
        printed += [root / path for _, path in _outputs(out)]
    shared = root / "shared"
    names = sorted(p.name for p in shared.iterdir())
    assert sorted(p.name for p in printed) == names and len(names) == 2 * (6 + 3)
    by_number: dict[str, list[str]] = defaultdict(list)
    for name in names:
        by_number[name[:6]].append(name)
    assert len(by_number) == 2 * (6 + 1)  # six images and one !mask set from each
    sets = [v for v in by_number.values() if len(v) > 1]
    assert len(sets) == 2 and all(len(v) == 3 and all(".in.red." in n for n in v) for v in sets)
    assert not [p for p in shared.iterdir() if p.name.startswith(".")]
