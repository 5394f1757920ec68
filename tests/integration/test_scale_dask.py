"""The same shards on a Dask LocalCluster: same bytes as the local executor, retried failures, atomic output."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from retailsim.cli import app
from retailsim.generate.runner import generate
from retailsim.generate.shards import Task, TaskResult, run_task
from retailsim.scale.dask_executor import (
    DaskExecutor,
    DaskExecutorError,
    TaskRunner,
    _check_worker_versions,
    open_executor,
)
from retailsim.scale.pgserver import free_port
from retailsim.storage.dataset import Dataset

pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

# The failure-injecting task wrappers below run inside Dask workers: send them by value, not by module name.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

runner = CliRunner()


def _manifest(ds: Dataset) -> bytes:
    return (ds.path / "manifest.json").read_bytes()


def _checksums(ds: Dataset) -> dict[str, str]:
    return {f["path"]: f["sha256"] for f in ds.manifest["files"]}


@pytest.fixture(scope="module")
def dask2() -> Iterator[DaskExecutor]:
    """One 2-worker LocalCluster for the module (it takes a few seconds to start)."""
    with DaskExecutor(workers=2, retries=2) as ex:
        ex.client  # noqa: B018 - start it now
        yield ex


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory: pytest.TempPathFactory, tiny_config) -> tuple[Dataset, Dataset]:
    root = tmp_path_factory.mktemp("local")
    return generate(tiny_config, root / "w1", workers=1), generate(tiny_config, root / "w2", workers=2)


def test_dask_writes_the_same_bytes_as_1_and_2_local_workers(
    tmp_path: Path, tiny_config, dask2: DaskExecutor, local_runs: tuple[Dataset, Dataset]
) -> None:
    w1, w2 = local_runs
    d2 = generate(tiny_config, tmp_path / "dask", executor=dask2)
    assert len(dask2.client.scheduler_info()["workers"]) == 2
    # every worker: pyarrow limited to one thread, glibc's adaptive malloc left alone (see _local_cluster)
    assert set(dask2.client.run(_worker_settings).values()) == {(1, None)}
    assert _manifest(w1) == _manifest(w2) == _manifest(d2)
    assert _checksums(d2) == _checksums(w1) and len(_checksums(d2)) > 10


def _worker_settings() -> tuple[int, str | None]:
    import pyarrow as pa

    return pa.cpu_count(), os.environ.get("MALLOC_TRIM_THRESHOLD_")


class KillWorkerOnce:
    """Task wrapper: the first time task ``task`` runs, it half-writes one of its files and then kills its
    own worker process (SIGKILL: no cleanup, no exception to retry — the nanny restarts the worker and the
    scheduler reschedules the task)."""

    def __init__(self, marker: str, task: int) -> None:
        self.marker, self.task = marker, task

    def __call__(self, task: Task) -> TaskResult:
        if task.task == self.task:
            try:
                fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(os.getpid()).encode())
                os.close(fd)
                part = Path(task.out_dir) / "customers" / f"part-{task.task:05d}.parquet"
                part.parent.mkdir(parents=True, exist_ok=True)
                part.write_bytes(b"PAR1 half a file")
                os.kill(os.getpid(), signal.SIGKILL)
        return run_task(task)


class RaiseOnce:
    """Task wrapper: the first run of task ``task`` raises (a flaky filesystem); Dask's retries rerun it."""

    def __init__(self, marker: str, task: int) -> None:
        self.marker, self.task = marker, task

    def __call__(self, task: Task) -> TaskResult:
        if task.task == self.task and not Path(self.marker).exists():
            Path(self.marker).write_text("raised")
            raise OSError("transient I/O error")
        return run_task(task)


def test_a_killed_worker_has_its_task_retried_and_output_is_identical(
    tmp_path: Path, tiny_config, dask2: DaskExecutor, local_runs: tuple[Dataset, Dataset]
) -> None:
    marker = tmp_path / "killed.pid"
    pids_before = set(dask2.client.run(os.getpid).values())
    ex = dask2.using(KillWorkerOnce(str(marker), task=1))
    ds = generate(tiny_config, tmp_path / "ds", executor=ex)
    killed = int(marker.read_text())
    assert killed in pids_before  # a real worker process died mid-task ...
    assert _manifest(ds) == _manifest(local_runs[0])  # ... and its task was rerun with the same bytes
    dask2.client.wait_for_workers(2, timeout=60)  # the nanny brought a fresh worker back


def test_a_task_that_raises_is_retried(
    tmp_path: Path, tiny_config, dask2: DaskExecutor, local_runs: tuple[Dataset, Dataset]
) -> None:
    marker = tmp_path / "raised"
    ex = dask2.using(RaiseOnce(str(marker), task=0))
    ds = generate(tiny_config, tmp_path / "ds", executor=ex)
    assert marker.exists() and _manifest(ds) == _manifest(local_runs[0])


def test_workers_with_another_retailsim_version_are_refused(
    dask2: DaskExecutor, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_worker_versions(dask2.client)  # same version: fine
    monkeypatch.setattr("retailsim.__version__", "0.0.0-client")
    with pytest.raises(DaskExecutorError, match=r"must run retailsim 0\.0\.0-client"):
        _check_worker_versions(dask2.client)


def test_a_worker_that_cannot_see_the_output_folder_fails_clearly(tmp_path: Path, tiny_config) -> None:
    task = Task(tiny_config.model_dump_json(), 0, str(tmp_path / "not-here"))
    with pytest.raises(DaskExecutorError, match="cannot see the output folder"):
        TaskRunner()(task)


def test_unreachable_scheduler_and_bad_executor_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("retailsim.scale.dask_executor.CONNECT_TIMEOUT_S", 1.0)
    addr = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(DaskExecutorError, match="cannot connect to the Dask scheduler"):
        DaskExecutor(addr).client  # noqa: B018
    out = str(tmp_path / "x")
    res = runner.invoke(
        app, ["generate", "--preset", "tiny", "--out", out, "--executor", "dask", "--scheduler", addr]
    )
    assert res.exit_code == 2 and "cannot connect" in res.output and "Traceback" not in res.output
    assert list(tmp_path.iterdir()) == []  # no output folder, not even a partial one
    for args, message in (
        (["--executor", "spark"], "--executor must be local or dask"),
        (["--scheduler", addr], "--scheduler needs --executor dask"),
    ):
        res = runner.invoke(app, ["generate", "--preset", "tiny", "--out", str(tmp_path / "y"), *args])
        assert res.exit_code == 2 and message in res.output, res.output
    with pytest.raises(DaskExecutorError), open_executor("ray"):
        pass


@pytest.mark.slow
def test_cli_generate_with_the_dask_executor(tmp_path: Path, local_runs: tuple[Dataset, Dataset]) -> None:
    out = tmp_path / "ds"
    res = runner.invoke(
        app,
        [
            "generate",
            "--preset",
            "tiny",
            "--seed",
            "7",
            "--out",
            str(out),
            "--executor",
            "dask",
            "--workers",
            "2",
        ],
    )
    assert res.exit_code == 0, res.output
    assert _manifest(Dataset(out)) == _manifest(local_runs[0])


class _InterruptAfter:
    """Executor wrapper: Ctrl-C after ``n`` shards came back, while the others are still running."""

    def __init__(self, inner: DaskExecutor, n: int) -> None:
        self.inner, self.n = inner, n

    def map_unordered(self, tasks: list[Task]) -> Iterator[TaskResult]:
        for i, res in enumerate(self.inner.map_unordered(tasks)):
            if i == self.n:
                raise KeyboardInterrupt
            yield res


def test_an_interrupted_dask_run_leaves_no_complete_looking_output(
    tmp_path: Path, tiny_config, dask2: DaskExecutor
) -> None:
    """Last test of the module: the interruption shuts down the module's LocalCluster."""
    import psutil

    out = tmp_path / "runs"
    out.mkdir()
    workers = [psutil.Process(pid) for pid in dask2.client.run(os.getpid).values()]
    with pytest.raises(KeyboardInterrupt):
        generate(tiny_config, out / "ds", executor=_InterruptAfter(dask2, 2))
    assert dask2._cluster is None  # the LocalCluster was shut down
    # no task keeps writing: wait for the worker processes to be gone (an event, not a guessed delay)
    _gone, alive = psutil.wait_procs(workers, timeout=120)
    assert not alive, f"worker processes still running after the interruption: {alive}"
    assert list(out.iterdir()) == []  # no output, not even the hidden partial folder
