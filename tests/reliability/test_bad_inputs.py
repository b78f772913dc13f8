"""The bad-input matrix: every hostile input, through every front door.

Each row is one input through one surface: the Python API (``pw.inpaint`` and
friends), the command language (a :class:`~paint_widgets.commands.Runner`, what
``%invoke`` and ``paint-widgets`` use) or a widget (``MaskPainter``, ``Studio``).
Each row asserts two things:

* the clear error: the right :class:`~paint_widgets.PaintError` subclass, a
  message naming the problem, one line from the command language, the message
  in place in a widget; or, for inputs that are fine ("accepted" rows: CMYK,
  16-bit, palette, LA, EXIF rotation, a full mask, a long prompt), the correct
  result;
* that nothing was lost: the manager still holds its model (no reload) and
  generates, the output folder holds no partial file, the runner goes on to the
  next command, a widget's mask and undo history are unchanged.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile
from reliability_helpers import (
    H,
    W,
    box_mask,
    deadline,
    files_under,
    mask_file,
    partial_files,
    photo,
    png_claiming_size,
    quiet_runner,
    read_only_folder,
)

import paint_widgets as pw
from paint_widgets.errors import PromptTruncatedWarning
from paint_widgets.io import load_image

FAST = {"steps": 2, "seed": 1}


# =========================================================================== checks


def snapshot(mgr: Any) -> tuple[int, int, set[str]]:
    return mgr.loads, mgr.generations, set(mgr.status()["resident"])


def assert_manager_intact(mgr: Any, before: tuple[int, int, set[str]], *, generate: bool = True) -> None:
    """Nothing lost: no reload, no half-finished generation, the model resident and working."""
    loads, generations, resident = before
    assert mgr.loads == loads, "a bad input made the manager reload"
    assert mgr.generations == generations, "a bad input got as far as a generation"
    assert set(mgr.status()["resident"]) == resident
    assert mgr.lock.acquire(blocking=False), "the generation lock was left held"
    mgr.lock.release()
    if generate:
        result = pw.inpaint(photo(), box_mask(), "x", mgr=mgr, **FAST)
        assert result.image.size == (W, H)
        assert mgr.loads == loads


def run_bad_command(mgr: Any, tmp_path: Path, line: str, match: str, *, may_generate: bool = False) -> None:
    """One error line naming the problem; no output; the next command still runs.

    ``may_generate``: the runner saves after generating, so a bad ``-o`` is found only then.
    """
    outdir = tmp_path / "out"
    q = quiet_runner(outdir, mgr)
    before = snapshot(mgr)
    assert q.runner.run(line) is None
    assert q.runner.failures == 1
    (message,) = q.error_lines  # exactly one line
    assert message.startswith("error: ") and message.endswith(f"in: {' '.join(line.split())}")
    assert_matches(message, match)
    assert "Traceback" not in q.err.getvalue()
    assert "Outputs:" not in q.out.getvalue()
    assert files_under(outdir) == set()
    if may_generate:
        before = (before[0], mgr.generations, before[2])
    assert_manager_intact(mgr, before, generate=False)
    good = tmp_path / "good.png"
    Image.fromarray(photo()).save(good)
    mask = mask_file(tmp_path / "good-mask.png", box_mask())
    result = q.runner.run(f'"x" -I {good} -M {mask} -s 2 -S 3')
    assert result is not None and q.runner.succeeded == 1 and q.runner.failures == 1
    assert [p.name for p in result.paths] == ["000000.3.png"]
    assert partial_files(outdir) == []


def assert_matches(text: str, pattern: str) -> None:
    import re

    assert re.search(pattern, text), f"{pattern!r} not in {text!r}"



def output_text(widget: Any) -> str:
    return "".join(o.get("text", "") for o in widget.output.outputs)


def centre_mask(h: int, w: int) -> np.ndarray:
    """A small square in the middle: paste-back leaves the corners bit-identical."""
    mask = np.zeros((h, w), bool)
    mask[h // 2 - 4 : h // 2 + 4, w // 2 - 4 : w // 2 + 4] = True
    return mask


def painted_painter() -> Any:
    painter = pw.MaskPainter(photo())
    painter.set_mask(box_mask())
    return painter


# =========================================================================== files


def _truncated(folder: Path) -> Path:
    data = (folder / "whole.png")
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (H, W, 3), np.uint8)).save(data)
    path = folder / "truncated.png"
    raw = data.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path


def _text(folder: Path) -> Path:
    path = folder / "notes.png"
    path.write_text("these are my notes, not a picture\n")
    return path


def _empty(folder: Path) -> Path:
    path = folder / "empty.png"
    path.write_bytes(b"")
    return path


def _one_pixel(folder: Path) -> Path:
    path = folder / "dot.png"
    Image.new("RGB", (1, 1), (255, 0, 0)).save(path)
    return path


def _bomb(folder: Path) -> Path:
    path = folder / "bomb.png"  # 400 Mpx: over twice Pillow's own limit
    path.write_bytes(png_claiming_size(20_000, 20_000))
    return path


def _over_limit(folder: Path) -> Path:
    path = folder / "big.png"  # 72 Mpx: under Pillow's warning limit, over ours
    path.write_bytes(png_claiming_size(9_000, 8_000))
    return path


def _missing(folder: Path) -> Path:
    return folder / "no-such-picture.png"


def _folder(folder: Path) -> Path:
    path = folder / "album.png"
    path.mkdir()
    return path


def _fifo(folder: Path) -> Path:
    path = folder / "pipe.png"  # reading it would block until a writer comes: never
    os.mkfifo(path)
    return path


def _socket(folder: Path) -> Path:
    path = folder / "sock.png"
    here = os.getcwd()
    os.chdir(folder)  # a relative name: socket paths are limited to 108 bytes
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(path.name)  # the socket file stays after the socket closes
    finally:
        os.chdir(here)
    return path


def _device(folder: Path) -> Path:
    path = folder / "zero.png"  # /dev/zero never ends: reading it would fill the memory
    path.symlink_to("/dev/zero")
    return path


def _symlink_loop(folder: Path) -> Path:
    path = folder / "loop.png"
    path.symlink_to(path.name)
    return path


def _through_a_file(folder: Path) -> Path:
    (folder / "notes.txt").write_text("a file, not a folder")
    return folder / "notes.txt" / "x.png"


def _too_long(folder: Path) -> Path:
    return folder / ("x" * 300 + ".png")


def _float_hdr(folder: Path) -> Path:
    path = folder / "hdr.tiff"  # linear light over 1000: no right way to show it
    Image.fromarray(GRAY8.astype(np.float32) * 4 + 0.5).save(path)
    return path


def _float_nan(folder: Path) -> Path:
    path = folder / "nan.tiff"
    values = GRAY8.astype(np.float32) / 255
    values[0, 0] = np.nan
    Image.fromarray(values).save(path)
    return path


def _int32_negative(folder: Path) -> Path:
    path = folder / "signed.tiff"
    Image.fromarray(GRAY8.astype(np.int32) - 100).save(path)
    assert Image.open(path).mode == "I"
    return path


#: name -> (writer, error class, message pattern)
BAD_FILES: dict[str, tuple[Callable[[Path], Path], type[Exception], str]] = {
    "truncated PNG": (_truncated, pw.ImageLoadError, r"damaged or truncated.*re-export"),
    "text file named .png": (_text, pw.ImageLoadError, r"not an image file"),
    "zero-byte file": (_empty, pw.ImageLoadError, r"empty file \(0 bytes\)"),
    "1x1 image": (_one_pixel, pw.ImageLoadError, r"1x1; each side must be at least 8"),
    "decompression bomb (400 Mpx header)": (_bomb, pw.ImageLoadError, r"over the limit .*downscale"),
    "over the 64 Mpx limit (header)": (_over_limit, pw.ImageLoadError, r"9000x8000 .*over the limit"),
    "missing file": (_missing, pw.ImageLoadError, r"not found"),
    "a folder named .png": (_folder, pw.ImageLoadError, r"is a folder"),
    "FIFO named .png": (_fifo, pw.ImageLoadError, r"named pipe \(FIFO\), not an image file; give a regular"),
    "socket named .png": (_socket, pw.ImageLoadError, r"is a socket, not an image file"),
    "/dev/zero named .png": (_device, pw.ImageLoadError, r"is a character device, not an image file"),
    "symlink loop named .png": (_symlink_loop, pw.ImageLoadError, r"cannot be read: Too many levels"),
    "path through a file": (_through_a_file, pw.ImageLoadError, r"not found"),
    "name too long": (_too_long, pw.ImageLoadError, r"cannot be read: File name too long"),
    "float TIFF over 0..255 (HDR)": (_float_hdr, pw.ImageLoadError,
                                     r"floating-point image with values from 0\.5 to 1020\.5; only 0\.\.1 or "
                                     r"0\.\.255 .*export it"),
    "float TIFF with NaN": (_float_nan, pw.ImageLoadError, r"floating-point image with NaN"),
    "32-bit TIFF with negative values": (_int32_negative, pw.ImageLoadError,
                                         r"32-bit integer image with values from -100 to 155"),
}


@pytest.fixture
def no_decoding(monkeypatch):
    """Records every pixel decode (``ImageFile.load``) so a row can assert there was none."""
    calls: list[str] = []
    real = ImageFile.ImageFile.load

    def load(self):
        fp = getattr(self, "fp", None)  # files are decoded from a handle opened after os.stat
        calls.append(getattr(self, "filename", "") or str(getattr(fp, "name", "") or ""))
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return calls


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_file_api(warm, tmp_path, name, no_decoding):
    writer, error, match = BAD_FILES[name]
    path = writer(tmp_path)
    before = snapshot(warm)
    with deadline(), pytest.raises(error, match=match) as caught:
        pw.inpaint(str(path), box_mask(), "x", mgr=warm, **FAST)
    assert path.name in str(caught.value)  # names the file
    assert "\n" not in str(caught.value)
    if "Mpx" in name or "bomb" in name:
        assert not [f for f in no_decoding if f.endswith(path.name)], "pixels were decoded"
    assert_manager_intact(warm, before)


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_file_command(warm, tmp_path, name):
    writer, _error, match = BAD_FILES[name]
    path = writer(tmp_path)
    mask = mask_file(tmp_path / "m.png", box_mask())
    with deadline():
        run_bad_command(warm, tmp_path, f'"a red barn" -I {path} -M {mask} -s 2', match)


#: the other commands that take an image: each checks it the same way, before any work
BANG_COMMANDS = {"!fix": "!fix {path} -D top 64 -s 2", "!mask": "!mask {path} -tm red"}


@pytest.mark.parametrize("command", BANG_COMMANDS)
@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_file_bang_command(warm, tmp_path, name, command):
    writer, _error, match = BAD_FILES[name]
    path = writer(tmp_path)
    with deadline():
        run_bad_command(warm, tmp_path, BANG_COMMANDS[command].format(path=path), match)


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_file_as_mask_command(warm, tmp_path, name):
    writer, _error, match = BAD_FILES[name]
    path = writer(tmp_path)
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    with deadline():
        run_bad_command(warm, tmp_path, f'"a red barn" -I {image} -M {path} -s 2', match)


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_file_widget(warm, tmp_path, name):
    writer, error, match = BAD_FILES[name]
    path = writer(tmp_path)
    with deadline(), pytest.raises(error, match=match):  # no widget to show it in: raised at construction
        pw.MaskPainter(str(path))
    painter = painted_painter()
    before, steps, version = painter.mask.copy(), painter.undo_steps, painter.mask_version
    with deadline():
        painter.load_mask(str(path))  # a handler: shown in place, never raised
    assert np.array_equal(painter.mask, before)
    assert painter.undo_steps == steps and painter.mask_version == version
    assert_matches(output_text(painter), match)


# =========================================================================== accepted files


def _cmyk(folder: Path) -> Path:
    path = folder / "print.jpg"
    Image.fromarray(photo()).convert("CMYK").save(path, quality=95)
    assert Image.open(path).mode == "CMYK"
    return path


def _check_cmyk(arr: np.ndarray) -> None:
    assert arr.shape == (H, W, 3)
    assert np.abs(arr.astype(int) - photo()).mean() < 8  # the colours, not inverted ink


GRAY8 = (np.arange(H * W).reshape(H, W) % 256).astype(np.uint8)


def _gray16(folder: Path) -> Path:
    path = folder / "scan16.png"
    Image.fromarray(GRAY8.astype(np.uint16) * 257).save(path)  # 8-bit values, scaled to 16
    assert Image.open(path).mode.startswith("I;16")
    return path


def _check_gray16(arr: np.ndarray) -> None:
    assert arr.shape == (H, W, 3)
    assert np.array_equal(arr[..., 0], GRAY8) and np.array_equal(arr[..., 2], GRAY8)


def _dark16(folder: Path) -> Path:
    path = folder / "night16.png"
    Image.fromarray(GRAY8.astype(np.uint16)).save(path)  # 0..255 out of 65535: nearly black
    assert Image.open(path).mode.startswith("I;16")
    return path


def _check_dark16(arr: np.ndarray) -> None:
    assert arr.shape == (H, W, 3)
    assert arr.max() <= 1  # stays dark, not stretched 257 times brighter


def _rgb16(folder: Path) -> Path:
    import cv2

    path = folder / "render16.png"
    cv2.imwrite(str(path), np.ascontiguousarray(photo()[..., ::-1]).astype(np.uint16) * 257)
    return path


def _check_rgb16(arr: np.ndarray) -> None:
    assert arr.shape == (H, W, 3)
    assert np.array_equal(arr, photo())


def _palette(folder: Path) -> Path:
    path = folder / "sticker.png"
    index = np.zeros((H, W), np.uint8)
    index[:, W // 2 :] = 1
    index[: H // 2, : W // 4] = 2
    im = Image.fromarray(index, "P")
    im.putpalette([0, 0, 0, 250, 10, 10, 10, 250, 10] + [0] * (256 * 3 - 9))
    im.save(path, transparency=0)
    return path


def _check_palette(arr: np.ndarray) -> None:
    assert arr.shape == (H, W, 4)
    transparent = np.ones((H, W), bool)
    transparent[:, W // 2 :] = False
    transparent[: H // 2, : W // 4] = False
    assert np.array_equal(arr[..., 3] == 0, transparent)
    assert (arr[~transparent, 3] == 255).all()
    assert tuple(arr[0, -1, :3]) == (250, 10, 10)


def _la(folder: Path) -> Path:
    path = folder / "gray-alpha.png"
    alpha = np.full((H, W), 255, np.uint8)
    alpha[10:20, 10:30] = 0
    Image.fromarray(np.dstack([GRAY8, alpha]), "LA").save(path)
    return path


def _check_la(arr: np.ndarray) -> None:
    assert arr.shape == (H, W, 4)
    assert np.array_equal(arr[..., 0], GRAY8) and np.array_equal(arr[..., 1], GRAY8)
    assert (arr[10:20, 10:30, 3] == 0).all() and arr[..., 3].sum() == 255 * (H * W - 200)


def _exif_rotated(folder: Path) -> Path:
    path = folder / "phone.jpg"
    im = Image.fromarray(photo())
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    im.save(path, exif=exif, quality=95)
    return path


def _check_exif(arr: np.ndarray) -> None:
    assert arr.shape == (W, H, 3)  # honoured: displayed upright, 48 wide and 64 high
    upright = np.rot90(photo(), k=-1)
    assert np.abs(arr.astype(int) - upright).mean() < 8


def _float01(folder: Path) -> Path:
    path = folder / "linear01.tiff"  # mode F, values in [0, 1]
    Image.fromarray(GRAY8.astype(np.float32) / 255).save(path)
    assert Image.open(path).mode == "F"
    return path


def _float255(folder: Path) -> Path:
    path = folder / "linear255.tiff"  # mode F, values in [0, 255]: once loaded as all white
    Image.fromarray(GRAY8.astype(np.float32)).save(path)
    assert Image.open(path).mode == "F"
    return path


def _int32_8bit(folder: Path) -> Path:
    path = folder / "int32-8bit.tiff"
    Image.fromarray(GRAY8.astype(np.int32)).save(path)
    assert Image.open(path).mode == "I"
    return path


def _int32_16bit(folder: Path) -> Path:
    path = folder / "int32-16bit.tiff"
    Image.fromarray(GRAY8.astype(np.int32) * 257).save(path)
    assert Image.open(path).mode == "I"
    return path


def _check_gray(arr: np.ndarray) -> None:
    assert arr.shape == (H, W, 3)
    assert np.array_equal(arr[..., 0], GRAY8) and np.array_equal(arr[..., 2], GRAY8)


BILEVEL = (np.indices((H, W)).sum(axis=0) // 4) % 2 == 0


def _bilevel(folder: Path) -> Path:
    path = folder / "fax.png"
    Image.fromarray(BILEVEL).save(path)
    assert Image.open(path).mode == "1"
    return path


def _check_bilevel(arr: np.ndarray) -> None:
    assert arr.shape == (H, W, 3)
    assert np.array_equal(arr[..., 1], np.where(BILEVEL, 255, 0))


def _palette_partial(folder: Path) -> Path:
    path = folder / "glass.png"  # tRNS with a partial alpha: index 1 is half transparent
    index = np.zeros((H, W), np.uint8)
    index[:, W // 2 :] = 1
    im = Image.fromarray(index, "P")
    im.putpalette([10, 200, 10, 200, 10, 10] + [0] * (256 * 3 - 6))
    im.save(path, transparency=bytes([255, 128]))
    return path


def _check_palette_partial(arr: np.ndarray) -> None:
    assert arr.shape == (H, W, 4)
    assert (arr[:, : W // 2, 3] == 255).all() and (arr[:, W // 2 :, 3] == 128).all()
    assert tuple(arr[0, -1, :3]) == (200, 10, 10)


def _cmyk_tiff(folder: Path) -> Path:
    path = folder / "print.tiff"  # lossless CMYK: the conversion back is exact enough to compare
    Image.fromarray(photo()).convert("CMYK").save(path)
    assert Image.open(path).mode == "CMYK"
    return path


def _lab_tiff(folder: Path) -> Path:
    from PIL import ImageCms

    path = folder / "lab.tiff"
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB")
    ImageCms.applyTransform(Image.fromarray(photo()), to_lab).save(path)
    assert Image.open(path).mode == "LAB"
    return path


#: name -> (writer, checker of the loaded array)
ACCEPTED_FILES: dict[str, tuple[Callable[[Path], Path], Callable[[np.ndarray], None]]] = {
    "CMYK JPEG": (_cmyk, _check_cmyk),
    "16-bit grayscale PNG": (_gray16, _check_gray16),
    "16-bit grayscale PNG, very dark": (_dark16, _check_dark16),
    "16-bit RGB PNG": (_rgb16, _check_rgb16),
    "palette PNG with transparency": (_palette, _check_palette),
    "LA (gray + alpha) PNG": (_la, _check_la),
    "EXIF-rotated JPEG": (_exif_rotated, _check_exif),
    "float TIFF in 0..1 (F)": (_float01, _check_gray),
    "float TIFF in 0..255 (F)": (_float255, _check_gray),
    "32-bit TIFF in 0..255 (I)": (_int32_8bit, _check_gray),
    "32-bit TIFF in 0..65535 (I)": (_int32_16bit, _check_gray),
    "bilevel PNG (1)": (_bilevel, _check_bilevel),
    "palette PNG with partial transparency": (_palette_partial, _check_palette_partial),
    "CMYK TIFF": (_cmyk_tiff, _check_cmyk),
    "LAB TIFF": (_lab_tiff, _check_cmyk),
}


@pytest.mark.parametrize("name", ACCEPTED_FILES)
def test_accepted_file_api(warm, tmp_path, name):
    writer, check = ACCEPTED_FILES[name]
    path = writer(tmp_path)
    loaded = load_image(str(path))
    assert loaded.mode in ("RGB", "RGBA")
    check(np.asarray(loaded))
    h, w = loaded.height, loaded.width
    result = pw.inpaint(str(path), centre_mask(h, w), "x", mgr=warm, **FAST)
    assert result.image.size == (w, h)
    out, rgb = np.asarray(result.image), np.asarray(loaded)[..., :3]
    assert np.array_equal(out[:3, :3], rgb[:3, :3])  # far from the mask: the input's own pixels


@pytest.mark.parametrize("name", ACCEPTED_FILES)
def test_accepted_file_command(warm, tmp_path, name):
    writer, _check = ACCEPTED_FILES[name]
    path = writer(tmp_path)
    loaded = load_image(str(path))
    mask = mask_file(tmp_path / "m.png", box_mask(loaded.height, loaded.width))
    q = quiet_runner(tmp_path / "out", warm)
    result = q.runner.run(f'"x" -I {path} -M {mask} -s 2 -S 5')
    assert q.error_lines == [] and result is not None
    (saved,) = result.paths
    assert Image.open(saved).size == loaded.size


@pytest.mark.parametrize("name", ACCEPTED_FILES)
def test_accepted_file_widget(tmp_path, name):
    writer, check = ACCEPTED_FILES[name]
    painter = pw.MaskPainter(str(writer(tmp_path)))
    check(painter.image)
    assert painter.mask.shape == painter.image.shape[:2] and painter.mask.dtype == bool
    if painter.image.shape[2] == 4:
        painter.fill_from_alpha()
        assert np.array_equal(painter.mask, painter.image[..., 3] < 255)
        assert np.array_equal(painter.rgba()[..., 3] == 0, painter.mask)


# =========================================================================== masks


def _bad_masks() -> dict[str, tuple[Any, type[Exception], str]]:
    return {
        "mask of a different size": (np.ones((10, 12), bool), pw.MaskError, r"12x10 but the image is 64x48"),
        "empty mask": (np.zeros((H, W), bool), pw.MaskError, r"mask is empty: nothing to paint"),
        "mask with NaN": (np.full((H, W), np.nan, np.float32), pw.MaskError, r"NaN"),
        "mask of strings": (np.full((H, W), "yes"), pw.MaskError, r"bool, integer or float array"),
        "3-D mask of 2 channels": (np.ones((H, W, 2), bool), pw.MaskError, r"2-D array"),
    }


@pytest.mark.parametrize("name", list(_bad_masks()))
def test_bad_mask_api(warm, name):
    mask, error, match = _bad_masks()[name]
    before = snapshot(warm)
    with pytest.raises(error, match=match):
        pw.inpaint(photo(), mask, "x", mgr=warm, **FAST)
    assert_manager_intact(warm, before)


def test_full_mask_is_allowed_and_repaints_everything_api(warm):
    """Accepted: a mask of all paint is img2img through the inpainting model."""
    result = pw.inpaint(photo(), np.ones((H, W), bool), "x", mgr=warm, steps=2, seed=1, strength=1.0)
    out = np.asarray(result.image)
    assert out.shape == (H, W, 3)
    assert (out != photo()).any(axis=2).mean() > 0.5


def _mask_files(folder: Path) -> dict[str, tuple[Path, str]]:
    wrong = mask_file(folder / "small-mask.png", np.ones((10, 12), bool))
    white = mask_file(folder / "white-mask.png", np.zeros((H, W), bool))
    return {
        "-M of a different size": (wrong, r"12x10 but the image is 64x48"),
        "-M all white (empty)": (white, r"mask is empty"),
        "-M text file": (_text(folder), r"not an image file"),
    }


@pytest.mark.parametrize("name", ["-M of a different size", "-M all white (empty)", "-M text file"])
def test_bad_mask_command(warm, tmp_path, name):
    path, match = _mask_files(tmp_path)[name]
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    run_bad_command(warm, tmp_path, f'"x" -I {image} -M {path} -s 2', match)


def test_full_mask_is_allowed_command(warm, tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    black = mask_file(tmp_path / "black.png", np.ones((H, W), bool))
    q = quiet_runner(tmp_path / "out", warm)
    result = q.runner.run(f'"x" -I {image} -M {black} -s 2 -f 1.0 -S 2')
    assert q.error_lines == [] and result is not None and len(result.paths) == 1


@pytest.mark.parametrize("name", list(_bad_masks()))
def test_bad_mask_widget_set_mask(name):
    mask, _error, match = _bad_masks()[name]
    painter = painted_painter()
    before, steps = painter.mask.copy(), painter.undo_steps
    painter.set_mask(mask)
    if name == "empty mask":  # accepted by the painter: it is the user clearing the mask
        assert not painter.mask.any() and painter.undo_steps == steps + 1
        painter.undo()
        assert np.array_equal(painter.mask, before)
        return
    assert np.array_equal(painter.mask, before) and painter.undo_steps == steps
    assert_matches(output_text(painter), match)


def test_wrong_size_mask_file_widget(tmp_path):
    path = mask_file(tmp_path / "small.png", np.ones((10, 12), bool))
    painter = painted_painter()
    before = painter.mask.copy()
    painter.load_mask(str(path))
    painter.load_mask(path.read_bytes())  # the upload button's path
    assert np.array_equal(painter.mask, before) and painter.undo_steps == 1
    assert output_text(painter).count("12x10 but the image is 64x48") == 2


def test_empty_mask_is_refused_by_the_studio_before_starting(warm, tmp_path):
    studio = pw.Studio(photo(), outdir=tmp_path / "out", mgr=warm)
    assert studio.generate() is False
    assert "nothing to repaint" in studio.status.value
    assert not studio.running and files_under(tmp_path / "out") == set()


def test_full_mask_is_allowed_widget(warm, tmp_path):
    studio = pw.Studio(photo(), outdir=tmp_path / "out", mgr=warm)
    studio.painter.set_mask(np.ones((H, W), bool))
    studio.steps.value, studio.strength.value = 2, 1.0
    assert studio.generate() is True
    result = studio.wait(timeout=120)
    assert result is not None and result.image.size == (W, H)


# =========================================================================== numbers

NAN, INF = float("nan"), float("inf")
#: the three hostile values every numeric parameter gets
VALUES = {"NaN": NAN, "negative": -1, "huge": 10**12}


def _api(name: str) -> Callable[[Any, Any], Any]:
    return lambda mgr, v: pw.inpaint(photo(), box_mask(), "x", mgr=mgr, **{**FAST, name: v})


#: parameter -> (call with a value, pattern the message must contain)
API_NUMBERS: dict[str, tuple[Callable[[Any, Any], Any], str]] = {
    **{name: (_api(name), pattern) for name, pattern in [
        ("steps", r"steps \(-s\)"), ("cfg", r"cfg_scale \(-C\)"), ("strength", r"strength \(-f\)"),
        ("seed", r"seed \(-S\)"), ("iterations", r"iterations \(-n\)"), ("width", r"width \(-W\)"),
        ("height", r"height \(-H\)"), ("inpaint_replace", r"inpaint_replace \(-r\)"),
        ("seam_size", r"seam_size"), ("seam_blur", r"seam_blur"), ("seam_strength", r"seam_strength"),
        ("seam_steps", r"seam_steps"), ("tile_size", r"tile_size"), ("crop_padding", r"crop_padding"),
    ]},
    "text mask threshold": (lambda mgr, v: pw.inpaint(photo(), None, "x", mgr=mgr, text_mask=("red", v), **FAST),
                            r"text mask threshold"),
    **{f"outcrop {side}": ((lambda s: lambda mgr, v: pw.outcrop(photo(), mgr=mgr, **{s: v}))(side), f"outcrop {side}")
       for side in ("top", "right", "bottom", "left")},
    "outpaint pixels": (lambda mgr, v: pw.outpaint(photo(), "top", v, mgr=mgr), r"outpaint pixels"),
    "budget_bytes": (lambda mgr, v: mgr.configure(budget_bytes=v), r"budget_bytes"),
}


@pytest.mark.parametrize("kind", VALUES)
@pytest.mark.parametrize("name", API_NUMBERS)
def test_bad_number_api(warm, name, kind):
    call, pattern = API_NUMBERS[name]
    value = VALUES[kind]
    if name == "budget_bytes" and kind == "huge":
        value = "lots"  # a huge budget is a fine budget; a word is not
    before = snapshot(warm)
    budget = warm.budget_bytes
    with pytest.raises(pw.InvalidInputError, match=pattern) as caught:
        call(warm, value)
    assert "\n" not in str(caught.value)
    assert warm.budget_bytes == budget
    assert_manager_intact(warm, before, generate=False)


def test_wrong_types_are_clear_errors_api(warm):
    before = snapshot(warm)
    with pytest.raises(pw.InvalidInputError, match=r"steps \(-s\) must be a number, not '50'"):
        pw.inpaint(photo(), box_mask(), "x", steps="50", mgr=warm)
    with pytest.raises(pw.InvalidInputError, match=r"must be a number, not True"):
        pw.inpaint(photo(), box_mask(), "x", cfg=True, mgr=warm)
    with pytest.raises(pw.InvalidInputError, match=r"must be strings"):
        pw.inpaint(photo(), box_mask(), 42, mgr=warm)  # type: ignore[arg-type]
    with pytest.raises(pw.InvalidInputError, match=r"0 denoising steps; use steps \(-s\) = 2"):
        pw.inpaint(photo(), box_mask(), "x", steps=1, mgr=warm)  # int(1 x 0.75) = 0 steps
    assert_manager_intact(warm, before)


#: switch -> (how it is written after the image, pattern); ``{}`` takes the value
COMMAND_NUMBERS: dict[str, tuple[str, str]] = {
    "-s": ("-s {}", r"steps"), "-S": ("-S {}", r"seed"), "-C": ("-C {}", r"cfg_scale"),
    "-f": ("-f {}", r"strength"), "-n": ("-n {}", r"iterations"), "-W": ("-W {}", r"width"),
    "-H": ("-H {}", r"height"), "-r": ("-r {}", r"inpaint_replace"),
    "--seam_size": ("--seam_size {}", r"seam_size"), "--seam_blur": ("--seam_blur {}", r"seam_blur"),
    "--seam_strength": ("--seam_strength {}", r"seam_strength"),
    "--seam_steps": ("--seam_steps {}", r"seam_steps"), "--tile_size": ("--tile_size {}", r"tile_size"),
    "-tm threshold": ("-tm red {}", r"text mask threshold"),
    "--outcrop amount": ("-c top {}", r"outcrop"), "-D pixels": ("-D top {}", r"out_direction|outpaint pixels"),
}
COMMAND_VALUES = {"NaN": "nan", "negative": "-1", "huge": "1000000000000"}


@pytest.mark.parametrize("kind", COMMAND_VALUES)
@pytest.mark.parametrize("switch", COMMAND_NUMBERS)
def test_bad_number_command(warm, tmp_path, switch, kind):
    template, pattern = COMMAND_NUMBERS[switch]
    value = COMMAND_VALUES[kind]
    if kind == "huge" and switch in ("-C", "-f", "-r", "--seam_strength", "-tm threshold"):
        value = "1e12"
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    run_bad_command(warm, tmp_path, f'"x" -I {image} -s 2 ' + template.format(value), pattern)


#: Studio control -> (bad value, pattern shown in the status line)
#: (the sliders refuse a bad value when it is set: see test_studio_sliders_refuse_bad_values_when_set_widget)
STUDIO_NUMBERS = {
    "seam_strength NaN": ("seam_strength", NAN, r"seam_strength must be a finite number"),
    "seam_size negative": ("seam_size", -1, r"seam_size must be &gt;= 0"),
    "seam_blur negative": ("seam_blur", -3, r"seam_blur must be &gt;= 0"),
    "seam_steps huge": ("seam_steps", 10**9, r"seam_steps must be &lt;= 1000"),
    "steps too few for the strength": ("steps", 1, r"0 denoising steps"),
}


@pytest.fixture
def studio(warm, tmp_path):
    s = pw.Studio(photo(), outdir=tmp_path / "out", mgr=warm)
    s.painter.set_mask(box_mask())
    s.steps.value = 2
    return s


@pytest.mark.parametrize("row", STUDIO_NUMBERS)
def test_bad_number_widget(warm, studio, tmp_path, row):
    control, value, pattern = STUDIO_NUMBERS[row]
    before = snapshot(warm)
    mask = studio.painter.mask.copy()
    old = getattr(studio, control).value
    getattr(studio, control).value = value
    assert studio.generate() is False  # refused in place, before any thread starts
    assert not studio.running
    assert_matches(studio.status.value, pattern)
    assert np.array_equal(studio.painter.mask, mask) and studio.results == []
    assert files_under(tmp_path / "out") == set()
    assert_manager_intact(warm, before, generate=False)
    getattr(studio, control).value = old if control != "steps" else 2
    assert studio.generate() is True and studio.wait(timeout=120) is not None  # and it still works


def test_brush_values_are_clamped_or_refused_widget():
    painter = painted_painter()
    mask = painter.mask.copy()
    painter.brush = -5
    assert painter.brush == 1  # clamped to the smallest brush
    painter.brush = 10**12
    assert painter.brush == 10**12  # a huge brush paints the whole image, no more
    from traitlets import TraitError

    with pytest.raises(TraitError, match="expected an int, not the float nan"):
        painter.brush = NAN  # type: ignore[assignment]
    assert painter.brush == 10**12 and np.array_equal(painter.mask, mask)
    painter._on_mouse_down(-500.0, -500.0)
    painter._on_mouse_up(-500.0, -500.0)
    assert painter.mask.all() and painter.undo_steps == 2


def test_opacity_nan_is_refused_widget():
    painter = painted_painter()
    with pytest.raises(Exception, match="opacity"):
        painter.opacity = NAN
    assert painter.opacity == 0.5


# =========================================================================== names


API_NAMES = {
    "unknown sampler": (lambda mgr: pw.inpaint(photo(), box_mask(), "x", sampler="k_euler_b", mgr=mgr),
                        r"unknown sampler 'k_euler_b' \(-A\); choose one of: ddim"),
    "unknown direction": (lambda mgr: pw.outpaint(photo(), "sideways", mgr=mgr),
                          r"unknown direction 'sideways' \(-D\); choose one of: top"),
    "unknown infill method": (lambda mgr: pw.inpaint(photo(), box_mask(), "x", infill_method="magic", mgr=mgr),
                              r"unknown infill method 'magic'"),
    "unknown region": (lambda mgr: pw.inpaint(photo(), box_mask(), "x", region="middle", mgr=mgr),
                       r"region must be one of"),
    "outcrop with no side": (lambda mgr: pw.outcrop(photo(), mgr=mgr), r"at least one side"),
}


@pytest.mark.parametrize("name", API_NAMES)
def test_bad_name_api(warm, name):
    call, pattern = API_NAMES[name]
    before = snapshot(warm)
    with pytest.raises(pw.InvalidInputError, match=pattern):
        call(warm)
    assert_manager_intact(warm, before, generate=False)


COMMAND_NAMES = {
    "unknown sampler (-A)": ('"x" -I {img} -A k_euler_b', r"unknown sampler 'k_euler_b'"),
    "unknown direction (-D)": ("!fix {img} -D sideways", r"unknown direction 'sideways'"),
    "unknown direction (--outcrop)": ("!fix {img} --outcrop sideways 64", r"unknown direction 'sideways'"),
    "unknown infill method": ('"x" -I {img} --infill_method magic', r"unknown infill method 'magic'"),
    "unknown switch": ('"x" -I {img} --stepz 5', r"unknown switch --stepz"),
    "unknown command": ("!upscale {img}", r"unknown command !upscale"),
}


@pytest.mark.parametrize("name", COMMAND_NAMES)
def test_bad_name_command(warm, tmp_path, name):
    template, pattern = COMMAND_NAMES[name]
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    run_bad_command(warm, tmp_path, template.format(img=image), pattern)


@pytest.mark.parametrize(("control", "value"), [("sampler", "k_euler_b"), ("infill_method", "magic")])
def test_bad_name_widget(studio, control, value):
    from traitlets import TraitError

    old = getattr(studio, control).value
    with pytest.raises(TraitError, match="Invalid selection"):
        getattr(studio, control).value = value  # the dropdown only offers valid names
    assert getattr(studio, control).value == old


# =========================================================================== prompts

LONG_PROMPT = ", ".join(["a very detailed oil painting of a red barn"] * 6)  # ~270 tokens


def test_long_prompt_is_warned_and_truncated_api(warm):
    before = snapshot(warm)
    with pytest.warns(PromptTruncatedWarning, match=r"text encoder reads 77: everything after token 75"):
        result = pw.inpaint(photo(), box_mask(), LONG_PROMPT, mgr=warm, **FAST)
    assert result.image.size == (W, H) and warm.generations == before[1] + 1
    # the same 75 tokens make the same picture: the rest really was dropped
    tokenizer = warm.pipeline().tokenizer
    kept = tokenizer.decode(tokenizer(LONG_PROMPT).input_ids[1:76])
    same = pw.inpaint(photo(), box_mask(), kept, mgr=warm, **FAST)
    assert np.array_equal(np.asarray(same.image), np.asarray(result.image))
    with pytest.warns(PromptTruncatedWarning, match="negative prompt"):
        pw.inpaint(photo(), box_mask(), "x", negative_prompt=LONG_PROMPT, mgr=warm, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PromptTruncatedWarning)
        pw.inpaint(photo(), box_mask(), "a red barn", mgr=warm, **FAST)  # short: no warning


def test_long_prompt_is_warned_and_truncated_command(warm, tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    mask = mask_file(tmp_path / "m.png", box_mask())
    q = quiet_runner(tmp_path / "out", warm)
    with pytest.warns(PromptTruncatedWarning):
        result = q.runner.run(f'"{LONG_PROMPT}" -I {image} -M {mask} -s 2 -S 4')
    assert q.error_lines == [] and result is not None and len(result.paths) == 1
    assert LONG_PROMPT in result.commands[0]  # the command reproduces what was asked


# =========================================================================== models


def _corrupt(folder: Path) -> Path:
    path = folder / "corrupt-model"
    path.mkdir()
    (path / "model_index.json").write_text("{ not json")
    return path


def _empty_index(folder: Path) -> Path:
    path = folder / "hollow-model"
    path.mkdir()
    (path / "model_index.json").write_text("{}")
    return path


def _ckpt(folder: Path) -> Path:
    import torch

    path = folder / "sd-v1-5-inpainting.ckpt"
    torch.save({"state_dict": {}}, path)
    return path


def _bin_only(folder: Path) -> Path:
    from paint_widgets.testing import build_tiny_sd

    path = folder / "bin-only"
    build_tiny_sd(in_channels=9, workdir=folder / "tok").save_pretrained(path, safe_serialization=False)
    return path


MODELS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "missing model folder": (lambda folder: folder / "no-such-model", r"model not found"),
    "corrupt model folder": (_corrupt, r"cannot load model .*corrupt-model"),
    "model folder with an empty index": (_empty_index, r"cannot load model"),
    "pickle checkpoint (.ckpt)": (_ckpt, r"pickle checkpoint.*allow_pickle=True"),
    "pickle-only folder (.bin)": (_bin_only, r"no safetensors weights.*allow_pickle=True"),
}


@pytest.mark.parametrize("name", MODELS)
def test_bad_model_api(warm, tmp_path, name):
    writer, pattern = MODELS[name]
    path = writer(tmp_path)
    before = snapshot(warm)
    with pytest.raises(pw.ModelLoadError, match=pattern):
        pw.inpaint(photo(), box_mask(), "x", model=str(path), mgr=warm, **FAST)
    assert_manager_intact(warm, before)


def test_configure_with_a_missing_model_keeps_the_previous_default(warm, tmp_path):
    default = warm.default_model()
    before = snapshot(warm)
    with pytest.raises(pw.ModelLoadError, match="model not found"):
        warm.configure(model=str(tmp_path / "typo-model"))
    assert warm.default_model() == default
    assert_manager_intact(warm, before)


def test_bad_model_console_script(warm, tmp_path, capsys):
    from paint_widgets.commands import cli

    default = warm.default_model()
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    try:
        code = cli.main(["--model", str(tmp_path / "no-such-model"), "--outdir", str(tmp_path / "out"),
                         f'"x" -I {image} -s 2'])
    finally:
        warm.configure(model=default)
    captured = capsys.readouterr()
    assert code == 2
    (line,) = captured.err.splitlines()
    assert line.startswith("error: model not found:")
    assert files_under(tmp_path / "out") == set()


def test_corrupt_model_console_script_goes_on_to_the_next_command(warm, tmp_path, capsys):
    from paint_widgets.commands import cli

    default = warm.default_model()
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    mask = mask_file(tmp_path / "m.png", box_mask())
    command = f'"x" -I {image} -M {mask} -s 2'
    try:
        code = cli.main(["--model", str(_corrupt(tmp_path)), "--outdir", str(tmp_path / "out"),
                         command, command])
    finally:
        warm.configure(model=default)
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert len(err) == 2 and all(line.startswith("error: cannot load model") for line in err)
    assert files_under(tmp_path / "out") == set()


def test_corrupt_model_widget(warm, studio, tmp_path):
    before = snapshot(warm)
    studio.model = str(_corrupt(tmp_path))
    mask = studio.painter.mask.copy()
    assert studio.generate() is True
    assert studio.wait(timeout=60) is None
    assert studio.engine.value == "infill"  # offered the engine that needs no weights
    assert "could not be loaded" in studio.status.value and "corrupt-model" in studio.status.value
    assert np.array_equal(studio.painter.mask, mask)
    assert_manager_intact(warm, before)


# =========================================================================== output folder


def _blocked(folder: Path) -> Path:
    """An output folder that cannot exist: a file sits where its parent should be (works as root)."""
    (folder / "taken").write_text("a file, not a folder")
    return folder / "taken" / "outputs"


def test_unwritable_output_folder_api(warm, tmp_path):
    result = pw.inpaint(photo(), box_mask(), "x", mgr=warm, **FAST)
    with pytest.raises(pw.OutputError, match=r"cannot create output folder .*taken/outputs.*--outdir"):
        result.save(_blocked(tmp_path))
    assert result.paths == [] and (tmp_path / "taken").read_text() == "a file, not a folder"


def test_read_only_output_folder_api(warm, tmp_path):
    result = pw.inpaint(photo(), box_mask(), "x", mgr=warm, **FAST)
    folder = tmp_path / "locked"
    with read_only_folder(folder) as how:
        if not how:
            pytest.skip("cannot make a read-only folder here (root without chattr +i)")
        with pytest.raises(pw.OutputError, match=r"output folder .*locked is not writable"):
            result.save(folder)
        assert files_under(folder) == set()


def test_unwritable_output_folder_command(warm, tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    mask = mask_file(tmp_path / "m.png", box_mask())
    run_bad_command(warm, tmp_path, f'"x" -I {image} -M {mask} -s 2 -o {_blocked(tmp_path)}',
                    r"cannot create output folder", may_generate=True)


def test_read_only_output_folder_command(warm, tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    mask = mask_file(tmp_path / "m.png", box_mask())
    folder = tmp_path / "locked"
    with read_only_folder(folder) as how:
        if not how:
            pytest.skip("cannot make a read-only folder here (root without chattr +i)")
        run_bad_command(warm, tmp_path, f'"x" -I {image} -M {mask} -s 2 -o {folder}', r"is not writable",
                        may_generate=True)
        assert files_under(folder) == set()


#: output folder names that cannot be written into a command or printed: (name, pattern)
BAD_OUTDIR_NAMES = {
    "a newline": ("out\nput", r"contains the control character '\\n'"),
    "an escape character": ("out\x1b[31m", r"contains the control character '\\x1b'"),
    "a line separator (U+2028)": ("out\u2028put", r"contains the control character '\\u2028'"),
    "bytes that are not UTF-8": (os.fsdecode(b"sorti\xe9"), r"not valid UTF-8"),
}


@pytest.mark.parametrize("name", BAD_OUTDIR_NAMES)
def test_unusable_output_folder_name_api(warm, tmp_path, name):
    folder, pattern = BAD_OUTDIR_NAMES[name]
    result = pw.inpaint(photo(), box_mask(), "x", mgr=warm, **FAST)
    with pytest.raises(pw.OutputError, match=pattern) as caught:
        result.save(tmp_path / folder)
    assert "\n" not in str(caught.value) and str(caught.value).isprintable()
    assert result.paths == [] and files_under(tmp_path) == set()


@pytest.mark.parametrize("name", BAD_OUTDIR_NAMES)
def test_unusable_output_folder_name_command(warm, tmp_path, name):
    import shlex

    folder, pattern = BAD_OUTDIR_NAMES[name]
    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    mask = mask_file(tmp_path / "m.png", box_mask())
    if "UTF-8" in name:  # the whole line is refused: it cannot be printed or stored
        pattern = r"the command is not valid UTF-8 text"
    line = f'"x" -I {image} -M {mask} -s 2 -o {shlex.quote(str(tmp_path / folder))}'
    run_bad_command(warm, tmp_path, line, pattern)  # refused before generating
    assert not (tmp_path / folder).exists()


@pytest.mark.parametrize("name", BAD_OUTDIR_NAMES)
def test_unusable_output_folder_name_widget(warm, tmp_path, name):
    folder, pattern = BAD_OUTDIR_NAMES[name]
    studio = pw.Studio(photo(), outdir=tmp_path / folder, mgr=warm)
    studio.painter.set_mask(box_mask())
    studio.steps.value = 2
    before = snapshot(warm)
    assert studio.generate() is False  # said before starting: nothing generated to be lost
    assert "output folder" in studio.status.value
    assert files_under(tmp_path) == set()
    assert_manager_intact(warm, before, generate=False)


def test_unwritable_output_folder_widget(warm, tmp_path):
    studio = pw.Studio(photo(), outdir=_blocked(tmp_path), mgr=warm)
    studio.painter.set_mask(box_mask())
    studio.steps.value = 2
    assert studio.generate() is False  # its inputs cannot be written: said before starting
    assert "cannot create output folder" in studio.status.value


def test_read_only_output_folder_widget_save(warm, studio, tmp_path):
    studio.generate()
    result = studio.wait(timeout=120)
    folder = tmp_path / "locked"
    with read_only_folder(folder) as how:
        if not how:
            pytest.skip("cannot make a read-only folder here (root without chattr +i)")
        studio.outdir = folder
        card = studio.gallery.children[0]
        save_button = card.children[1].children[1].children[1]
        assert save_button.description == "Save"
        save_button.click()  # a button callback: shown in place, not raised
        assert "is not writable" in output_text(studio)
        assert files_under(folder) == set()
    assert result is not None and studio.results == [result]


# =========================================================================== the front doors print one line


def test_magic_prints_one_line_per_failed_command_and_runs_the_rest(warm, tmp_path):
    from paint_widgets.commands.magic import InvokeMagics

    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    mask = mask_file(tmp_path / "m.png", box_mask())
    q = quiet_runner(tmp_path / "out", warm)
    magic = InvokeMagics(None, runner=q.runner)
    cell = "\n".join([
        f'"x" -I {tmp_path / "missing.png"} -s 2',
        f'"x" -I {image} -s nan',
        f'"x" -I {image} -M {mask} -s 2 -S 9',
        f"!fix {image} -D sideways",
    ])
    results = magic.invoke("", cell)
    assert [r.seeds for r in results] == [[9]]
    lines = q.error_lines
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)
    assert "not found" in lines[0] and "'nan'" in lines[1] and "sideways" in lines[2]
    assert magic.invoke(f'"x" -I {image} -s 0') is None and len(q.error_lines) == 4


def test_console_script_prints_one_line_per_failed_command_and_runs_the_rest(warm, tmp_path, capsys):
    from paint_widgets.commands import cli

    image = tmp_path / "in.png"
    Image.fromarray(photo()).save(image)
    mask = mask_file(tmp_path / "m.png", box_mask())
    default = warm.default_model()
    try:
        code = cli.main(["--outdir", str(tmp_path / "out"),
                         f'"x" -I {_truncated(tmp_path)} -s 2',
                         f'"x" -I {image} -M {mask} -s 2 -S 8',
                         f'"x" -I {image} -C inf'])
    finally:
        warm.configure(model=default)
    captured = capsys.readouterr()
    assert code == 1
    err = captured.err.splitlines()
    assert len(err) == 2 and "damaged or truncated" in err[0] and "'inf'" in err[1]
    assert "Traceback" not in captured.err
    assert [p.name for p in sorted((tmp_path / "out").iterdir())] == ["000000.8.png"]


# =========================================================================== widget arguments and controls (#19)
# Every constructor argument of the four widgets is checked at the door: one line naming
# it and its range, before any widget is made (none is left in the ipywidgets registry).
# Each slider shows the value its widget uses: trait and slider ranges agree, or the
# slider stretches to show an allowed value; a bad value is refused when it is set.


def _painter(**kw: Any) -> Any:
    return pw.MaskPainter(photo(), **kw)


def _tuner(**kw: Any) -> Any:
    return pw.TextMaskTuner(photo(), **kw)


def _margins(**kw: Any) -> Any:
    return pw.OutpaintMargins(photo(), **kw)


#: row -> (make the widget with the bad argument, pattern of the one-line message)
WIDGET_ARGUMENTS: dict[str, tuple[Callable[[], Any], str]] = {
    "painter color out of range": (lambda: _painter(color=(300, 0, 80)), r"color must be three whole numbers .* 0 to 255"),
    "painter color of two parts": (lambda: _painter(color=(1, 2)), r"color must be three"),
    "painter color a word": (lambda: _painter(color="red"), r"color must be three"),
    "painter color fractional": (lambda: _painter(color=(0.5, 0, 0)), r"color must be three"),
    "painter brush 0": (lambda: _painter(brush=0), r"brush must be a whole number of at least 1, not 0"),
    "painter brush fractional": (lambda: _painter(brush=2.5), r"brush must be a whole number"),
    "painter opacity over 1": (lambda: _painter(opacity=1.5), r"opacity must be a number from 0 to 1, not 1.5"),
    "painter opacity NaN": (lambda: _painter(opacity=NAN), r"opacity must be a number from 0 to 1, not nan"),
    "painter max_view 0": (lambda: _painter(max_view=0), r"max_view must be a whole number from 8 to 8192"),
    "painter min_view over max_view": (lambda: _painter(max_view=256, min_view=512), r"min_view .* from 0 to 256"),
    "painter history 0": (lambda: _painter(history=0), r"history must be a whole number from 1 to 10000"),
    "painter mask of another size": (lambda: _painter(mask=np.ones((8, 8), bool)), r"mask"),
    "tuner grow past its slider": (lambda: _tuner(grow=300), r"grow must be a whole number from -256 to 256"),
    "tuner feather negative": (lambda: _tuner(feather=-1), r"feather must be a whole number from 0 to 256"),
    "tuner threshold over 1": (lambda: _tuner(threshold=1.5), r"text mask threshold must be <= 1.0"),
    "tuner opacity NaN": (lambda: _tuner(opacity=NAN), r"opacity must be a number from 0 to 1"),
    "tuner color negative": (lambda: _tuner(color=(0, 0, -1)), r"color must be three"),
    "tuner max_view huge": (lambda: _tuner(max_view=10**6), r"max_view must be a whole number from 8 to 8192"),
    "tuner prompt a number": (lambda: _tuner(prompt=42), r"prompt must be a string, not int 42"),
    "tuner model a number": (lambda: _tuner(model=42), r"model must be a CLIPSeg folder or Hub id"),
    "margins negative": (lambda: _margins(top=-64), r"top margin must be 0 or more pixels"),
    "margins past max_margin": (lambda: _margins(left=512, max_margin=256), r"left margin must be at most 256"),
    "margins max_margin huge": (lambda: _margins(max_margin=10**6), r"max_margin must be at most 4096"),
    "margins min_view negative": (lambda: _margins(min_view=-1), r"min_view must be a whole number from 0"),
    "margins prompt a list": (lambda: _margins(prompt=["a"]), r"prompt must be a string"),
    "margins show_run_controls a word": (lambda: _margins(show_run_controls="no"), r"show_run_controls must be True or False"),
    "studio engine unknown": (lambda: pw.Studio(photo(), engine="gpu"), r"engine must be one of 'diffusion', 'infill'"),
    "studio outdir a number": (lambda: pw.Studio(photo(), outdir=42), r"outdir must be a folder path"),  # type: ignore[arg-type]
    "studio model a number": (lambda: pw.Studio(photo(), model=42), r"model must be a hub id"),  # type: ignore[arg-type]
}


def _open_widgets() -> set[str]:
    from paint_widgets.widgets._lifetime import registry

    return set(registry())


@pytest.mark.parametrize("row", WIDGET_ARGUMENTS)
def test_bad_widget_argument_is_refused_at_the_door_widget(row):
    make, pattern = WIDGET_ARGUMENTS[row]
    before = _open_widgets()
    with pytest.raises(pw.InvalidInputError, match=pattern) as caught:
        make()
    assert "\n" not in str(caught.value)
    assert _open_widgets() - before == set(), "a refused constructor left widgets behind"


def test_painter_color_is_checked_when_set_and_strokes_still_paint_widget():
    painter = painted_painter()
    with pytest.raises(pw.InvalidInputError, match=r"color must be three whole numbers"):
        painter.color = (256, 0, 0)
    assert painter.color == (255, 0, 80)
    painter.color = (0, 128, 255)
    painter.clear()
    painter._on_mouse_down(10.0, 10.0)
    painter._on_mouse_up(30.0, 10.0)
    assert painter.mask.any() and output_text(painter) == ""  # no stroke failed


def test_painter_brush_slider_shows_the_brush_that_paints_widget():
    painter = painted_painter()
    size = painter._size_slider
    painter.brush = size.max + 100  # past the slider's range: the range stretches
    assert size.value == painter.brush == size.max
    painter.brush = 3
    assert size.value == 3
    size.value = 10  # and the slider sets the brush
    assert painter.brush == 10


def test_tuner_grow_and_feather_sliders_have_the_traits_ranges_widget():
    tuner = pw.TextMaskTuner(photo())
    grow, feather = tuner._grow_slider, tuner._feather_slider
    assert (grow.min, grow.max) == (-256, 256) and (feather.min, feather.max) == (0, 256)
    for value in (-256, -5, 100, 256):
        tuner.grow = value
        assert grow.value == tuner.grow == value  # what the slider shows is what is used
    tuner.feather = 200
    assert feather.value == tuner.feather == 200
    for name, bad in (("grow", 257), ("grow", -257), ("feather", 257), ("feather", -1)):
        with pytest.raises(pw.InvalidInputError, match=rf"{name} must be"):
            setattr(tuner, name, bad)
    assert (tuner.grow, grow.value, tuner.feather, feather.value) == (256, 256, 200, 200)
    tuner.close()


def test_studio_sliders_refuse_bad_values_when_set_widget(warm, studio, tmp_path):
    import re

    from paint_widgets.params import PARAM
    from paint_widgets.widgets._params import ParamFloatSlider, ParamIntSlider

    sliders = {n: c for n, c in studio.param_controls.items() if isinstance(c, (ParamIntSlider, ParamFloatSlider))}
    assert {"steps", "cfg", "strength", "inpaint_replace", "iterations"} <= set(sliders)
    for name, slider in sliders.items():
        p = PARAM[name]
        old = slider.value
        bads = [NAN, INF, p.high + 1, p.low - 1] + ([p.low] if p.low_open else [])
        for bad in bads if isinstance(slider, ParamFloatSlider) else [p.high + 1, p.low - 1]:
            with pytest.raises(pw.InvalidInputError, match=re.escape(p.label)) as caught:
                slider.value = bad
            assert "\n" not in str(caught.value)
            assert slider.value == old  # refused, not clamped to something else
        slider.value = p.high  # allowed past the slider's comfortable range: shown, not clamped
        assert slider.value == p.high and slider.max >= p.high
        slider.value = old
    assert studio.steps.value == 2
    assert studio.generate() is True and studio.wait(timeout=120) is not None  # and it still works
