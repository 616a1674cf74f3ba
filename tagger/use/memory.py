"""Keeping a long-running process's memory flat: glibc's heap settings.

glibc raises its mmap threshold each time a large block is freed, so after a while the
batch tensors of every size come from the main heap, whose freed holes it seldom gives
back: peak RSS creeps up with the length of the stream. A fixed threshold keeps large
blocks in mmap, returned on free. Where it sits trades memory for speed, as blocks above it
are mapped afresh each time; tests/benchmarks/README.md has the thresholds measured.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
FIXED_THRESHOLD_BYTES = 1 << 20


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
