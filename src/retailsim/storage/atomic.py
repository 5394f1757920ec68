"""Atomic output folders: build in a hidden sibling folder, then rename into place."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from retailsim.errors import OutputExistsError


def check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise OutputExistsError(f"output folder {out} already exists; pass --overwrite to replace it")


@contextlib.contextmanager
def staged_folder(out: Path, *, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success swap it into place, on any error remove it.

    The temporary folder is hidden (``.name.partial-…``) and never holds a manifest until the very end, so
    an interrupted run (Ctrl-C, kill) never leaves a folder that looks complete under the requested name.
    """
    out = out.resolve()
    check_target(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            out.replace(old)
            tmp.replace(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.replace(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
