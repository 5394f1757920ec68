"""Shared by the benchmarks: the dataset they measure (an existing folder, or `medium` generated for the run)."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retailsim.config import build_config
from retailsim.generate.runner import generate
from retailsim.storage.dataset import Dataset


@contextmanager
def medium_dataset(path: Path | None, *, workers: int, prefix: str, keep: bool = False) -> Iterator[Dataset]:
    """``path`` as a Dataset, or the `medium` preset generated into a temporary folder (deleted afterwards unless
    ``keep``); prints what it measures."""
    tmp: Path | None = None
    if path is None:
        tmp = Path(tempfile.mkdtemp(prefix=prefix))
        t0 = time.perf_counter()
        ds = generate(build_config("medium"), tmp / "medium", workers=workers)
        print(f"generated --preset medium in {time.perf_counter() - t0:.1f} s (not part of the timing)")
    else:
        ds = Dataset(path)
    print(
        f"dataset {ds.path}: {ds.rows('transaction_lines'):,} lines, {ds.rows('transactions'):,} transactions, "
        f"{ds.rows('customers'):,} customers"
    )
    try:
        yield ds
    finally:
        if tmp is not None and not keep:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp is not None:
            print(f"kept {tmp / 'medium'}")
