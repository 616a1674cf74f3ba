"""Files written durably (flushed to disk before they count as written), the primitives the
model directory's atomic saves are built from."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import torch


def umask() -> int:
    """The process's umask (reading it means setting it; it is set back at once)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def link_or_copy(source: Path, target: Path) -> None:
    """Give `source` a second name: unlike a move, it is never missing; a copy where the file
    system has no hard links."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def write_tensors(path: Path, data: dict) -> bytes:
    """Write `data` as torch.save would, durably; returns the bytes written."""
    buffer = io.BytesIO()
    torch.save(data, buffer)
    content = buffer.getvalue()
    with path.open("wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())
    return content


def write_json(path: Path, data: dict) -> None:
    """Write `data` as indented UTF-8 JSON, durably."""
    with path.open("w", encoding="utf-8") as file:
        json.dump(data, file, indent=2, ensure_ascii=False)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())
