"""File digests shared by the checkpoint/weights checks, the ONNX export and the evaluation runs."""
from __future__ import annotations

import hashlib
import os

HASH_CHUNK = 1 << 20   # bytes read at a time


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
