"""The result of a generation: images, their seeds, and the command lines that reproduce them."""

from __future__ import annotations

import io as _io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from .io import next_number, save_png_atomic


@dataclass
class Result:
    """What ``inpaint``/``outcrop``/``outpaint`` return.

    ``images[i]`` was made with ``seeds[i]``; ``commands[i]`` is the ``invoke>`` line
    that makes it again. ``paths`` lists files once :meth:`save` wrote them.
    """

    images: list[Image.Image]
    seeds: list[int]
    commands: list[str]
    request: Any = None
    metadata: list[dict[str, Any]] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    @property
    def image(self) -> Image.Image:
        """The first image (most calls make one)."""
        return self.images[0]

    def save(self, outdir: str | os.PathLike = "outputs/img-samples") -> list[Path]:
        """Write each image as ``NNNNNN.SEED.png`` with its command and parameters as metadata."""
        saved = []
        for i, (image, seed, command) in enumerate(zip(self.images, self.seeds, self.commands)):
            meta = dict(self.metadata[i]) if i < len(self.metadata) else {}
            meta.setdefault("command", command)
            meta.setdefault("seed", seed)
            while True:
                path = Path(outdir) / f"{next_number(outdir):06d}.{seed}.png"
                try:
                    saved.append(save_png_atomic(image, path, metadata=meta, command=command))
                    break
                except FileExistsError:  # pragma: no cover - another writer took the number
                    continue
        self.paths.extend(saved)
        return saved

    def _repr_png_(self) -> bytes:
        buffer = _io.BytesIO()
        self.images[0].save(buffer, format="PNG")
        return buffer.getvalue()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{im.width}x{im.height}" for im in self.images)
        return f"Result({len(self.images)} image(s) [{sizes}], seeds={self.seeds})"
