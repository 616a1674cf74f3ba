"""Files written durably (flushed to disk before they count as written), the primitives the
model directory's atomic saves are built from, and whole files replaced atomically."""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import shutil
import tempfile
from pathlib import Path


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
    import torch

    buffer = io.BytesIO()
    torch.save(data, buffer)
    content = buffer.getvalue()
    write_bytes(path, content)
    return content


def write_bytes(path: Path, content: bytes) -> None:
    """Write `content` to `path`, durably."""
    with path.open("wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())


def write_json_gz(path: Path, data: dict) -> bytes:
    """Write `data` as compact UTF-8 JSON, gzip-compressed (with no time stamp: the same data
    gives the same bytes), durably; returns the bytes written."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    content = gzip.compress(text, compresslevel=9, mtime=0)
    write_bytes(path, content)
    return content


def write_json(path: Path, data: dict) -> None:
    """Write `data` as indented UTF-8 JSON, durably."""
    with path.open("w", encoding="utf-8") as file:
        json.dump(data, file, indent=2, ensure_ascii=False)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())


def _replaceable(path: Path) -> Path:
    """The file that writing `path` replaces: a symbolic link's target (the link stays a link).
    Only a regular file is replaced: a device, a pipe or a directory there is never swapped for one."""
    target = Path(path).resolve() if Path(path).is_symlink() else Path(path)
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if target.exists() and not target.is_file():
        raise OSError(errno.EINVAL, "not a regular file", str(path))
    return target


def check_can_replace(path: Path) -> None:
    """Check, by writing there, that `write_text_replacing` can put a file at `path`: its
    directory exists and takes new files, and what is there now is a regular file or nothing.
    Raises OSError."""
    path = _replaceable(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(descriptor)
    os.unlink(temporary)


def write_text_replacing(path: Path, text: str) -> None:
    """Write `text` to `path` as UTF-8, durably and atomically: a reader sees the old file or
    the new one whole, never a part. Raises OSError."""
    path = _replaceable(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(descriptor, 0o666 & ~umask())  # mkstemp's file is private; a report is as any file written
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
