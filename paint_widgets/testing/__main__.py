"""``python -m paint_widgets.testing DIR``: write the tiny models and print their paths (one a line)."""

from __future__ import annotations

import sys

from .all_models import write_tiny_models


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: python -m paint_widgets.testing DIR", file=sys.stderr)
        return 2
    for path in write_tiny_models(args[0]).values():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
