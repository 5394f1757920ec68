"""Open a dataset folder (generated or imported, any format) and query it with DuckDB."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from retailsim import schema
from retailsim.errors import DatasetError
from retailsim.storage.manifest import read_manifest

DUCKDB_FILE = "retailsim.duckdb"

if TYPE_CHECKING:
    import duckdb


def _sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


class Dataset:
    """A complete dataset folder: its manifest, its tables and a DuckDB view of each table.

    Parameters
    ----------
    path
        Folder written by ``retailsim generate`` or ``retailsim import``.

    Raises
    ------
    DatasetError
        When the folder is missing or has no manifest (an incomplete or interrupted output).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest: dict[str, Any] = read_manifest(self.path)

    def __repr__(self) -> str:
        rows = {t: v["rows"] for t, v in self.manifest["tables"].items()}
        return f"Dataset({str(self.path)!r}, format={self.format!r}, rows={rows})"

    @property
    def format(self) -> str:
        return str(self.manifest["format"])

    @property
    def kind(self) -> str:
        """``generated`` or ``imported``."""
        return str(self.manifest.get("kind", "generated"))

    @property
    def tables(self) -> list[str]:
        return list(self.manifest["tables"])

    def has(self, table: str) -> bool:
        return table in self.manifest["tables"]

    def absent_columns(self, table: str) -> set[str]:
        """Columns a dataset does not really have (an imported log without stores, say): they exist in the
        files, typed by the schema, but hold only nulls. Listed in the manifest under ``absent``."""
        return set(self.manifest.get("absent", {}).get(table, []))

    def has_column(self, table: str, column: str) -> bool:
        return self.has(table) and column not in self.absent_columns(table)

    def rows(self, table: str) -> int:
        return int(self.manifest["tables"].get(table, {}).get("rows", 0))

    @cached_property
    def config(self) -> Any:
        """The :class:`~retailsim.config.SimConfig` a generated dataset was made with (None if imported)."""
        from retailsim.config import SimConfig

        cfg = self.manifest.get("config")
        return SimConfig.model_validate(cfg) if cfg else None

    def files(self, table: str) -> list[Path]:
        return [self.path / f["path"] for f in self.manifest["files"] if f["table"] == table]

    def _source_sql(self, table: str) -> str:
        spec = schema.table(table)
        files = self.files(table)
        if not files:
            raise DatasetError(f"{self.path}: table {table!r} is not in this dataset")
        if files[0].suffix == ".duckdb":
            return f'SELECT * FROM rs_db."{table}"'
        listing = "[" + ", ".join(_sql_str(str(f)) for f in files) + "]"
        if files[0].suffix == ".parquet":
            return f"SELECT * FROM read_parquet({listing}, hive_partitioning = false)"
        cols = (
            "{"
            + ", ".join(
                f"{_sql_str(c.name)}: {_sql_str(schema.to_duckdb_type(c.type))}" for c in spec.columns
            )
            + "}"
        )
        return (
            f"SELECT * FROM read_csv({listing}, header = true, auto_detect = false, columns = {cols}, "
            f"timestampformat = '%Y-%m-%d %H:%M:%S', dateformat = '%Y-%m-%d')"
        )

    def connect(self, con: duckdb.DuckDBPyConnection | None = None) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with one view per table of the dataset (truth tables included)."""
        import duckdb  # imported when a dataset is queried, not on the generate path

        con = con or duckdb.connect()
        if any(f["path"].endswith(".duckdb") for f in self.manifest["files"]):
            con.execute(f"ATTACH {_sql_str(str(self.path / DUCKDB_FILE))} AS rs_db (READ_ONLY)")
        for t in self.tables:
            con.execute(f'CREATE OR REPLACE VIEW "{t}" AS {self._source_sql(t)}')
        return con

    def read(self, table: str, columns: list[str] | None = None) -> pa.Table:
        """A whole table as Arrow (small tables; query large ones through :meth:`connect`)."""
        cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        con = self.connect()
        try:
            return con.sql(f'SELECT {cols} FROM "{table}"').to_arrow_table()
        finally:
            con.close()


def open_dataset(path: str | Path) -> Dataset:
    """Open the dataset folder at ``path``."""
    return Dataset(path)
