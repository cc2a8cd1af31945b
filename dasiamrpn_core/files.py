"""File helpers: digests (the checkpoint/weights checks, the ONNX export, the evaluation runs) and
where the shared data lives."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

HASH_CHUNK = 1 << 20   # bytes read at a time


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


SHARED_ENV = "DASIAMRPN_SHARED"


def shared_root(option: str | os.PathLike | None = None) -> Path | None:
    """The shared-data folder (``data/sequences``, ``reference``, ``peers``): ``option`` when given, else
    ``$DASIAMRPN_SHARED``, else None. Never guessed from where the code is installed."""
    if option is not None:
        return Path(option)
    value = os.environ.get(SHARED_ENV)
    return Path(value) if value else None


def require_shared(*parts: str, option: str | os.PathLike | None = None, flag: str = "--root") -> Path:
    """A path under the shared-data folder, or a ValueError saying how to give the folder."""
    root = shared_root(option)
    if root is None:
        raise ValueError(f"no shared-data folder: pass {flag} or set {SHARED_ENV} (the folder holding data/sequences)")
    return root.joinpath(*parts)
