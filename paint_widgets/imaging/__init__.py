"""Pixel work with numpy, Pillow and OpenCV only (never torch).

Conventions: masks are ``(H, W)``; ``float32`` in [0, 1] for soft masks and
``bool`` for hard ones, with ``1.0 / True = paint here``. Images are ``uint8``
``(H, W, 3)`` or ``(H, W, 4)``.
"""
