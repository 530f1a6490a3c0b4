"""Process memory settings for the long-running processes (web workers and ``dostup worker``).

glibc's malloc adjusts its mmap threshold to the largest block freed: after the first argon2id
hash frees its 19 MiB working memory, later ones are carved from a thread's arena, which keeps
what it once held, so an idle web process stayed at its storm peak.  Mapping every large block
afresh instead (a fixed 1 MiB threshold, tried first) gives each back at once but makes every hash
fault in and zero 19 MiB again: an argon2id verify took 36 ms instead of 23-25 ms here, and
sign-in throughput fell below its target (``bench/run.py`` T2, T3).  So blocks up to 32 MiB come
from the arenas and stay there while hashes follow one another (a fixed threshold and a high trim
threshold: no per-hash mapping or trimming), and :func:`give_back` returns the arenas' free memory
to the system once hashing has been idle for a while (``credentials.password.PasswordHasher``).
Fewer arenas (two instead of eight per core) keep the pool threads from each holding a partly
used arena.  Measured in ``bench/memory.py`` and ``bench/run.py``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache
from typing import Any

M_TRIM_THRESHOLD = -1  # mallopt parameters (glibc malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's maximum: argon2id's 19 MiB stays in the arenas
TRIM_THRESHOLD_BYTES = 64 << 20  # no trim when a hash frees its block: give_back() trims
ARENA_MAX = 2


@lru_cache(maxsize=1)
def _libc() -> Any | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc


def tune_malloc() -> bool:
    """Apply the settings above; False where the C library is not glibc (nothing changes there)."""
    libc = _libc()
    if libc is None:
        return False
    return all(libc.mallopt(param, value) for param, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES), (M_ARENA_MAX, ARENA_MAX)))


def give_back() -> bool:
    """Return the free memory of every arena to the system (``malloc_trim``); False where not glibc."""
    libc = _libc()
    return bool(libc is not None and libc.malloc_trim(0))
