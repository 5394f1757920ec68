"""Setting up the processes of the local pool (:class:`~retailsim.generate.runner.LocalExecutor`).

They only run generator tasks, so they may trade generality for speed where the caller's process must not.
"""

from __future__ import annotations

import ctypes
import importlib.abc
import sys

import numpy as np
import pyarrow as pa


def init_worker() -> None:
    """Set up a process of the local pool: it runs generator tasks one at a time, one process per core."""
    # stop pyarrow from starting its own thread pools in every worker
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    _arrow_without_pandas()
    _reuse_freed_memory()


def _reuse_freed_memory() -> None:
    """Let glibc keep freed memory for the next shard instead of returning it to the system.

    numpy gets every temporary above 128 KiB (most arrays of a shard) from ``mmap`` and returns it on free, so
    each shard faults its pages in again: 0.5-0.8 CPU-s of kernel time per 10M lines (measured). With the
    thresholds raised (``mallopt``, as the ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` variables
    would), freed blocks are reused; a worker's resident memory stays at its peak until the pool ends. No-op
    outside glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's maximum (blocks above it are still mapped)
    mallopt(m_trim_threshold, 1 << 30)


def _arrow_without_pandas() -> None:
    """Keep pandas (~0.3 s to import) out of a generator worker. pyarrow imports it on the first conversion
    from or to numpy only to look for pandas objects and pandas types, and the generator has none.

    pyarrow tries that import once per process (in its Python pandas shim and in its C++ conversion code) and
    remembers a failure; this makes both first tries fail. Nothing breaks: pyarrow works as it does where
    pandas is not installed, imports pandas again when asked for a pandas result (``to_pandas``), and
    ``import pandas`` works as usual afterwards. Only in processes the pool starts (never the caller's
    process) and only while pandas is not imported yet.
    """
    if "pandas" in sys.modules:
        return
    blocker = _NoPandas()
    sys.meta_path.insert(0, blocker)
    try:
        pa.array(np.zeros(1))  # the shim's first (and only) try
        pa.array(["x"]).to_numpy(zero_copy_only=False)  # the C++ conversion's
    finally:
        sys.meta_path.remove(blocker)


class _NoPandas(importlib.abc.MetaPathFinder):
    """An import finder that makes ``import pandas`` fail (see :func:`_arrow_without_pandas`)."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname == "pandas" or fullname.startswith("pandas."):
            raise ImportError("pandas is not needed in a generator worker")
        return None
