"""File names stations and operators send, made safe to store."""

from __future__ import annotations

import os
import re


def safe_name(name: str, default: str = "upload.bin") -> str:
    """A file name a station sent, reduced to safe characters (no directories)."""
    base = os.path.basename(name.replace("\\", "/")).strip()
    cleaned = re.sub(r"[^A-Za-z0-9._\-]", "_", base)[:200].lstrip(".")
    return cleaned or default
