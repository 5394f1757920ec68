"""Serialising Arrow tables to Parquet (zstd) or CSV, returning the bytes' SHA-256 as they are written."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from retailsim import schema

FileFormat = Literal["parquet", "csv"]
EXTENSIONS: dict[str, str] = {"parquet": ".parquet", "csv": ".csv"}


@dataclass(frozen=True)
class FileRecord:
    """One written file: path relative to the dataset root, table, rows, bytes and SHA-256."""

    path: str
    table: str
    rows: int
    bytes: int
    sha256: str


def labels(codes: np.ndarray, values: tuple[str, ...]) -> pa.Array:
    """A string column from integer codes into a small pool of values, without a Python loop."""
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(values, pa.string())).cast(
        pa.string()
    )


def month_slices(ts: pa.Array | pa.ChunkedArray) -> list[tuple[str, int, int]]:
    """``(YYYY-MM, start, stop)`` of each month's rows in time-ordered timestamps: the ``month=YYYY-MM``
    partitions of a table."""
    months = ts.to_numpy().astype("datetime64[M]")
    if len(months) == 0:
        return []
    bounds = np.r_[0, np.flatnonzero(months[1:] != months[:-1]) + 1, len(months)]
    return [(str(months[a]), int(a), int(z)) for a, z in itertools.pairwise(bounds)]


def serialise(table: pa.Table, fmt: FileFormat, table_name: str | None = None) -> bytes:
    """The bytes of ``table`` as Parquet (zstd; encodings and statistics as :func:`parquet_options` says) or
    CSV."""
    sink = pa.BufferOutputStream()
    if fmt == "parquet":
        pq.write_table(
            table,
            sink,
            compression="zstd",
            row_group_size=1_000_000,
            **parquet_options(table, table_name),
        )
    else:
        # spreadsheet-friendly timestamps: whole seconds, no fraction
        for i, f in enumerate(table.schema):
            if pa.types.is_timestamp(f.type):
                table = table.set_column(i, f.name, table.column(i).cast(pa.timestamp("s")))
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=True, quoting_style="needed"))
    return sink.getvalue().to_pybytes()


class ParquetOptions(TypedDict):
    use_dictionary: bool | list[str]
    column_encoding: dict[str, str] | None
    write_statistics: bool | list[str]


def parquet_options(table: pa.Table, table_name: str | None) -> ParquetOptions:
    """How each column is written (``pyarrow.parquet.write_table`` arguments). A table of the schema gets a
    dictionary on :meth:`~retailsim.schema.TableSpec.dictionary_columns`, the
    :meth:`~retailsim.schema.TableSpec.column_encodings` and statistics on
    :meth:`~retailsim.schema.TableSpec.statistics_columns` (as Parquet leaf paths); any other table gets
    pyarrow's defaults: a dictionary and statistics on every column."""
    spec = schema.TABLES.get(table_name) if table_name else None
    if spec is None or table.column_names != spec.column_names:
        return {"use_dictionary": True, "column_encoding": None, "write_statistics": True}

    def leaves(names: list[str]) -> bool | list[str]:
        if len(names) == len(spec.columns):
            return True
        keep = set(names)
        return [
            f"{f.name}.list.element" if pa.types.is_list(f.type) else f.name
            for f in table.schema
            if f.name in keep
        ]

    return {
        "use_dictionary": leaves(spec.dictionary_columns()),
        "column_encoding": spec.column_encodings() or None,
        "write_statistics": leaves(spec.statistics_columns()),
    }


def write_table(table: pa.Table, root: Path, relpath: str, table_name: str, fmt: FileFormat) -> FileRecord:
    """Write ``table`` to ``root/relpath`` and describe the file."""
    data = serialise(table, fmt, table_name)
    target = root / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return FileRecord(relpath, table_name, table.num_rows, len(data), hashlib.sha256(data).hexdigest())


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
