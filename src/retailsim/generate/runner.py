"""Run the task plan with an executor and publish the dataset atomically."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from retailsim import schema
from retailsim.config import SimConfig
from retailsim.generate import GENERATOR_VERSION
from retailsim.generate.process import init_worker
from retailsim.generate.shards import Task, TaskResult, plan, prepare_task, run_task
from retailsim.storage.atomic import staged_folder
from retailsim.storage.dataset import DUCKDB_FILE, Dataset
from retailsim.storage.files import FileRecord, sha256_file
from retailsim.storage.manifest import build_manifest, write_manifest

if TYPE_CHECKING:
    from retailsim.quality.defects import DefectSpec

OutputFormat = Literal["parquet", "csv", "duckdb"]
ProgressFn = Callable[[TaskResult], None]


class Executor(Protocol):
    """Runs generator tasks and yields their results in any order."""

    def map_unordered(self, tasks: list[Task]) -> Iterable[TaskResult]: ...


class LocalExecutor:
    """``workers`` local processes (in-process when 1)."""

    def __init__(self, workers: int = 1) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.workers = workers

    def map_unordered(self, tasks: list[Task]) -> Iterator[TaskResult]:
        if self.workers == 1:
            yield from _simulate_while_writing(tasks)
            return
        pool = ProcessPoolExecutor(max_workers=self.workers, initializer=init_worker)
        try:
            pending = {pool.submit(run_task, t) for t in tasks}
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _simulate_while_writing(tasks: list[Task]) -> Iterator[TaskResult]:
    """One process: a thread writes a task's files (pyarrow, zstd and hashing release the GIL) while the
    next task is simulated. At most one task waits to be written, so memory stays at about two tasks."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="retailsim-writer") as writer:
        pending: Future[TaskResult] | None = None
        for task in tasks:
            prepared = prepare_task(task)
            if pending is not None:
                yield pending.result()
            pending = writer.submit(prepared.write)
        if pending is not None:
            yield pending.result()


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def generate(
    config: SimConfig,
    out: str | Path,
    *,
    fmt: OutputFormat = "parquet",
    workers: int = 1,
    overwrite: bool = False,
    executor: Executor | None = None,
    on_progress: ProgressFn | None = None,
    defects: DefectSpec | str | None = None,
) -> Dataset:
    """Simulate ``config`` and write the dataset to ``out`` atomically.

    Parameters
    ----------
    config
        A validated :class:`SimConfig`.
    out
        Output folder; refused if it exists unless ``overwrite``.
    fmt
        ``parquet`` (zstd, transactions partitioned by month), ``csv`` or ``duckdb`` (one database file).
    workers
        Local processes; the output is byte-identical for any value.
    executor
        Alternative executor (e.g. Dask); defaults to :class:`LocalExecutor`.
    defects
        Inject labelled defects after the clean data is written (``rate=0.01[,kinds=…]`` or a
        :class:`~retailsim.quality.defects.DefectSpec`); the truth goes to ``truth/defects.parquet``.
        Parquet and CSV only (DuckDB tables enforce keys and NOT NULL).

    Returns
    -------
    Dataset
        The published dataset.
    """
    out = Path(out)
    if defects is not None:  # validate before any work, so a bad spec leaves no output
        from retailsim.errors import ConfigError
        from retailsim.quality.defects import DefectSpec

        if fmt == "duckdb":
            raise ConfigError(
                "--defects needs --format parquet or csv (DuckDB tables enforce keys and NOT NULL)"
            )
        defects = DefectSpec.parse(defects) if isinstance(defects, str) else defects.validated()
        defects.kinds_for(fmt)
    executor = executor or LocalExecutor(workers)
    file_fmt: Literal["parquet", "csv"] = "parquet" if fmt == "duckdb" else fmt
    started = time.perf_counter()
    with staged_folder(out, overwrite=overwrite) as tmp:
        tasks = plan(config, tmp, file_fmt)
        files: list[FileRecord] = []
        for res in executor.map_unordered(tasks):
            # tasks may have run elsewhere: paths are relative to the root they were given
            files.extend(res.files)
            if on_progress:
                on_progress(res)
        extra_defects: dict[str, object] = {}
        if defects is not None:  # labelled damage, after the clean data is complete (quality issue)
            from retailsim.quality.defects import inject_defects

            files, extra_defects["defects"] = inject_defects(config, tmp, files, defects, file_fmt)
        if fmt == "duckdb":
            files = _to_duckdb(tmp, files)
        manifest = build_manifest(
            files,
            fmt=fmt,
            kind="generated",
            extra={
                "generator_version": GENERATOR_VERSION,
                "seed": config.seed,
                "horizon": {"start": config.horizon.start.isoformat(), "end": config.horizon.end.isoformat()},
                "shards": config.n_shards,
                "tasks": config.n_tasks,
                "config": config.model_dump(mode="json"),
                **extra_defects,
            },
        )
        write_manifest(tmp, manifest)
    ds = Dataset(out)
    ds.manifest["_elapsed_s"] = time.perf_counter() - started
    return ds


def _to_duckdb(root: Path, files: list[FileRecord]) -> list[FileRecord]:
    """Load the data tables into one DuckDB file (typed from the schema, with primary keys); keep truth."""
    import duckdb  # only the duckdb format needs it: keep it off the Parquet/CSV path

    db = root / DUCKDB_FILE
    con = duckdb.connect(str(db))
    try:
        for spec in schema.DATA_TABLES:
            parts = sorted(str(root / f.path) for f in files if f.table == spec.name)
            if not parts:
                continue
            con.execute(schema.to_ddl(spec))
            listing = "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in parts) + "]"
            con.execute(
                f'INSERT INTO "{spec.name}" SELECT * FROM read_parquet({listing}, hive_partitioning = false)'
            )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    kept: list[FileRecord] = []
    data_names = {t.name for t in schema.DATA_TABLES}
    for f in files:
        if f.table in data_names:
            (root / f.path).unlink()
        else:
            kept.append(f)
    for spec in schema.DATA_TABLES:
        d = root / spec.name
        if d.exists():
            shutil.rmtree(d)
    present = sorted({f.table for f in files if f.table in data_names})
    size, digest = db.stat().st_size, sha256_file(db)
    # one record per table, all naming the database file (its bytes counted once)
    kept += [
        FileRecord(DUCKDB_FILE, t, sum(f.rows for f in files if f.table == t), size if i == 0 else 0, digest)
        for i, t in enumerate(present)
    ]
    return kept
