"""A small folder for batch tests: three 64x64 pictures, their masks, and a broken file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIDE = 64
NAMES = ("a", "b", "c")


def picture(i: int) -> np.ndarray:
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    return np.stack([xx * 4, yy * 4, (xx + yy) * 2 + 40 * i], axis=-1).astype(np.uint8)


def keep_mask() -> np.ndarray:
    """``-M`` convention: white = keep, black = paint (a 32x32 square in the middle)."""
    mask = np.full((SIDE, SIDE), 255, np.uint8)
    mask[16:48, 16:48] = 0
    return mask


@pytest.fixture
def folder(tmp_path: Path) -> dict[str, Path]:
    """``{"inputs", "masks", "bad"}``: three good images (a, b, c) with masks, and ``b_broken.png``."""
    inputs, masks = tmp_path / "in", tmp_path / "masks"
    inputs.mkdir()
    masks.mkdir()
    for i, name in enumerate(NAMES):
        Image.fromarray(picture(i)).save(inputs / f"{name}.png")
        Image.fromarray(keep_mask()).save(masks / f"{name}.png")
    bad = inputs / "b_broken.png"
    bad.write_bytes(b"this is not a png")
    Image.fromarray(keep_mask()).save(masks / "b_broken.png")
    (inputs / "README.txt").write_text("not an image")
    return {"inputs": inputs, "masks": masks, "bad": bad}


@pytest.fixture
def ftp(tmp_path: Path):
    """A real FTP server on 127.0.0.1 (pyftpdlib, in a thread) serving a fresh folder.

    Yields ``(url, root)``: ``ftp://127.0.0.1:PORT`` and the folder it serves, so a
    test can put inputs there and look at what the batch wrote. Anonymous login with
    write permission (a test server reachable only from this machine).
    """
    import logging
    import threading
    import warnings

    pytest.importorskip("pyftpdlib", reason="the FTP tests need pyftpdlib (a test dependency)")
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    root = tmp_path / "ftp-root"
    root.mkdir()
    authorizer = DummyAuthorizer()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "write permissions assigned to anonymous user"
        authorizer.add_anonymous(str(root), perm="elradfmwMT")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer, "banner": "paint_widgets test"})
    server = ThreadedFTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"timeout": 0.2}, daemon=True)
    thread.start()
    url = f"ftp://127.0.0.1:{server.address[1]}"
    try:
        yield url, root
    finally:
        from paint_widgets.batching import storage

        storage.forget(url)  # this thread's connection to it
        server.close_all()
        thread.join(timeout=10)

