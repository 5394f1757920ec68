"""Copy a complete dataset to any fsspec URL (``s3://``, ``gs://``, ``abfs://``, ``file://`` …), manifest last.

The generator writes to POSIX paths (a local disk, or a filesystem every Dask worker mounts at the same path),
because its atomicity rests on renaming a folder, which object stores cannot do. Publishing keeps the same
rule in another form: the data files are uploaded first, each checked by size, and ``manifest.json`` — the
file that makes a folder a complete dataset — goes up last. A copy interrupted half-way therefore never looks
complete, and a replaced dataset stops looking complete (its manifest is deleted) before any file changes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from pathlib import Path
from typing import Any

from retailsim.errors import RetailsimError
from retailsim.storage.dataset import Dataset
from retailsim.storage.manifest import MANIFEST

ProgressFn = Callable[[int, int], None]  # files done, files in all


class PublishError(RetailsimError):
    """The target URL is unusable, already holds a dataset, or a copy came out wrong."""


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs
    except ImportError:  # pragma: no cover - fsspec comes with dask
        raise PublishError("publishing needs fsspec: pip install fsspec (and s3fs, gcsfs or adlfs)") from None
    try:
        fs, root = url_to_fs(url)
    except (ImportError, ValueError) as err:
        raise PublishError(
            f"cannot open {url}: {err} (install the fsspec driver, e.g. s3fs for s3://)"
        ) from None
    return fs, root.rstrip("/")


def publish(
    dataset: Dataset | str | Path, url: str, *, overwrite: bool = False, on_progress: ProgressFn | None = None
) -> int:
    """Upload ``dataset`` to ``url``: every file its manifest lists, then the manifest.

    Parameters
    ----------
    dataset
        A complete dataset (any format).
    url
        Target folder as an fsspec URL or a local path.
    overwrite
        Replace a dataset already at ``url`` (its manifest is removed first, then its files).

    Returns
    -------
    int
        Number of files uploaded, the manifest included.

    Raises
    ------
    PublishError
        ``url`` already holds a dataset (without ``overwrite``), cannot be opened, or an upload's size differs.
    """
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    fs, root = _filesystem(url)
    target_manifest = posixpath.join(root, MANIFEST)
    if fs.exists(root):
        if not overwrite and fs.exists(target_manifest):
            raise PublishError(f"{url} already holds a dataset; pass --overwrite to replace it")
        if not overwrite and fs.ls(root):
            raise PublishError(f"{url} is not empty; pass --overwrite to replace what is there")
        if fs.exists(target_manifest):
            fs.rm(target_manifest)  # from here on the old copy no longer looks complete
        fs.rm(root, recursive=True)
    # one upload per distinct file (a DuckDB dataset lists its database file once per table)
    files: dict[str, int] = {}
    for f in ds.manifest["files"]:
        files[f["path"]] = max(files.get(f["path"], 0), int(f["bytes"]))
    total = len(files) + 1
    for i, (rel, size) in enumerate(sorted(files.items()), 1):
        remote = posixpath.join(root, rel)
        fs.makedirs(posixpath.dirname(remote), exist_ok=True)
        fs.put_file(str(ds.path / rel), remote)
        if size and fs.size(remote) != size:
            raise PublishError(f"upload of {rel} to {url} has {fs.size(remote)} bytes, expected {size}")
        if on_progress:
            on_progress(i, total)
    fs.put_file(str(ds.path / MANIFEST), target_manifest)  # last: now the copy is complete
    if on_progress:
        on_progress(total, total)
    return total
