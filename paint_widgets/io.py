"""Loading images safely, PNG metadata, numbered outputs and atomic saves.

This is the only module that turns files into pixels and pixels into files. It
never imports torch. Everything read from a file a user got from the internet is
treated as untrusted: image size is bounded, metadata is size-limited JSON that
is parsed, never evaluated.
"""

from __future__ import annotations

import contextlib
import io as _io
import json
import os
import re
import stat
import tempfile
import unicodedata
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from .errors import ImageLoadError, InvalidInputError, OutputError, OutputExistsError

ImageLike = str | os.PathLike | Image.Image | np.ndarray

#: Largest image we accept, in pixels (Pillow's own bomb limit is ~89 Mpx and only warns).
MAX_PIXELS = 64 * 1024 * 1024
#: Smallest side we accept: below this no model can do anything useful.
MIN_SIDE = 8
#: PNG text chunk holding our metadata (JSON).
METADATA_KEY = "paint_widgets"
#: Also written, for tools that read InvokeAI's key.
INVOKE_COMMAND_KEY = "Dream"
#: Metadata text longer than this is ignored when reading.
MAX_METADATA_CHARS = 64 * 1024


def user_path(path: str | os.PathLike, what: str, error: type[Exception] = InvalidInputError) -> Path:
    """``path`` with a leading ``~`` expanded, refused if it cannot be written into a command.

    Every path a user gives (``-I``, ``-M``, ``-o``, ``--from_file``, ``!fix``/``!mask``
    images, the API's image, mask and output paths) goes through here, so ``~`` means
    the same everywhere and nothing else is expanded (no ``$VARS``, no globbing). A
    name that is not valid UTF-8 (surrogate-escaped on Linux) or holds a control
    character or a line separator is refused with ``error``: the command stored in
    every output names its input, and such a name would make that command fail to
    save or fail to replay. Relative paths stay relative.
    """
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text:
        raise error(f"{what} path is empty; give a file or folder name")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise error(f"{what} name '{printable(text)}' is not valid UTF-8 text; rename it to a UTF-8 name "
                    "(e.g. convmv -f latin1 -t utf8)") from None
    bad = next((ch for ch in text if unicodedata.category(ch) in _CONTROL), None)
    if bad is not None:
        raise error(f"{what} name '{printable(text)}' contains the control character {bad!r} "
                    f"(U+{ord(bad):04X}); rename it without control characters or line breaks")
    return Path(os.path.expanduser(text))


#: Unicode categories refused in paths: control characters, line and paragraph separators.
_CONTROL = ("Cc", "Zl", "Zp")


def printable(text: str) -> str:
    """``text`` for a one-line message: bytes that were not UTF-8 as ``\\xNN``, control
    characters and line breaks escaped, everything else as it is."""
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that surrogateescape could not decode
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        elif unicodedata.category(ch) in _CONTROL:
            out.append(repr(ch)[1:-1])
        else:
            out.append(ch)
    return "".join(out)


_FILE_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _special_kind(mode: int) -> str:
    return next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")


def check_input_file(path: str | os.PathLike, what: str = "image") -> Path:
    """Check an input image file by ``os.stat`` alone (never opening it); return the expanded path.

    Refuses, with an :class:`ImageLoadError` naming ``what`` and the path: a missing
    file, a folder, anything that is not a regular file (a FIFO would block the
    first read forever, a device might never end), an empty file and a file that
    cannot be read. Called by the front doors before any work starts and again by
    the loader itself.
    """
    path = user_path(path, what, ImageLoadError)
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise ImageLoadError(f"{what} not found: {path}") from None
    except PermissionError:
        raise ImageLoadError(f"{what} {path} cannot be read (permission denied); check its permissions") from None
    except (OSError, ValueError) as err:
        raise ImageLoadError(f"{what} {path} cannot be read: {getattr(err, 'strerror', None) or err}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageLoadError(f"{what} path is a folder, not an image file: {path}")
    if not stat.S_ISREG(info.st_mode):
        raise ImageLoadError(f"{what} {path} is {_special_kind(info.st_mode)}, not an image file; "
                             "give a regular PNG or JPEG file")
    if info.st_size == 0:
        raise ImageLoadError(f"{what} is an empty file (0 bytes): {path}")
    return path


def _open_regular(path: Path, what: str) -> Any:
    """Open a file checked by :func:`check_input_file` without ever blocking, and check it again.

    ``O_NONBLOCK`` makes opening a FIFO that replaced the file since the check return
    at once; ``fstat`` of the open descriptor then refuses it (or anything else that
    is no longer a regular file).
    """
    def opener(name: str, flags: int) -> int:
        return os.open(name, flags | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))

    try:
        handle = open(path, "rb", opener=opener)  # noqa: SIM115 - closed by the caller
    except OSError as err:
        raise ImageLoadError(f"{what} {path} cannot be read: {err.strerror or err}") from None
    info = os.fstat(handle.fileno())
    if not stat.S_ISREG(info.st_mode):
        handle.close()
        raise ImageLoadError(f"{what} {path} is {_special_kind(info.st_mode)}, not an image file; "
                             "give a regular PNG or JPEG file")
    return handle


def load_image(image: ImageLike | bytes, *, what: str = "image") -> Image.Image:
    """Return ``image`` as a PIL image in ``RGB`` or ``RGBA`` mode.

    Accepts a path (``~`` expanded; checked by ``os.stat`` before it is opened), a
    PIL image, the bytes of an image file (an upload) or a ``uint8`` array
    (``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``; float arrays in [0, 1]). EXIF
    orientation is honoured; other modes are converted by their meaning (see
    :func:`_normalise_mode`) or refused. Raises :class:`ImageLoadError` naming the
    problem, the input and the fix for anything unusable, including a decompression
    bomb (refused from the header, no pixel decoded).
    """
    if isinstance(image, Image.Image):
        pil = image
        w, h = pil.size
        if w * h > MAX_PIXELS:
            raise ImageLoadError(_too_large(what, f"{w}x{h}", w * h))
        try:
            pil.load()  # a lazily opened file may still be truncated or damaged
        except Image.DecompressionBombError as err:
            raise ImageLoadError(_bomb(what, err)) from None
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise ImageLoadError(f"{what} is a damaged or truncated image ({err}); re-export it") from None
    elif isinstance(image, np.ndarray):
        pil = _from_array(image, what)
    elif isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
        if not data:
            raise ImageLoadError(f"{what} is an empty file (0 bytes)")
        pil = _decode(_io.BytesIO(data), what)
    elif isinstance(image, (str, os.PathLike)):
        path = check_input_file(image, what)
        what = f"{what} {path}"
        with _open_regular(path, what) as handle:
            pil = _decode(handle, what)
    else:
        raise ImageLoadError(
            f"{what} must be a file path, a PIL image or a numpy array, not {type(image).__name__}"
        )
    pil = _normalise_mode(pil, what)
    w, h = pil.size
    if w * h > MAX_PIXELS:
        raise ImageLoadError(_too_large(what, f"{w}x{h}", w * h))
    if min(w, h) < MIN_SIDE:
        raise ImageLoadError(f"{what} is {w}x{h}; each side must be at least {MIN_SIDE} pixels")
    return pil


def _too_large(what: str, size: str, pixels: int) -> str:
    return (f"{what} is {size} ({pixels / 1e6:.0f} megapixels), over the limit of {MAX_PIXELS:,} pixels "
            "(8192x8192); downscale it first")


_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")


def _bomb(what: str, err: Exception) -> str:
    found = _BOMB_PIXELS.search(str(err))
    pixels = int(found.group(1)) if found else MAX_PIXELS + 1
    return _too_large(what, "too large", pixels)


@contextlib.contextmanager
def _pillow_errors(what: str) -> Iterator[None]:
    """Turn what Pillow raises for a bad file into one :class:`ImageLoadError` naming ``what``."""
    try:
        with warnings.catch_warnings():
            # our own limit (MAX_PIXELS) is below Pillow's warning limit: it is checked from
            # the header, before any pixel is decoded
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"{what} is not an image file Pillow can read; save it as PNG or JPEG") from None
    except Image.DecompressionBombError as err:  # header claims more than 2x Pillow's limit
        raise ImageLoadError(_bomb(what, err)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageLoadError(f"{what} is damaged or truncated ({err}); re-export it") from None


def _check_size(what: str, w: int, h: int) -> None:
    if w * h > MAX_PIXELS:
        raise ImageLoadError(_too_large(what, f"{w}x{h}", w * h))


def _decode(handle: Any, what: str) -> Image.Image:
    """Decode an open image file: the size is checked from the header before any pixel."""
    with _pillow_errors(what), Image.open(handle) as opened:
        _check_size(what, *opened.size)
        opened.load()
        info = dict(opened.info)
        pil = ImageOps.exif_transpose(opened)
        pil.info.update(info)
    return pil


def check_image_file(path: str | os.PathLike, what: str = "image") -> tuple[int, int]:
    """``(width, height)`` of an input image file, from its header only (no pixel decoded).

    What a front door calls before any work starts: :func:`check_input_file` (by
    ``os.stat``: a regular, non-empty file), then the header: a format Pillow reads,
    at most :data:`MAX_PIXELS` (a decompression bomb is refused here), each side at
    least :data:`MIN_SIDE`. A damaged body is found only when the image is loaded.
    """
    checked = check_input_file(path, what)
    label = f"{what} {checked}"
    with _open_regular(checked, label) as handle, _pillow_errors(label), Image.open(handle) as opened:
        w, h = opened.size
    _check_size(label, w, h)
    if min(w, h) < MIN_SIDE:
        raise ImageLoadError(f"{label} is {w}x{h}; each side must be at least {MIN_SIDE} pixels")
    return w, h


#: How far a float image may stray outside [0, 1] (rounding) and still be read as 0..1.
_FLOAT_SLACK = 0.5 / 255


def _from_array(array: np.ndarray, what: str) -> Image.Image:
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise ImageLoadError(f"{what} array must be (H, W), (H, W, 3) or (H, W, 4), not {array.shape}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.shape[0] * array.shape[1] > MAX_PIXELS:
        h, w = array.shape[:2]
        raise ImageLoadError(_too_large(f"{what} array", f"{w}x{h}", w * h))
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating):
            if not np.isfinite(array).all():
                raise ImageLoadError(f"{what} array contains NaN or infinite values")
            lo, hi = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
            if lo < -_FLOAT_SLACK or hi > 1 + _FLOAT_SLACK:
                hint = "divide it by 255" if hi <= 255.5 and lo >= -0.5 else "scale it to [0, 1]"
                raise ImageLoadError(f"{what} float array has values from {lo:g} to {hi:g}, but float "
                                     f"images must be in [0, 1]; {hint} or pass a uint8 array")
            array = np.clip(np.round(array * 255.0), 0, 255).astype(np.uint8)
        elif array.dtype == bool:
            array = array.astype(np.uint8) * 255
        else:
            raise ImageLoadError(f"{what} array must be uint8 or float in [0, 1], not {array.dtype}; "
                                 "convert it with .astype(np.uint8)")
    return Image.fromarray(np.ascontiguousarray(array))


def _normalise_mode(pil: Image.Image, what: str = "image") -> Image.Image:
    """Convert any Pillow mode to RGB or RGBA by what its values mean, keeping transparency.

    * ``1``, ``L``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ``RGBX``: Pillow's colour
      conversion to RGB.
    * ``P``: RGBA if it has transparency (a ``tRNS`` entry or an RGBA palette), RGB
      otherwise. ``LA``, ``PA``, ``La``, ``RGBa`` (premultiplied): RGBA.
    * ``I;16*`` (16-bit): 0..65535 scaled to 0..255 (a dark scan stays dark).
    * ``I`` (32-bit integers, no declared range): 16-bit if any value is over 255,
      8-bit otherwise; negative values or values over 65535 are refused.
    * ``F`` (float, no declared range): 0..1 if every value lies in [0, 1], else
      0..255 if every value lies in [0, 255]; NaN, infinity and anything else (HDR,
      negative values) are refused: there is no right way to show them.

    Any other mode, or one Pillow cannot convert, is an :class:`ImageLoadError`.
    """
    info = dict(pil.info)
    mode = pil.mode
    if mode in ("RGB", "RGBA"):
        return pil
    try:
        if mode == "P":
            has_alpha = "transparency" in pil.info or (pil.palette is not None and pil.palette.mode == "RGBA")
            out = pil.convert("RGBA" if has_alpha else "RGB")
        elif mode in ("LA", "PA", "RGBa"):
            out = pil.convert("RGBA")
        elif mode == "La":
            out = pil.convert("LA").convert("RGBA")
        elif mode.startswith("I;16"):
            arr = np.asarray(pil, dtype=np.float64)
            out = _gray(arr / 65535.0 * 255.0)
        elif mode == "I":
            arr = np.asarray(pil, dtype=np.float64)
            lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
            if lo < 0 or hi > 65535:
                raise ImageLoadError(f"{what} is a 32-bit integer image with values from {lo:g} to {hi:g}; "
                                     "only 0..255 or 0..65535 can be read: export it as an 8- or 16-bit PNG")
            out = _gray(arr / 65535.0 * 255.0 if hi > 255 else arr)
        elif mode == "F":
            arr = np.asarray(pil, dtype=np.float64)
            if not np.isfinite(arr).all():
                raise ImageLoadError(f"{what} is a floating-point image with NaN or infinite values; "
                                     "export it as an 8- or 16-bit PNG")
            lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
            if lo >= -_FLOAT_SLACK and hi <= 1 + _FLOAT_SLACK:
                out = _gray(arr * 255.0)
            elif lo >= -0.5 and hi <= 255.5:
                out = _gray(arr)
            else:
                raise ImageLoadError(f"{what} is a floating-point image with values from {lo:g} to {hi:g}; "
                                     "only 0..1 or 0..255 can be read: export it as an 8- or 16-bit PNG")
        else:  # 1, L, CMYK, YCbCr, LAB, HSV, RGBX ...
            out = pil.convert("RGB")
    except ImageLoadError:
        raise
    except (ValueError, OSError) as err:
        raise ImageLoadError(f"{what} has the image mode {mode}, which cannot be converted to RGB ({err}); "
                             "save it as an RGB or RGBA PNG") from None
    out.info.update({k: v for k, v in info.items() if isinstance(k, str)})
    return out


def _gray(values: np.ndarray) -> Image.Image:
    """An RGB image of grey levels ``values`` (0..255 floats), rounded to the nearest level."""
    return Image.fromarray(np.clip(np.floor(values + 0.5), 0, 255).astype(np.uint8)).convert("RGB")


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """``(H, W, 3)`` uint8 array of the colour channels (alpha dropped, colour kept)."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    return np.ascontiguousarray(arr[..., :3])


# --------------------------------------------------------------------------- metadata


def read_metadata(image: Image.Image | str | os.PathLike) -> dict[str, Any]:
    """Our JSON metadata from a PNG made by this package, or ``{}``.

    Size-limited and parsed with :func:`json.loads` only: never evaluated.
    """
    if not isinstance(image, Image.Image):
        text = read_png_text(image).get(METADATA_KEY)
    else:
        text = image.info.get(METADATA_KEY)
    return json_object(text)


def json_object(text: Any) -> dict[str, Any]:
    """``text`` parsed as a JSON object, or ``{}``: not a string, over
    :data:`MAX_METADATA_CHARS`, not JSON, or JSON that is not an object. Never evaluated."""
    if not isinstance(text, str) or len(text) > MAX_METADATA_CHARS:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def read_png_text(path: str | os.PathLike) -> dict[str, str]:
    """The text chunks of an image file, read from its header only (no pixels decoded).

    Untrusted input: each value is at most :data:`MAX_METADATA_CHARS` characters
    (longer ones are dropped; Pillow itself refuses compressed chunks over 1 MB), and
    a file that is missing, damaged, not an image, a decompression bomb or not a
    regular file (a FIFO, a device: checked by ``os.stat`` first, never opened) gives
    ``{}``. Values are returned as strings, never evaluated.
    """
    try:
        checked = check_input_file(path, "image")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _open_regular(checked, "image") as handle, Image.open(handle) as opened:
                info = dict(opened.info)
    except Exception:  # noqa: BLE001 - any failure to read untrusted metadata means "none"
        return {}
    return {k: v for k, v in info.items()
            if isinstance(k, str) and isinstance(v, str) and len(v) <= MAX_METADATA_CHARS}


def storable_text(text: str) -> str:
    """``text`` as it can be stored in a PNG text chunk: characters UTF-8 cannot encode
    (lone surrogates) become ``\\udcxx`` escapes instead of failing the save."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def png_info(metadata: Mapping[str, Any], command: str | None = None) -> PngImagePlugin.PngInfo:
    """A ``PngInfo`` carrying ``metadata`` as JSON (and the command under InvokeAI's key).

    Never fails on the text: JSON is written ASCII-escaped and the command through
    :func:`storable_text`, so an image is never lost to its own metadata.
    """
    info = PngImagePlugin.PngInfo()
    info.add_text(METADATA_KEY, json.dumps(dict(metadata), sort_keys=True, default=str))
    if command:
        info.add_text(INVOKE_COMMAND_KEY, storable_text(command))
    return info


# --------------------------------------------------------------------------- outputs

#: Output numbers are six digits, InvokeAI's pattern: 000000 to 999999.
MAX_NUMBER = 999_999
#: An output name: six ASCII digits, then a dot (``000012.7.png``, ``000012.input.png``).
_NUMBERED = re.compile(r"^([0-9]{6})\.")
#: A writer's claim on a number while it writes (see :func:`claim_number`).
_CLAIM = re.compile(r"^\.([0-9]{6})\.claim$")


def _scan_numbers(folder: Path) -> tuple[set[int], set[int]]:
    """``(numbers of outputs, numbers claimed by writers)`` in ``folder``; names only, no stat."""
    outputs: set[int] = set()
    claims: set[int] = set()
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if match := _NUMBERED.match(entry.name):
                    outputs.add(int(match.group(1)))
                elif match := _CLAIM.match(entry.name):
                    claims.add(int(match.group(1)))
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as err:
        raise OutputError(f"cannot list output folder {folder}: {err.strerror or err}; choose another folder "
                          "(--outdir / outdir=)") from None
    return outputs, claims


def next_number(outdir: str | os.PathLike) -> int:
    """The next free ``NNNNNN`` prefix in ``outdir`` (InvokeAI's numbering).

    One more than the highest number in use (by an output or by a writer's claim).
    Stray names cannot push numbering out of its six digits: if the highest is
    999999 (``999999.junk.png``), it is the number after the highest one whose
    successor is free, else the lowest free one; other names (``abc.png``, a
    ``000010`` folder, ``0000123.png``) are ignored. :class:`OutputError` only when
    all million numbers are taken. A look, not a claim: writers claim the number
    with :func:`claim_number` (or :func:`save_numbered`), which is atomic.
    """
    folder = user_path(outdir, "output folder", OutputError)
    outputs, claims = _scan_numbers(folder)
    used = outputs | claims
    if not used:
        return 0
    top = max(used)
    if top < MAX_NUMBER:
        return top + 1
    ends = [n + 1 for n in used if n < MAX_NUMBER and n + 1 not in used]
    if ends:
        return max(ends)
    if 0 not in used:
        return 0
    raise OutputError(f"output folder {folder} has used every number from 000000 to {MAX_NUMBER}; "
                      "choose another folder (--outdir / outdir=)")


def number_after(outdir: str | os.PathLike, number: int) -> int:
    """The number to try when ``number`` turned out to be taken: the next free one after it."""
    following = max(number + 1, next_number(outdir))
    return following if following <= MAX_NUMBER else next_number(outdir)


@contextlib.contextmanager
def claim_number(outdir: str | os.PathLike, number: int) -> Iterator[int]:
    """Hold output number ``number`` in ``outdir`` while writing its files.

    The claim is a hidden file ``.NNNNNN.claim`` created with ``O_CREAT | O_EXCL``,
    so one writer at a time (thread or process, on any local or NFS folder) holds a
    number; under it, no output may already carry the number. Raises
    :class:`OutputExistsError` (take the next number, :func:`number_after`) when
    another writer holds it or an output has it. The claim is removed on exit,
    whatever happens; one left by a killed process only makes writers skip that
    number.
    """
    folder = ensure_outdir(outdir)
    if not 0 <= number <= MAX_NUMBER:
        raise OutputError(f"output number {number} is outside 000000..{MAX_NUMBER}")
    claim = folder / f".{number:06d}.claim"
    try:
        fd = os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise OutputExistsError(f"output number {number:06d} in {folder} is being written by another writer") \
            from None
    except OSError as err:
        raise OutputError(f"cannot write in output folder {folder}: {err.strerror or err}; choose another "
                          "folder (--outdir / outdir=)") from None
    try:
        os.close(fd)
        if number in _scan_numbers(folder)[0]:
            raise OutputExistsError(f"output number {number:06d} is already taken in {folder}")
        yield number
    finally:
        with contextlib.suppress(OSError):
            os.unlink(claim)


#: One file of a numbered set: (name after ``NNNNNN.``, image, metadata, command).
NumberedFile = tuple[str, Image.Image, Mapping[str, Any] | None, str | None]


def save_numbered(outdir: str | os.PathLike, files: Sequence[NumberedFile], *, attempts: int = 100) -> list[Path]:
    """Save ``files`` as ``NNNNNN.<name>`` under one new number, all of them or none.

    The number is claimed atomically (:func:`claim_number`), so writers in other
    threads or processes sharing ``outdir`` never get the same number, and a set
    (``000007.input.png`` + ``000007.mask.png``; ``!mask``'s three images) is never
    split or mixed with another writer's. A taken number means the next one; a real
    write error removes the files of the set already written and is raised.
    """
    folder = ensure_outdir(outdir)
    for name, *_ in files:
        check_inside(folder, f"000000.{name}")  # a name, not a path
    number = next_number(folder)
    for _attempt in range(attempts):
        try:
            with claim_number(folder, number):
                written: list[Path] = []
                try:
                    for name, image, metadata, command in files:
                        path = folder / f"{number:06d}.{name}"
                        written.append(save_png_atomic(image, path, metadata=metadata, command=command))
                except BaseException:
                    for done in written:  # never leave a partial set behind
                        done.unlink(missing_ok=True)
                    raise
                return written
        except OutputExistsError:
            number = number_after(folder, number)
    raise OutputError(f"could not claim an output number in {folder}: other writers keep taking them")


_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")


def safe_name(text: str, *, max_len: int = 60) -> str:
    """``text`` made safe as one file-name component (no separators, no dots, no spaces)."""
    cleaned = _UNSAFE.sub("_", text.strip()).strip("_")
    return (cleaned or "untitled")[:max_len]


def ensure_outdir(outdir: str | os.PathLike) -> Path:
    """Create ``outdir`` (``~`` expanded) if needed and check it is writable; :class:`OutputError` otherwise."""
    path = user_path(outdir, "output folder", OutputError)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"cannot create output folder {path}: {err.strerror or err}; choose another folder "
            "(--outdir / outdir=)"
        ) from None
    if not path.is_dir():  # a dangling symlink, say
        raise OutputError(f"output folder {path} is not a folder; choose another folder (--outdir / outdir=)")
    if not os.access(path, os.W_OK):
        raise OutputError(f"output folder {path} is not writable; choose another folder (--outdir / outdir=)")
    return path


def save_png_atomic(
    image: Image.Image,
    path: str | os.PathLike,
    *,
    metadata: Mapping[str, Any] | None = None,
    command: str | None = None,
) -> Path:
    """Write ``image`` as PNG to ``path``: temp file then rename, never overwriting.

    The PNG is written to a hidden temporary file in the same folder and then
    hard-linked to ``path`` (which fails if ``path`` exists). A failure at any
    point (encoding, disk full, read-only folder) is an :class:`OutputError` and
    leaves no partial file; an existing ``path`` is an :class:`OutputExistsError`
    (an ``OutputError`` and a ``FileExistsError``, so a caller can take the next
    number) and is left untouched.
    """
    path = user_path(path, "output file", OutputError)
    outdir = ensure_outdir(path.parent)
    exists = f"{path} already exists; outputs are never overwritten"
    if os.path.lexists(path):
        raise OutputExistsError(exists)
    pnginfo = png_info(metadata or {}, command) if (metadata or command) else None
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=outdir)
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="PNG", pnginfo=pnginfo)
        try:
            os.link(tmp, path)  # atomic, and fails if path exists: never overwrites
        except FileExistsError:
            raise OutputExistsError(exists) from None
        except OSError:  # file systems without hard links: exclusive create, then copy
            try:
                _copy_exclusive(tmp, path)
            except FileExistsError:
                raise OutputExistsError(exists) from None
    except OutputError:
        raise
    except (OSError, ValueError) as err:
        raise OutputError(f"cannot write {path}: {getattr(err, 'strerror', None) or err}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _copy_exclusive(src: str, dst: Path) -> None:
    """Copy ``src`` to a new file ``dst`` (``O_EXCL``: never replaces); remove ``dst`` on failure."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            while chunk := inp.read(1 << 20):
                out.write(chunk)
    except BaseException:
        dst.unlink(missing_ok=True)
        raise


def check_inside(outdir: str | os.PathLike, name: str) -> Path:
    """``outdir / name``, refusing names that would land outside ``outdir``."""
    base = user_path(outdir, "output folder", OutputError).resolve()
    target = (base / name).resolve()
    if base != target.parent:
        raise OutputError(f"output name {name!r} would be written outside {base}")
    return target


def require_number(value: Any, name: str, *, low: float | None = None, high: float | None = None,
                   low_open: bool = False, integer: bool = False) -> float:
    """Validate one numeric parameter: finite, in range; a clear error otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a number, not {value!r}")
    if not np.isfinite(value):
        raise InvalidInputError(f"{name} must be a finite number, not {value!r}")
    if integer and int(value) != value:
        raise InvalidInputError(f"{name} must be a whole number, not {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        bound = f"> {low}" if low_open else f">= {low}"
        raise InvalidInputError(f"{name} must be {bound}, not {value!r}")
    if high is not None and value > high:
        raise InvalidInputError(f"{name} must be <= {high}, not {value!r}")
    return int(value) if integer else float(value)
