"""The storage port for files (uploaded logs, firmware images) and its local-folder adapter.

An S3-compatible store fits the same four operations (put a finished temp file, open, size, delete);
docs/maintenance.md says how. Keys are relative paths made only of safe characters.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import BinaryIO, Protocol

_SAFE = re.compile(r"^[A-Za-z0-9._=:+@\-]+(/[A-Za-z0-9._=:+@\-]+)*$")


def safe_name(name: str, default: str = "upload.bin") -> str:
    """A file name a station sent, reduced to safe characters (no directories)."""
    base = os.path.basename(name.replace("\\", "/")).strip()
    cleaned = re.sub(r"[^A-Za-z0-9._\-]", "_", base)[:200].lstrip(".")
    return cleaned or default


class FileStorage(Protocol):
    def put(self, key: str, source: Path) -> None: ...
    def open(self, key: str) -> BinaryIO: ...
    def path(self, key: str) -> Path | None: ...
    def size(self, key: str) -> int: ...
    def delete(self, key: str) -> None: ...


class LocalFolderStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / ".incoming").mkdir(exist_ok=True)

    def incoming(self) -> Path:
        """A folder on the same file system for temp files, so `put` is a rename."""
        return self.root / ".incoming"

    def _where(self, key: str) -> Path:
        if not _SAFE.match(key) or ".." in key.split("/"):
            raise ValueError(f"unsafe storage key {key!r}")
        return self.root / key

    def put(self, key: str, source: Path) -> None:
        target = self._where(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), target)

    def open(self, key: str) -> BinaryIO:
        return self._where(key).open("rb")

    def path(self, key: str) -> Path | None:
        return self._where(key)

    def size(self, key: str) -> int:
        return self._where(key).stat().st_size

    def delete(self, key: str) -> None:
        self._where(key).unlink(missing_ok=True)
