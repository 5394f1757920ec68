"""Byte-identical output for any worker count; atomic, refused-if-exists output; every format readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from retailsim.config import build_config
from retailsim.errors import OutputExistsError
from retailsim.generate.runner import LocalExecutor, generate
from retailsim.storage.dataset import Dataset
from retailsim.storage.manifest import HOLD_ENV


def _checksums(ds: Dataset) -> dict[str, str]:
    return {f["path"]: f["sha256"] for f in ds.manifest["files"]}


@pytest.mark.slow
def test_same_bytes_for_1_2_and_4_workers(tmp_path: Path, tiny_config) -> None:
    runs = [generate(tiny_config, tmp_path / f"w{w}", workers=w) for w in (1, 2, 4)]
    sums = [_checksums(r) for r in runs]
    assert sums[0] == sums[1] == sums[2]
    manifests = [(r.path / "manifest.json").read_bytes() for r in runs]
    assert manifests[0] == manifests[1] == manifests[2]
    # and the checksums are the bytes on disk
    from retailsim.storage.files import sha256_file

    for rel, digest in sums[0].items():
        assert sha256_file(runs[2].path / rel) == digest


def test_grouping_shards_into_tasks_changes_the_files_not_the_rows(
    tmp_path: Path, tiny_config, tiny_dataset: Dataset
) -> None:
    """``shards_per_task`` cuts the same rows into fewer or more files (the tiny preset groups 2 shards)."""
    from retailsim import schema

    for per_task in (1, 4):
        cfg = tiny_config.model_copy(update={"shards_per_task": per_task})
        other = generate(cfg, tmp_path / f"g{per_task}")
        assert len(other.files("customers")) == -(-4 // per_task) != len(tiny_dataset.files("customers"))
        for spec in (*schema.DATA_TABLES, schema.CUSTOMER_TRUTH):
            keys = [(k, "ascending") for k in spec.primary_key]
            ours, theirs = (ds.read(spec.name).sort_by(keys) for ds in (tiny_dataset, other))
            assert ours.num_rows > 0 and ours.equals(theirs), spec.name


def test_seed_changes_data(tmp_path: Path, tiny_dataset: Dataset) -> None:
    other = generate(build_config("tiny", sets=["seed=8"]), tmp_path / "s8")
    a, b = _checksums(tiny_dataset), _checksums(other)
    assert a["customers/part-00000.parquet"] != b["customers/part-00000.parquet"]


def test_existing_output_is_refused_unless_overwrite(tmp_path: Path, tiny_config) -> None:
    out = tmp_path / "ds"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError):
        generate(tiny_config, out)
    assert (out / "keep.txt").read_text() == "mine"
    ds = generate(tiny_config, out, overwrite=True)
    assert not (out / "keep.txt").exists() and ds.rows("customers") == 400


class _FailingExecutor(LocalExecutor):
    def map_unordered(self, tasks):
        for i, res in enumerate(super().map_unordered(tasks)):
            if i == 2:
                raise KeyboardInterrupt
            yield res


def test_interrupted_run_leaves_nothing(tmp_path: Path, tiny_config) -> None:
    with pytest.raises(KeyboardInterrupt):
        generate(tiny_config, tmp_path / "ds", executor=_FailingExecutor(1))
    assert list(tmp_path.iterdir()) == []


def test_a_write_failing_on_the_writer_thread_stops_the_run_and_leaves_nothing(
    tmp_path: Path, tiny_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One process writes each task on a thread while it simulates the next: a failure there must reach the
    caller as itself (not be lost with the thread) and the staged folder must go."""
    from retailsim.generate import shards

    real_write = shards.PreparedTask.write
    written: list[int] = []

    def failing_write(self: shards.PreparedTask) -> shards.TaskResult:
        if self.task == 1:
            raise OSError(28, "No space left on device")
        written.append(self.task)
        return real_write(self)

    monkeypatch.setattr(shards.PreparedTask, "write", failing_write)
    with pytest.raises(OSError, match="No space left"):
        generate(tiny_config, tmp_path / "ds", workers=1)
    assert list(tmp_path.iterdir()) == []
    assert -1 in written and 1 not in written


def _wait_for(
    what: str, found: Callable[[], bool], running: Callable[[], bool], timeout_s: float = 300
) -> None:
    """Poll for an event (a file appearing) with a bounded timeout; fail at once if the run ended."""
    deadline = time.monotonic() + timeout_s
    while not found():
        assert running(), f"the run ended before the {what}"
        assert time.monotonic() < deadline, f"no {what} after {timeout_s:.0f} s"
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kill_at", "workers"),
    [("first data file", 1), ("first data file", 2), ("manifest", 1), ("manifest", 2)],
)
def test_killed_process_never_leaves_a_complete_looking_folder(
    tmp_path: Path, kill_at: str, workers: int
) -> None:
    """SIGKILL the whole process group at a known point, never after a guessed delay: while shards are being
    written (the first data file is in the staging folder), or when every data file is written and the
    manifest is next (the writer waits there for the test: ``RETAILSIM_HOLD_BEFORE_MANIFEST``). A run that is
    held cannot finish first, however fast the machine."""
    runs = tmp_path / "runs"
    runs.mkdir()
    out, held = runs / "ds", tmp_path / "held"
    cmd = [sys.executable, "-m", "retailsim", "generate", "--preset", "small", "--out", str(out), "-q"]
    cmd += ["--workers", str(workers)]
    env = dict(os.environ, **{HOLD_ENV: str(held)})
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        if kill_at == "manifest":
            _wait_for("hold before the manifest", held.exists, lambda: proc.poll() is None)
            staging = Path(held.read_text(encoding="utf-8"))
            assert staging.parent == runs and any(staging.glob("transaction_lines/*/*.parquet"))
        else:
            _wait_for(
                "first data file",
                lambda: any(runs.glob(".ds.partial-*/*/*.parquet")),
                lambda: proc.poll() is None,
            )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not out.exists()
    leftovers = list(runs.iterdir())
    assert len(leftovers) <= 1
    for p in leftovers:  # only the hidden partial folder may remain, never with a manifest
        assert p.name.startswith(".ds.partial-") and not (p / "manifest.json").exists()


def test_the_manifest_hold_releases_and_the_run_completes(
    tmp_path: Path, tiny_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook the kill test relies on: the writer signals and waits while the file exists, then publishes."""
    import threading

    held, out = tmp_path / "held", tmp_path / "ds"
    monkeypatch.setenv(HOLD_ENV, str(held))
    worker = threading.Thread(target=generate, args=(tiny_config, out))
    worker.start()
    try:
        _wait_for("hold before the manifest", held.exists, worker.is_alive)
        assert not out.exists()  # held: nothing published yet
        staging = Path(held.read_text(encoding="utf-8"))
        assert staging.is_dir() and not (staging / "manifest.json").exists()
    finally:
        held.unlink(missing_ok=True)  # release
        worker.join()
    assert Dataset(out).rows("customers") == 400


@pytest.mark.parametrize("fmt", ["csv", "duckdb"])
def test_csv_and_duckdb_hold_the_same_rows(
    tmp_path: Path, tiny_config, tiny_dataset: Dataset, fmt: str
) -> None:
    ds = generate(tiny_config, tmp_path / fmt, fmt=fmt)  # type: ignore[arg-type]
    assert ds.format == fmt
    con_a, con_b = tiny_dataset.connect(), ds.connect()
    for t in ("stores", "customers", "transactions", "transaction_lines", "promotions"):
        q = f"SELECT count(*), sum(hash(*)) FROM (SELECT * FROM {t})"
        if t == "transaction_lines":
            q = "SELECT count(*), sum(line_amount)::DECIMAL(18,2), sum(quantity) FROM transaction_lines"
        elif t == "transactions":
            q = "SELECT count(*), sum(total_amount)::DECIMAL(18,2), min(txn_ts), max(txn_ts) FROM transactions"
        elif t in ("customers", "stores", "promotions"):
            q = f"SELECT count(*), count(DISTINCT {t[:-1] if t != 'customers' else 'customer'}_id) FROM {t}"
        assert con_a.execute(q).fetchall() == con_b.execute(q).fetchall(), t
    if fmt == "duckdb":
        assert (ds.path / "retailsim.duckdb").exists() and not (ds.path / "transactions").exists()
        assert (ds.path / "truth" / "customer_truth").exists()


@pytest.mark.slow
def test_csv_is_deterministic_across_workers(tmp_path: Path, tiny_config) -> None:
    a = generate(tiny_config, tmp_path / "a", fmt="csv", workers=1)
    b = generate(tiny_config, tmp_path / "b", fmt="csv", workers=2)
    assert _checksums(a) == _checksums(b)
