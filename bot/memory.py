"""Giving the memory start-up freed back to the operating system.

Start-up builds and drops a good deal (each module's top-level code once run, the policies' parsing, the
directory file), and glibc's allocator keeps most of what is freed in its heap for later allocations.
`malloc_trim(0)`, once the served application has started, returns those free pages: about 1.4 MB of an
idle process's resident memory (docs/PERFORMANCE.md, *Memory*). Elsewhere than glibc (musl, macOS,
Windows) there is no `malloc_trim` and nothing is done.
"""

from __future__ import annotations

import ctypes
import sys


def release_free_memory() -> bool:
    """Ask glibc to return the free memory at the top and inside of its heaps; True if it was asked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # The process's own symbols, the C library's among them; only glibc has malloc_trim.
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    trim(0)
    return True
