"""Where a batch reads and writes: a local folder, or any fsspec URL every node reaches.

A local path (``~`` expanded) or ``file://`` URL stays a local path and gets the
local guarantees of :mod:`paint_widgets.io` (``os.stat`` checks, hard-link atomic
saves). Any other ``protocol://`` URL (``s3://``, ``gs://``, ``ftp://``,
``memory://`` ...) goes through fsspec: folders are listed once, inputs read whole
(after a size check) and decoded by the same loader a local file gets, and each
output is written under a hidden temporary name and then moved to its final name,
never over an existing one, so a reader never sees half a file. A missing fsspec
back end (s3fs, gcsfs ...) is one line saying what to ``pip install``.

Each thread keeps one file system per ``protocol://host`` (an FTP connection is
reused across jobs) and reconnects once when a connection dropped.
"""

from __future__ import annotations

import ftplib
import hashlib
import io as _io
import os
import posixpath
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from PIL import Image

from ..errors import ImageLoadError, InvalidInputError, OutputError, OutputExistsError, PaintError
from ..io import png_info, save_png_atomic, user_path

#: ``protocol://`` at the start of a string (``s3://``, ``ftp://``, ``memory://``).
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
#: The package fsspec needs for a protocol, for the one-line install hint.
PACKAGES = {
    "s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs",
    "abfss": "adlfs", "adl": "adlfs", "sftp": "paramiko", "ssh": "paramiko", "http": "aiohttp",
    "https": "aiohttp", "webdav": "webdav4", "smb": "smbprotocol", "oci": "ocifs", "hf": "huggingface_hub",
    "dropbox": "dropboxdrivefs", "hdfs": "pyarrow",
}
#: Largest input file read from a URL (the pixel limit is checked after, from the header).
MAX_INPUT_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 20
#: Errors that mean "the connection went away": drop the file system and try once more.
_TRANSIENT: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, EOFError, ftplib.error_temp,
                                               ftplib.error_reply)
_local = threading.local()
T = TypeVar("T")


class StorageUnavailableError(InvalidInputError, ImportError):
    """A URL's protocol needs an fsspec back end that is not installed."""


class StorageError(PaintError, OSError):
    """A storage URL could not be reached or read."""


def protocol(text: str) -> str | None:
    """The ``protocol`` of ``protocol://...``, lower case, or None for a plain path."""
    found = _URL.match(text)
    return found.group(1).lower() if found else None


def is_url(text: str | os.PathLike) -> bool:
    """Whether ``text`` is an fsspec URL other than ``file://`` (which is a local path)."""
    return isinstance(text, str) and protocol(text) not in (None, "file")


def normalise(value: str | os.PathLike, what: str) -> str:
    """``value`` as a batch keeps it: a local path (``~`` and ``file://`` resolved) or the URL as given.

    Refused like every path (:func:`~paint_widgets.io.user_path`): empty, not UTF-8,
    or holding a control character.
    """
    text = os.fspath(value) if not isinstance(value, bytes) else os.fsdecode(value)
    checked = user_path(text, what)
    if protocol(text) == "file":
        from fsspec.implementations.local import LocalFileSystem  # type: ignore[import-untyped]  # no stubs

        return str(LocalFileSystem._strip_protocol(text))
    return text if is_url(text) else str(checked)


def redact(text: str) -> str:
    """``text`` with a password in the URL left out (``ftp://me:secret@host`` -> ``ftp://me@host``):
    what goes into PNG metadata, commands and the manifest."""
    if not is_url(text):
        return text
    parts = urlsplit(text)
    if parts.password is None:
        return text
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}@{host}" if parts.username else host))


def join(folder: str, name: str) -> str:
    """``folder/name`` for a URL or a local path."""
    return folder.rstrip("/") + "/" + name if is_url(folder) else os.path.join(folder, name)


def basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/")) if is_url(path) else os.path.basename(path)


def stem(path: str) -> str:
    """The file name without its last suffix (how masks are matched to images)."""
    name = basename(path)
    base, dot, _ = name.rpartition(".")
    return base if dot and base else name


def suffix(path: str) -> str:
    name = basename(path)
    return "." + name.rpartition(".")[2].lower() if "." in name.lstrip(".") else ""


# --------------------------------------------------------------------------- file systems


def _key(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc}"


def filesystem(url: str) -> tuple[Any, str]:
    """``(fsspec file system, path inside it)`` for ``url``, one file system per thread and host."""
    cache: dict[str, Any] = _local.__dict__.setdefault("fs", {})
    key = _key(url)
    fs = cache.get(key)
    if fs is None:
        name = protocol(url) or "file"
        try:
            import fsspec  # type: ignore[import-untyped]  # fsspec ships no type information

            fs, _ = fsspec.core.url_to_fs(url)
        except ImportError as err:
            package = PACKAGES.get(name)
            hint = f"pip install {package}" if package else f"install fsspec's back end for it ({err})"
            raise StorageUnavailableError(f"{name}:// URLs need the {package or name} package: {hint} "
                                          f"(for {redact(url)})") from None
        except ValueError as err:
            if "not known" in str(err).lower():
                raise InvalidInputError(f"unknown storage protocol {name}:// in {redact(url)}; give a local "
                                        "path or an fsspec URL (s3://, gs://, ftp://, memory:// ...)") from None
            raise StorageError(f"cannot open {redact(url)}: {err}") from None
        except Exception as err:  # noqa: BLE001 - a server down, bad credentials: one line, not a traceback
            raise StorageError(f"cannot reach {redact(url)}: {_reason(err)}") from None
        cache[key] = fs
    return fs, fs._strip_protocol(url)


def forget(url: str) -> None:
    """Drop this thread's file system for ``url``'s host (the next call connects afresh)."""
    _local.__dict__.setdefault("fs", {}).pop(_key(url), None)


def _reason(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _call(url: str, operation: Callable[[Any, str], T]) -> T:
    """``operation(fs, path)``, once more on a fresh connection if the first one dropped."""
    for attempt in range(2):
        fs, path = filesystem(url)
        try:
            return operation(fs, path)
        except _TRANSIENT:
            forget(url)
            if attempt:
                raise
    raise AssertionError("unreachable")


def _info(url: str) -> dict[str, Any] | None:
    def look(fs: Any, path: str) -> dict[str, Any] | None:
        fs.invalidate_cache()  # another process (a Ray actor) may have written here
        try:
            return dict(fs.info(path))
        except FileNotFoundError:
            return None

    return _call(url, look)


# --------------------------------------------------------------------------- folders


def is_dir(url: str) -> bool:
    info = _info(url)
    return info is not None and info.get("type") == "directory"


def exists(url: str) -> bool:
    return _info(url) is not None


def list_files(url: str) -> list[str]:
    """The URLs of the files in folder ``url``, sorted by name (sub-folders left out)."""
    def ls(fs: Any, path: str) -> list[str]:
        fs.invalidate_cache()
        names = [basename(str(e["name"])) for e in fs.ls(path, detail=True) if e.get("type") == "file"]
        return sorted(n for n in names if n)

    return [join(url, name) for name in _call(url, ls)]


def names(folder: str) -> set[str]:
    """The file names in ``folder`` (a URL): one listing, for a whole batch's resume check."""
    try:
        return {basename(u) for u in list_files(folder)}
    except FileNotFoundError:
        return set()


def make_folder(url: str) -> str:
    """Create folder ``url`` (and its parents) if needed; the URL."""
    def mkdirs(fs: Any, path: str) -> None:
        fs.makedirs(path, exist_ok=True)

    try:
        _call(url, mkdirs)
    except PaintError:
        raise
    except Exception as err:  # noqa: BLE001
        raise OutputError(f"cannot create output folder {redact(url)}: {_reason(err)}; choose another folder "
                          "(--outdir / outdir=)") from None
    return url


# --------------------------------------------------------------------------- reading


def check_file(url: str, what: str = "image") -> int:
    """The size of input file ``url``; an :class:`ImageLoadError` if it is missing, a folder,
    empty or over :data:`MAX_INPUT_BYTES` (the checks ``os.stat`` makes for a local file)."""
    shown = redact(url)
    try:
        info = _info(url)
    except PaintError:
        raise
    except Exception as err:  # noqa: BLE001
        raise ImageLoadError(f"{what} {shown} cannot be read: {_reason(err)}") from None
    if info is None:
        raise ImageLoadError(f"{what} not found: {shown}")
    if info.get("type") == "directory":
        raise ImageLoadError(f"{what} path is a folder, not an image file: {shown}")
    size = int(info.get("size") or 0)
    if size == 0:
        raise ImageLoadError(f"{what} is an empty file (0 bytes): {shown}")
    if size > MAX_INPUT_BYTES:
        raise ImageLoadError(f"{what} {shown} is {size / 2**20:.0f} MiB, over the {MAX_INPUT_BYTES // 2**20} MiB "
                             "limit for an input; downscale it first")
    return size


def read_bytes(url: str, what: str = "image") -> bytes:
    """The bytes of input file ``url``, after :func:`check_file`."""
    check_file(url, what)
    try:
        return bytes(_call(url, lambda fs, path: fs.cat_file(path)))
    except Exception as err:  # noqa: BLE001
        raise ImageLoadError(f"{what} {redact(url)} cannot be read: {_reason(err)}") from None


def digest(url: str) -> str:
    """sha256 of file ``url``'s bytes, streamed (the key of a job, as for a local file)."""
    check_file(url, "image")

    def hash_it(fs: Any, path: str) -> str:
        sha = hashlib.sha256()
        with fs.open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                sha.update(chunk)
        return sha.hexdigest()

    return _call(url, hash_it)


def read_text(url: str) -> str | None:
    """The text of file ``url``, or None if there is none."""
    if _info(url) is None:
        return None
    return bytes(_call(url, lambda fs, path: fs.cat_file(path))).decode("utf-8", "replace")


# --------------------------------------------------------------------------- writing


def write_new(url: str, data: bytes) -> None:
    """Write ``data`` to a new file ``url``: a hidden temporary name first, then a move.

    :class:`OutputExistsError` if ``url`` exists (left untouched); any other failure
    is an :class:`OutputError` and removes the temporary file.
    """
    shown = redact(url)
    if exists(url):
        raise OutputExistsError(f"{shown} already exists; outputs are never overwritten")
    folder, _, name = url.rstrip("/").rpartition("/")
    tmp = f"{folder}/.tmp-{uuid.uuid4().hex[:12]}-{name}"

    def write(fs: Any, path: str) -> None:
        fs.pipe_file(path, data)

    try:
        _call(tmp, write)
        if exists(url):  # another worker made the same output meanwhile
            raise OutputExistsError(f"{shown} already exists; outputs are never overwritten")
        _call(tmp, lambda fs, path: fs.mv(path, filesystem(url)[1]))
    except BaseException as err:
        try:
            _call(tmp, lambda fs, path: fs.rm_file(path))
        except Exception:  # noqa: BLE001, S110 - the temporary file may never have been made
            pass
        if isinstance(err, (OutputError, KeyboardInterrupt)) or not isinstance(err, Exception):
            raise
        raise OutputError(f"cannot write {shown}: {_reason(err)}") from None


def write_text(url: str, text: str) -> None:
    """Write ``text`` to ``url``, replacing it (the manifest of a run, rewritten as it grows)."""
    _call(url, lambda fs, path: fs.pipe_file(path, text.encode("utf-8")))


def save_png(image: Image.Image, target: str, *, metadata: Mapping[str, Any] | None = None,
             command: str | None = None) -> str:
    """Save ``image`` as a PNG with our metadata and command, to a local path or a URL, atomically."""
    if not is_url(target):
        return str(save_png_atomic(image, target, metadata=metadata, command=command))
    buffer = _io.BytesIO()
    pnginfo = png_info(metadata or {}, command) if (metadata or command) else None
    try:
        image.save(buffer, format="PNG", pnginfo=pnginfo)
    except (OSError, ValueError) as err:
        raise OutputError(f"cannot encode {redact(target)}: {err}") from None
    write_new(target, buffer.getvalue())
    return target


__all__ = [
    "MAX_INPUT_BYTES", "PACKAGES", "StorageError", "StorageUnavailableError", "basename", "check_file", "digest",
    "exists", "filesystem", "forget", "is_dir", "is_url", "join", "list_files", "make_folder", "names",
    "normalise", "protocol", "read_bytes", "read_text", "redact", "save_png", "stem", "suffix", "write_new",
    "write_text",
]
