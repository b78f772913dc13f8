"""Helpers shared by the reliability tests: hostile files, a quiet command runner, checks.

Imported by name (``from reliability_helpers import ...``): pytest puts this folder
on ``sys.path`` because ``tests/`` has no ``__init__.py``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import struct
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

#: The picture most rows use: 64x48 (not square, so a rotation shows in the size).
H, W = 48, 64


def photo(h: int = H, w: int = W) -> np.ndarray:
    """A structured RGB picture (gradients and a square), not noise."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 3, yy * 4, (xx + yy) * 2], axis=-1).astype(np.uint8)
    img[h // 4 : h // 2, w // 4 : w // 2] = (200, 40, 40)
    return img


def box_mask(h: int = H, w: int = W) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    mask[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
    return mask


def mask_file(path: Path, paint: np.ndarray) -> Path:
    """Write an ``-M`` mask file (InvokeAI convention: black = paint, white = keep)."""
    Image.fromarray(np.where(paint, 0, 255).astype(np.uint8), "L").save(path)
    return path


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_claiming_size(width: int, height: int) -> bytes:
    """A valid 8x8 PNG whose IHDR (and its CRC) is patched to claim ``width`` x ``height``.

    Cheap to make and to read: a loader must refuse it from the header alone.
    """
    data = png_bytes(Image.new("RGB", (8, 8), (10, 20, 30)))
    assert data[12:16] == b"IHDR"
    body = struct.pack(">II", width, height) + data[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + body) & 0xFFFFFFFF)
    return data[:16] + body + crc + data[33:]


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def files_under(folder: Path) -> set[Path]:
    """Every file below ``folder`` (relative paths), hidden ones included."""
    if not folder.exists():
        return set()
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def partial_files(folder: Path) -> list[Path]:
    """Temporary or zero-byte files an interrupted save could leave behind."""
    return sorted(p for p in files_under(folder)
                  if p.name.startswith(".tmp-") or (folder / p).stat().st_size == 0)


@dataclass
class Quiet:
    """A :class:`~paint_widgets.commands.Runner` with captured streams."""

    runner: object
    out: io.StringIO = field(default_factory=io.StringIO)
    err: io.StringIO = field(default_factory=io.StringIO)

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.getvalue().splitlines() if line.strip()]


def quiet_runner(outdir: Path, mgr: object, **overrides: object) -> Quiet:
    from paint_widgets.commands import Runner

    out, err = io.StringIO(), io.StringIO()
    runner = Runner(outdir, mgr=mgr, overrides=overrides or None, stdout=out, stderr=err)
    return Quiet(runner, out, err)


@contextlib.contextmanager
def read_only_folder(path: Path) -> Iterator[str]:
    """Make ``path`` a folder nobody can write to, even root; yields how.

    As root, permission bits do not stop writes, so the immutable attribute
    (``chattr +i``, ext4/xfs/btrfs) is used; as another user, ``chmod 555``.
    Yields ``""`` when neither works here (the caller skips).
    """
    path.mkdir(parents=True, exist_ok=True)
    how = ""
    if os.geteuid() != 0:
        path.chmod(0o555)
        how = "chmod 555"
    elif shutil.which("chattr") and subprocess.run(
        ["chattr", "+i", str(path)], capture_output=True, check=False
    ).returncode == 0:
        how = "chattr +i"
    try:
        yield how if how and not os.access(path, os.W_OK) else ""
    finally:
        if how == "chattr +i":
            subprocess.run(["chattr", "-i", str(path)], capture_output=True, check=False)
        elif how:
            path.chmod(0o755)


@contextlib.contextmanager
def deadline(seconds: float = 120.0) -> Iterator[None]:
    """Fail (instead of hanging the suite) if the block is still running after ``seconds``:
    a FIFO opened for reading blocks until a writer comes, and none ever does here."""
    def ring(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds:.0f} s: something blocked on a special file")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
