"""Process memory settings for the long-running processes (web workers and ``dostup worker``).

glibc's malloc raises its mmap threshold to the size of the largest block freed (up to 32 MiB on
64-bit).  After the first argon2id hash frees its 19 MiB working memory, every later one is carved
from a thread's arena instead of its own mapping, and an arena keeps what it once held: each
hashing thread then keeps 19 MiB resident for good, and an idle web process stays at its storm
peak.  A fixed threshold (which turns the adjustment off) maps every large block afresh and gives
it back when freed; small objects are unaffected.  Fewer arenas (two instead of eight per core)
keep the pool threads from each holding a partly used arena.  Measured in ``bench/memory.py``.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # mallopt parameters (glibc malloc.h)
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 1 << 20
ARENA_MAX = 2


def tune_malloc() -> bool:
    """Apply the settings above; False where the C library is not glibc (nothing changes there)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_ARENA_MAX, ARENA_MAX))
