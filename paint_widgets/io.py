"""Loading images safely, PNG metadata, numbered outputs and atomic saves.

This is the only module that turns files into pixels and pixels into files. It
never imports torch. Everything read from a file a user got from the internet is
treated as untrusted: image size is bounded, metadata is size-limited JSON that
is parsed, never evaluated.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from collections.abc import Mapping
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


def load_image(image: ImageLike, *, what: str = "image") -> Image.Image:
    """Return ``image`` as a PIL image in ``RGB`` or ``RGBA`` mode.

    Accepts a path, a PIL image or a ``uint8`` array (``(H, W)``, ``(H, W, 3)`` or
    ``(H, W, 4)``). EXIF orientation is honoured; palette images with
    transparency, ``LA``, 16-bit and CMYK images are converted. Raises
    :class:`ImageLoadError` naming the problem for anything unusable.
    """
    if isinstance(image, Image.Image):
        pil = image
        w, h = pil.size
        if w * h > MAX_PIXELS:
            raise ImageLoadError(_too_large(what, f"{w}x{h}", w * h))
        try:
            pil.load()  # a lazily opened file may still be truncated or damaged
        except (OSError, SyntaxError, ValueError, EOFError) as err:
            raise ImageLoadError(f"{what} is a damaged or truncated image ({err}); re-export it") from None
    elif isinstance(image, np.ndarray):
        pil = _from_array(image, what)
    elif isinstance(image, (str, os.PathLike)):
        pil = _open_path(Path(image), what)
        what = f"{what} {image}"
    else:
        raise ImageLoadError(
            f"{what} must be a file path, a PIL image or a numpy array, not {type(image).__name__}"
        )
    pil = _normalise_mode(pil)
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


def _open_path(path: Path, what: str) -> Image.Image:
    if not path.exists():
        raise ImageLoadError(f"{what} not found: {path}")
    if path.is_dir():
        raise ImageLoadError(f"{what} path is a folder, not an image file: {path}")
    if path.stat().st_size == 0:
        raise ImageLoadError(f"{what} is an empty file (0 bytes): {path}")
    try:
        with warnings.catch_warnings():
            # our own limit (MAX_PIXELS) is below Pillow's warning limit: it is checked from
            # the header, before any pixel is decoded
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                w, h = opened.size
                if w * h > MAX_PIXELS:
                    raise ImageLoadError(_too_large(f"{what} {path}", f"{w}x{h}", w * h))
                opened.load()
                info = dict(opened.info)
                pil = ImageOps.exif_transpose(opened)
                pil.info.update(info)
    except ImageLoadError:
        raise
    except UnidentifiedImageError:
        raise ImageLoadError(f"{what} {path} is not an image file Pillow can read; save it as PNG or JPEG") from None
    except Image.DecompressionBombError as err:  # header claims more than 2x Pillow's limit
        found = _BOMB_PIXELS.search(str(err))
        pixels = int(found.group(1)) if found else MAX_PIXELS + 1
        raise ImageLoadError(_too_large(f"{what} {path}", "too large", pixels)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageLoadError(f"{what} {path} is damaged or truncated ({err}); re-export it") from None
    return pil


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
            array = np.clip(np.round(array * 255.0), 0, 255).astype(np.uint8)
        elif array.dtype == bool:
            array = array.astype(np.uint8) * 255
        else:
            raise ImageLoadError(f"{what} array must be uint8 or float in [0, 1], not {array.dtype}")
    return Image.fromarray(np.ascontiguousarray(array))


def _normalise_mode(pil: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB or RGBA, keeping transparency."""
    info = dict(pil.info)
    if pil.mode in ("RGB", "RGBA"):
        return pil
    if pil.mode == "P":
        out = pil.convert("RGBA" if "transparency" in pil.info else "RGB")
    elif pil.mode in ("LA", "PA"):
        out = pil.convert("RGBA")
    elif pil.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(pil, dtype=np.float64)
        # I;16 is 16-bit by definition (a dark scan stays dark); plain I (32-bit) has no
        # declared range: 16-bit if it uses it, 8-bit otherwise
        peak = 65535.0 if pil.mode.startswith("I;16") or arr.max() > 255 else 255.0
        out = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    elif pil.mode == "F":
        arr = np.nan_to_num(np.asarray(pil, dtype=np.float64))
        out = Image.fromarray(np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
    else:  # L, 1, CMYK, YCbCr, LAB, HSV, RGBX ...
        out = pil.convert("RGB")
    out.info.update({k: v for k, v in info.items() if isinstance(k, str)})
    return out


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
    a file that is missing, damaged, not an image or a decompression bomb gives ``{}``.
    Values are returned as strings, never evaluated.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as opened:
                info = dict(opened.info)
    except Exception:  # noqa: BLE001 - any failure to read untrusted metadata means "none"
        return {}
    return {k: v for k, v in info.items()
            if isinstance(k, str) and isinstance(v, str) and len(v) <= MAX_METADATA_CHARS}


def png_info(metadata: Mapping[str, Any], command: str | None = None) -> PngImagePlugin.PngInfo:
    """A ``PngInfo`` carrying ``metadata`` as JSON (and the command under InvokeAI's key)."""
    info = PngImagePlugin.PngInfo()
    info.add_text(METADATA_KEY, json.dumps(dict(metadata), sort_keys=True, default=str))
    if command:
        info.add_text(INVOKE_COMMAND_KEY, command)
    return info


# --------------------------------------------------------------------------- outputs

_NUMBERED = re.compile(r"^(\d{6})\.")


def next_number(outdir: str | os.PathLike) -> int:
    """The next free ``NNNNNN`` prefix in ``outdir`` (InvokeAI's numbering)."""
    outdir = Path(outdir)
    best = -1
    if outdir.is_dir():
        for entry in os.scandir(outdir):
            match = _NUMBERED.match(entry.name)
            if match:
                best = max(best, int(match.group(1)))
    return best + 1


_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")


def safe_name(text: str, *, max_len: int = 60) -> str:
    """``text`` made safe as one file-name component (no separators, no dots, no spaces)."""
    cleaned = _UNSAFE.sub("_", text.strip()).strip("_")
    return (cleaned or "untitled")[:max_len]


def ensure_outdir(outdir: str | os.PathLike) -> Path:
    """Create ``outdir`` if needed and check it is writable; :class:`OutputError` otherwise."""
    path = Path(outdir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"cannot create output folder {path}: {err.strerror or err}; choose another folder "
            "(--outdir / outdir=)"
        ) from None
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
    path = Path(path)
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
    base = Path(outdir).resolve()
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
