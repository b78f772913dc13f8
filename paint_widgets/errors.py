"""One exception hierarchy for everything a user can get wrong.

Every message says what was wrong and what to do. The magic and the console
script print ``str(error)`` on one line; the widgets show it in place.
"""

from __future__ import annotations


class PaintError(Exception):
    """Base class of every error paint_widgets raises on purpose."""


class InvalidInputError(PaintError, ValueError):
    """A parameter, image or mask that cannot be used as given."""


class ImageLoadError(InvalidInputError):
    """A file that is not a readable image (missing, truncated, not an image, too large)."""


class MaskError(InvalidInputError):
    """A mask that does not fit the image or selects nothing to paint."""


class ModelLoadError(PaintError):
    """A model that cannot be found or loaded (missing folder, corrupt file, pickle refused)."""


class GenerationError(PaintError):
    """Generation failed; the manager is still usable."""


class OutOfMemoryError(GenerationError):
    """The device ran out of memory; memory was released and the next call can go on."""


class CancelledError(GenerationError):
    """Generation was cancelled by the user."""


class CommandError(PaintError):
    """A command line that cannot be parsed (unknown switch, bad value)."""


class OutputError(PaintError):
    """An output that cannot be written (read-only folder, path outside the output folder)."""


class PromptTruncatedWarning(UserWarning):
    """A prompt longer than the text encoder takes (77 tokens for CLIP): the end was dropped."""


class OutputExistsError(OutputError, FileExistsError):
    """The output file already exists; outputs are never overwritten (a writer may take the next number)."""
