"""`retailsim publish`: a dataset copied to an fsspec URL, manifest last (tested with file:// and memory://)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from retailsim.cli import app
from retailsim.scale.publish import PublishError, publish
from retailsim.storage.dataset import Dataset
from retailsim.storage.files import sha256_file

fsspec = pytest.importorskip("fsspec")
runner = CliRunner()


def test_publish_to_a_file_url_gives_an_identical_dataset(tmp_path: Path, tiny_dataset: Dataset) -> None:
    target = tmp_path / "published"
    n = publish(tiny_dataset, f"file://{target}")
    copy = Dataset(target)
    assert n == len({f["path"] for f in copy.manifest["files"]}) + 1
    assert (target / "manifest.json").read_bytes() == (tiny_dataset.path / "manifest.json").read_bytes()
    for f in copy.manifest["files"]:
        assert sha256_file(target / f["path"]) == f["sha256"]
    assert copy.connect().execute("SELECT count(*) FROM transaction_lines").fetchone()[0] == copy.rows(
        "transaction_lines"
    )
    with pytest.raises(PublishError, match="already holds a dataset"):
        publish(tiny_dataset, f"file://{target}")
    res = runner.invoke(app, ["publish", str(tiny_dataset.path), f"file://{target}", "--overwrite"])
    assert res.exit_code == 0 and "published" in res.output, res.output


def test_an_interrupted_publish_never_looks_complete(tiny_dataset: Dataset) -> None:
    url = "memory://retailsim-test/interrupted"
    fs = fsspec.filesystem("memory")

    def stop_half_way(done: int, total: int) -> None:
        if done == total // 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        publish(tiny_dataset, url, on_progress=stop_half_way)
    assert fs.ls("/retailsim-test/interrupted") and not fs.exists("/retailsim-test/interrupted/manifest.json")
    # a later publish refuses the leftovers unless told to replace them, then completes
    with pytest.raises(PublishError, match="not empty"):
        publish(tiny_dataset, url)
    publish(tiny_dataset, url, overwrite=True)
    assert fs.exists("/retailsim-test/interrupted/manifest.json")
    fs.rm("/retailsim-test", recursive=True)


def test_unknown_protocol_is_a_clear_error(tiny_dataset: Dataset) -> None:
    res = runner.invoke(app, ["publish", str(tiny_dataset.path), "nosuchproto://bucket/x"])
    assert res.exit_code == 2 and "nosuchproto" in res.output and "Traceback" not in res.output
