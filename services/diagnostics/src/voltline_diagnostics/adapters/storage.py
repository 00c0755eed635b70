"""The local-folder adapter of the file storage port (service_layer.maintenance_ports.FileStorage).

An S3-compatible store fits the same four operations (put a finished temp file, open, size, delete);
docs/maintenance.md says how. Keys are relative paths made only of safe characters.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import BinaryIO

from voltline_diagnostics.domain.file_names import safe_name
from voltline_diagnostics.service_layer.maintenance_ports import FileStorage

__all__ = ["FileStorage", "LocalFolderStorage", "safe_name"]

_SAFE = re.compile(r"^[A-Za-z0-9._=:+@\-]+(/[A-Za-z0-9._=:+@\-]+)*$")


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
