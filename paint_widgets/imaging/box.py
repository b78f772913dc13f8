"""The one pixel rectangle type: :class:`Box` ``(top, left, bottom, right)``.

Every part of the package that names a rectangle of pixels uses it: a brush
stroke's dirty box, a mask's bounding box, the crop window around a mask, the part
of an outpaint canvas that keeps the picture, a widget's view box. One type with
one field order, because a ``(y0, y1, x0, x1)`` tuple passed where a
``(top, left, bottom, right)`` one is expected type-checks and silently crops the
wrong pixels.

It is a :class:`~typing.NamedTuple`, so it unpacks and compares like the plain
tuple ``(top, left, bottom, right)`` (``masks.bounding_box``'s order); use
:attr:`Box.slices` to index an array with it.
"""

from __future__ import annotations

from typing import NamedTuple


class Box(NamedTuple):
    """Rows ``top:bottom`` and columns ``left:right`` of an image (exclusive ends), in pixels."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def area(self) -> int:
        """Pixels inside (0 for an empty or inverted box)."""
        return max(self.height, 0) * max(self.width, 0)

    @property
    def is_empty(self) -> bool:
        return self.bottom <= self.top or self.right <= self.left

    @property
    def slices(self) -> tuple[slice, slice]:
        """``array[box.slices]`` is the part of an ``(H, W, ...)`` array inside the box."""
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def union(self, other: Box) -> Box:
        """The smallest box holding both."""
        return Box(
            min(self.top, other.top),
            min(self.left, other.left),
            max(self.bottom, other.bottom),
            max(self.right, other.right),
        )


__all__ = ["Box"]
