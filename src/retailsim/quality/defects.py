"""Labelled defect injection: ``retailsim generate … --defects rate=0.01[,kinds=…]``.

After the clean data of every task is written (and before the manifest), a share ``rate`` of the rows of
each data table is damaged — or a damaged copy is added — with one of the defect kinds the data-quality rules
can catch, and every damaged or added row is recorded in ``truth/defects.parquet`` (table, row key, column,
kind, before → after, file). The same config, seed and spec give the same defects for any worker count:
victims are drawn with :func:`retailsim.rng.stream` ``(seed, "defects", task)``, one task's files at a time (the
dimension tables use index ``n_shards``, never a task's).

Defects are made *independent*: each damages exactly the rows the truth names and nothing else — a
transaction and its lines carry at most one defect between them; a quantity change updates the header's item
count; a move in time picks a transaction without promoted lines whose products were already launched; a
duplicate keeps its original; parents of relational defects are left intact. So a perfect checker finds the
truth, no more, no less (the recall/precision test).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from retailsim import schema
from retailsim.config import SimConfig
from retailsim.errors import ConfigError
from retailsim.generate.shards import TXN_ID_BLOCK, task_shards
from retailsim.rng import stream
from retailsim.storage.files import FileFormat, FileRecord, write_table

KINDS: tuple[str, ...] = schema.DEFECT_KINDS
CSV_ONLY = ("unparseable_cell",)
TRUTH_PATH = "truth/defects.parquet"
DAY_MS = 86_400_000

#: Where each kind can strike: table → kind → candidate columns (None: the whole row).
TARGETS: dict[str, dict[str, tuple[str | None, ...]]] = {
    "stores": {
        "missing_required": ("store_name", "format", "opened_date"),
        "invalid_category": ("format",),
        "duplicate_row": (None,),
        "city_region_mismatch": ("region",),
        "encoding_damage": ("store_name",),
        "future_date": ("opened_date",),
        "unparseable_cell": ("size_sqm", "latitude", "opened_date"),
    },
    "products": {
        "missing_required": ("product_name", "brand", "list_price"),
        "invalid_sku": ("sku",),
        "bad_price": ("list_price",),
        "cost_above_price": ("unit_cost",),
        "encoding_damage": ("product_name", "brand"),
        "duplicate_row": (None,),
        "unparseable_cell": ("list_price", "unit_cost", "is_private_label"),
    },
    "promotions": {
        "orphan_key": ("product_id",),
        "duplicate_row": (None,),
    },
    "customers": {
        "missing_required": ("signup_date",),
        "invalid_email": ("email",),
        "invalid_phone": ("phone",),
        "invalid_category": ("gender", "signup_channel"),
        "bad_age": ("birth_date",),
        "orphan_key": ("home_store_id",),
        "duplicate_row": (None,),
        "future_date": ("signup_date",),
        "city_region_mismatch": ("region",),
        "encoding_damage": ("first_name", "last_name", "street_address"),
        "unparseable_cell": ("birth_date", "signup_date", "marketing_opt_in"),
    },
    "transactions": {
        "missing_required": ("channel", "store_id", "txn_ts"),
        "invalid_category": ("channel", "payment_method"),
        "orphan_key": ("customer_id",),
        "duplicate_row": (None,),
        "duplicate_transaction": (None,),
        "future_timestamp": ("txn_ts",),
        "before_signup": ("txn_ts",),
        "before_store_opening": ("txn_ts",),
        "totals_mismatch": ("total_amount", "discount_amount", "n_items", "n_lines"),
        "unparseable_cell": ("n_items", "total_amount", "txn_ts"),
    },
    "transaction_lines": {
        "missing_required": ("unit_price",),
        "bad_quantity": ("quantity",),
        "bad_price": ("unit_price",),
        "bad_discount": ("discount_pct",),
        "orphan_key": ("product_id", "promotion_id", "txn_id"),
        "duplicate_row": (None,),
        "before_product_launch": ("product_id",),
        "promotion_out_of_window": ("promotion_id",),
        "discount_above_price": ("discount_amount",),
        "unparseable_cell": ("unit_price", "discount_pct"),
    },
}

#: Rule ids (prefixes) expected to catch each kind; used by the recall test to check *why* a row was caught.
EXPECTED_RULES: dict[str, tuple[str, ...]] = {
    "missing_required": (".not_null",),
    "invalid_email": ("customers.email.pattern",),
    "invalid_phone": ("customers.phone.pattern",),
    "invalid_sku": ("products.sku.pattern",),
    "invalid_category": (".allowed",),
    "bad_quantity": ("transaction_lines.quantity.range",),
    "bad_price": (".unit_price.range", ".list_price.range"),
    "bad_discount": ("transaction_lines.discount_pct.range",),
    "bad_age": ("customers.age.range",),
    "orphan_key": (".fk",),
    "duplicate_row": (".pk.unique",),
    "duplicate_transaction": ("transactions.duplicate",),
    "future_timestamp": ("transactions.txn_ts.not_future",),
    "future_date": (".not_future",),
    "before_signup": ("transactions.after_signup",),
    "before_store_opening": ("transactions.after_store_opening",),
    "before_product_launch": ("transaction_lines.after_product_launch",),
    "promotion_out_of_window": ("transaction_lines.promotion.in_window",),
    "totals_mismatch": ("transactions.",),
    "discount_above_price": ("transaction_lines.discount_amount.not_above_price",),
    "cost_above_price": ("products.unit_cost.not_above_price",),
    "city_region_mismatch": (".region.matches_city",),
    "encoding_damage": (".text.encoding",),
    "unparseable_cell": (".cells.parse",),
}


@dataclass(frozen=True)
class DefectSpec:
    """How many defects and of which kinds.

    Attributes
    ----------
    rate
        Share of the rows of each table that get a defect (0 < rate ≤ 0.5).
    kinds
        Kinds to inject (default: every kind that applies to the output format).
    """

    rate: float
    kinds: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, text: str) -> DefectSpec:
        """Parse ``rate=0.01`` or ``rate=0.01,kinds=bad_quantity+orphan_key`` (kinds also ``,``-separated).

        Raises
        ------
        ConfigError
            On an unknown key or kind, or a rate outside (0, 0.5].
        """
        rate: float | None = None
        kinds: list[str] = []
        key = ""
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            k, sep, v = part.partition("=")
            if sep:
                key = k.strip()
                if key == "rate":
                    try:
                        rate = float(v)
                    except ValueError:
                        raise ConfigError(f"--defects rate must be a number (got {v!r})") from None
                elif key == "kinds":
                    kinds += [x for x in v.replace("+", " ").replace("|", " ").split() if x]
                else:
                    raise ConfigError(f"--defects: unknown key {key!r}; allowed: rate, kinds")
            elif key == "kinds":
                kinds += [x for x in part.replace("+", " ").replace("|", " ").split() if x]
            else:
                raise ConfigError(f"--defects expects rate=R[,kinds=K1+K2]; got {text!r}")
        if rate is None:
            raise ConfigError(f"--defects needs rate=R (e.g. rate=0.01); got {text!r}")
        return cls(rate, tuple(kinds) or None).validated()

    def validated(self) -> DefectSpec:
        if not 0 < self.rate <= 0.5:
            raise ConfigError(f"--defects rate must be in (0, 0.5] (got {self.rate})")
        unknown = [k for k in self.kinds or () if k not in KINDS]
        if unknown:
            raise ConfigError(f"--defects: unknown kind(s) {', '.join(unknown)}; allowed: {', '.join(KINDS)}")
        return self

    def kinds_for(self, fmt: str) -> tuple[str, ...]:
        chosen = self.kinds or tuple(k for k in KINDS if fmt == "csv" or k not in CSV_ONLY)
        if fmt != "csv" and any(k in CSV_ONLY for k in chosen):
            raise ConfigError("--defects kinds=unparseable_cell needs --format csv (Parquet cells are typed)")
        return chosen

    def to_dict(self) -> dict[str, object]:
        return {"rate": self.rate, "kinds": list(self.kinds) if self.kinds else None}


# --------------------------------------------------------------------------------------------------------
# one table of one task, loaded for editing
# --------------------------------------------------------------------------------------------------------


@dataclass
class Truth:
    rows: dict[str, list[pa.Array]] = field(default_factory=lambda: defaultdict(list))

    def add(
        self, table: str, keys: pa.Array, column: str | None, kind: str, detail: pa.Array, files: pa.Array
    ) -> None:
        n = len(keys)
        if n == 0:
            return
        self.rows["table_name"].append(pa.array(np.full(n, table, dtype=object), pa.string()))
        self.rows["row_key"].append(keys.cast(pa.string()))
        self.rows["column"].append(pa.array(np.full(n, column, dtype=object), pa.string()))
        self.rows["kind"].append(pa.array(np.full(n, kind, dtype=object), pa.string()))
        self.rows["detail"].append(detail.cast(pa.string()))
        self.rows["file"].append(files.cast(pa.string()))

    def table(self) -> pa.Table:
        sch = schema.DEFECTS_TRUTH.arrow_schema()
        if not self.rows:
            return sch.empty_table()
        cols = [pa.concat_arrays(self.rows[f.name]) for f in sch]
        t = pa.Table.from_arrays(cols, schema=sch)
        return t.sort_by([("table_name", "ascending"), ("row_key", "ascending")])


class Editable:
    """The rows of one table from one or more files: edit columns at positions, append rows, write back."""

    def __init__(self, name: str, root: Path, records: list[FileRecord], fmt: FileFormat) -> None:
        self.name = name
        self.spec = schema.table(name)
        self.root, self.fmt = root, fmt
        self.records = sorted(records, key=lambda r: r.path)
        parts = [_read(root / r.path, self.spec, fmt) for r in self.records]
        self.t = pa.concat_tables(parts) if parts else self.spec.arrow_schema().empty_table()
        self.file = (
            np.concatenate([np.full(p.num_rows, i) for i, p in enumerate(parts)])
            if parts
            else np.zeros(0, int)
        )
        self.n0 = self.t.num_rows
        self.used = np.zeros(self.n0, bool)
        self.text_cols: set[str] = set()  # columns turned into text by an unparseable cell
        self.changed = False

    @property
    def n(self) -> int:
        return self.t.num_rows

    def col(self, name: str) -> pa.Array:
        return self.t.column(name).combine_chunks()

    def np(self, name: str) -> np.ndarray:
        a = self.col(name)
        if pa.types.is_timestamp(a.type):
            return a.cast(pa.int64()).to_numpy(zero_copy_only=False)
        if pa.types.is_date32(a.type):
            return a.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
        return a.to_numpy(zero_copy_only=False)

    def set(self, name: str, idx: np.ndarray, values: pa.Array | None) -> None:
        """Replace ``name`` at rows ``idx`` (ascending) with ``values`` (None: NULL)."""
        if len(idx) == 0:
            return
        order = np.argsort(idx, kind="stable")
        idx = idx[order]
        arr = self.col(name)
        values = (
            pa.nulls(len(idx), arr.type) if values is None else values.take(pa.array(order)).cast(arr.type)
        )
        mask = np.zeros(self.n, bool)
        mask[idx] = True
        new = pc.replace_with_mask(arr, pa.array(mask), values)
        self.t = self.t.set_column(self.t.schema.get_field_index(name), self.t.schema.field(name), new)
        self.changed = True

    def set_text(self, name: str, idx: np.ndarray, values: pa.Array) -> None:
        """Write unparseable text into a typed column (it becomes a text column of this table's files)."""
        arr = self.col(name)
        if pa.types.is_timestamp(arr.type):
            arr = arr.cast(pa.timestamp("s"), safe=False)
        text = arr.cast(pa.string())
        i = self.t.schema.get_field_index(name)
        self.t = self.t.set_column(i, pa.field(name, pa.string(), nullable=True), text)
        self.text_cols.add(name)
        self.set(name, idx, values)

    def append(self, rows: pa.Table, files: np.ndarray) -> np.ndarray:
        """Append rows (typed like this table) to files; return their positions."""
        start = self.n
        self.t = pa.concat_tables([self.t, rows.cast(self.t.schema)])
        self.file = np.concatenate([self.file, files])
        self.used = np.concatenate([self.used, np.ones(rows.num_rows, bool)])
        self.changed = True
        return np.arange(start, self.n)

    def keys(self, idx: np.ndarray) -> pa.Array:
        cols = [self.col(k).take(pa.array(idx)).cast(pa.string()) for k in self.spec.primary_key]
        if len(cols) == 1:
            return cols[0]
        return pc.binary_join_element_wise(*cols, "|")

    def paths(self, idx: np.ndarray) -> pa.Array:
        names = np.array([r.path for r in self.records], dtype=object)
        return pa.array(names[self.file[idx]], pa.string())

    def write(self) -> list[FileRecord]:
        if not self.changed:
            return list(self.records)
        out = []
        order = np.argsort(self.file, kind="stable")
        bounds = np.searchsorted(self.file[order], np.arange(len(self.records) + 1))
        for i, rec in enumerate(self.records):
            part = self.t.take(pa.array(order[bounds[i] : bounds[i + 1]]))
            # the schema's types; a required column holding a (injected) NULL is stored as nullable
            fields = [
                pa.field(
                    c.name,
                    pa.string() if c.name in self.text_cols else c.type,
                    nullable=c.nullable or c.name in self.text_cols or part.column(c.name).null_count > 0,
                )
                for c in self.spec.columns
            ]
            part = part.cast(pa.schema(fields))
            out.append(write_table(part, self.root, rec.path, self.name, self.fmt))
        return out


def _read(path: Path, spec: schema.TableSpec, fmt: FileFormat) -> pa.Table:
    if fmt == "parquet":
        return pq.read_table(path).cast(spec.arrow_schema())
    types = {c.name: c.type for c in spec.columns}
    t = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False, null_values=[""]
        ),
    )
    return t.select(spec.column_names).cast(spec.arrow_schema())


def _txt(a: pa.Array | np.ndarray) -> pa.Array:
    arr = a if isinstance(a, pa.Array) else pa.array(a)
    if pa.types.is_timestamp(arr.type):
        arr = arr.cast(pa.timestamp("s"), safe=False)
    return pc.fill_null(arr.cast(pa.string()), "NULL")


def _arrow_like(values: np.ndarray, like: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(like):
        return pa.array(values.astype(np.int64), pa.int64()).cast(like)
    if pa.types.is_date32(like):
        return pa.array(values.astype(np.int32), pa.int32()).cast(like)
    return pa.array(values).cast(like)


def _detail(before: pa.Array, after: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(_txt(before), _txt(after), " → ")


# --------------------------------------------------------------------------------------------------------
# the injector
# --------------------------------------------------------------------------------------------------------


class Injector:
    """Damages the tables of a freshly written dataset; records every damaged row."""

    def __init__(self, config: SimConfig, root: Path, fmt: FileFormat, spec: DefectSpec) -> None:
        self.cfg, self.root, self.fmt, self.spec = config, root, fmt, spec
        self.kinds = spec.kinds_for(fmt)
        self.truth = Truth()
        self.as_of_day = (config.horizon.end - dt.date(1970, 1, 1)).days
        self.start_day = (config.horizon.start - dt.date(1970, 1, 1)).days
        self.counts: dict[str, int] = defaultdict(int)
        from retailsim.generate import reference

        cities = reference.load_cities(config.customers.locale)
        self.known_pairs = set(
            np.char.add(np.char.add(cities.city.astype(str), "|"), cities.region.astype(str)).tolist()
        )
        self.regions = np.unique(cities.region.astype(str))
        # state shared across tasks (filled by the dimension pass)
        self.bad_stores: np.ndarray = np.zeros(0, np.int64)
        self.bad_products: np.ndarray = np.zeros(0, np.int64)
        self.opened_days: np.ndarray = np.full(1, -(10**9), np.int64)
        self.product_launch: np.ndarray = np.zeros(0, np.int64)
        self.promos: dict[str, np.ndarray] = {}

    # ---------------------------------------------------------------- helpers
    def plan(self, rng: np.random.Generator, table: str, n: int) -> dict[str, int]:
        """How many rows of each kind (binomial total, kinds uniform among those that apply)."""
        kinds = [k for k in TARGETS.get(table, {}) if k in self.kinds]
        if not kinds or n == 0:
            return {}
        total = int(rng.binomial(n, self.spec.rate))
        pick = rng.integers(0, len(kinds), size=total)
        return {k: int((pick == i).sum()) for i, k in enumerate(kinds)}

    def choose(self, rng: np.random.Generator, ed: Editable, eligible: np.ndarray, k: int) -> np.ndarray:
        pool = np.flatnonzero(eligible & ~ed.used[: len(eligible)])
        k = min(k, len(pool))
        if k == 0:
            return np.zeros(0, np.int64)
        idx = np.sort(rng.choice(pool, size=k, replace=False))
        ed.used[idx] = True
        return idx

    def record(self, ed: Editable, idx: np.ndarray, column: str | None, kind: str, detail: pa.Array) -> None:
        if len(idx):
            self.truth.add(ed.name, ed.keys(idx), column, kind, detail, ed.paths(idx))
            self.counts[kind] += len(idx)

    def columns(self, rng: np.random.Generator, table: str, kind: str, k: int) -> np.ndarray:
        cols = np.array(TARGETS[table][kind], dtype=object)
        return cols[rng.integers(0, len(cols), size=k)]

    # ---------------------------------------------------------------- generic kinds
    def missing(self, rng: np.random.Generator, ed: Editable, k: int, eligible: np.ndarray) -> None:
        idx = self.choose(rng, ed, eligible, k)
        cols = self.columns(rng, ed.name, "missing_required", len(idx))
        for c in np.unique(cols):
            sel = idx[cols == c]
            before = ed.col(c).take(pa.array(sel))
            ed.set(c, sel, None)
            self.record(ed, sel, c, "missing_required", _detail(before, pa.nulls(len(sel), pa.string())))

    def invalid_category(self, rng: np.random.Generator, ed: Editable, k: int, eligible: np.ndarray) -> None:
        bad = {
            "format": "kiosk",
            "gender": "X",
            "signup_channel": "fax",
            "channel": "catalogue",
            "payment_method": "bitcoin",
        }
        idx = self.choose(rng, ed, eligible & self._not_null(ed, TARGETS[ed.name]["invalid_category"]), k)
        cols = self.columns(rng, ed.name, "invalid_category", len(idx))
        for c in np.unique(cols):
            sel = idx[cols == c]
            before = ed.col(c).take(pa.array(sel))
            after = pa.array(np.full(len(sel), bad[c], dtype=object), pa.string())
            ed.set(c, sel, after)
            self.record(ed, sel, c, "invalid_category", _detail(before, after))

    def _not_null(self, ed: Editable, cols: tuple[str | None, ...]) -> np.ndarray:
        ok = np.ones(ed.n0, bool)
        for c in cols:
            if c is not None:
                ok &= ~np.asarray(ed.col(c).slice(0, ed.n0).is_null().to_numpy(zero_copy_only=False))
        return ok

    def encoding(self, rng: np.random.Generator, ed: Editable, k: int, eligible: np.ndarray) -> None:
        cols_all = TARGETS[ed.name]["encoding_damage"]
        idx = self.choose(rng, ed, eligible & self._not_null(ed, cols_all), k)
        cols = self.columns(rng, ed.name, "encoding_damage", len(idx))
        for c in np.unique(cols):
            sel = idx[cols == c]
            before = ed.col(c).take(pa.array(sel))
            half = len(sel) // 2
            mojibake = pc.utf8_replace_slice(before.slice(0, half), start=1, stop=2, replacement="Ã©")
            replaced = pc.utf8_replace_slice(before.slice(half), start=1, stop=1, replacement="\ufffd")
            after = pa.concat_arrays([mojibake, replaced])
            ed.set(c, sel, after)
            self.record(ed, sel, c, "encoding_damage", _detail(before, after))

    def duplicate(
        self, rng: np.random.Generator, ed: Editable, k: int, eligible: np.ndarray, *, other_file: bool
    ) -> None:
        idx = self.choose(rng, ed, eligible, k)
        if not len(idx):
            return
        files = ed.file[idx]
        nfiles = len(ed.records)
        if other_file and nfiles > 1:  # a copy in another file of the same table ("duplicated across files")
            files = (files + rng.integers(1, nfiles, size=len(idx))) % nfiles
        ed.append(ed.t.take(pa.array(idx)), files)
        self.record(
            ed, idx, None, "duplicate_row", pa.array(np.full(len(idx), "exact copy added", dtype=object))
        )

    def city_region(self, rng: np.random.Generator, ed: Editable, k: int, eligible: np.ndarray) -> None:
        if len(self.regions) < 2:
            return
        idx = self.choose(rng, ed, eligible & self._not_null(ed, ("city", "region")), k)
        if not len(idx):
            return
        city = ed.col("city").take(pa.array(idx)).to_numpy(zero_copy_only=False).astype(str)
        new = self.regions[rng.integers(0, len(self.regions), size=len(idx))]
        for _ in range(20):  # redraw where the new region also has a city of that name
            clash = np.isin(np.char.add(np.char.add(city, "|"), new), list(self.known_pairs))
            if not clash.any():
                break
            new[clash] = self.regions[rng.integers(0, len(self.regions), size=int(clash.sum()))]
        ok = ~np.isin(np.char.add(np.char.add(city, "|"), new), list(self.known_pairs))
        ed.used[idx[~ok]] = False
        idx, new = idx[ok], new[ok]
        before = ed.col("region").take(pa.array(idx))
        after = pa.array(new.astype(object), pa.string())
        ed.set("region", idx, after)
        self.record(ed, idx, "region", "city_region_mismatch", _detail(before, after))

    def unparseable(self, rng: np.random.Generator, ed: Editable, k: int, eligible: np.ndarray) -> None:
        idx = self.choose(rng, ed, eligible, k)
        cols = self.columns(rng, ed.name, "unparseable_cell", len(idx))
        for c in np.unique(cols):
            sel = idx[cols == c]
            typ = ed.spec.column(c).type
            before = ed.col(c).take(pa.array(sel))
            n = len(sel)
            if pa.types.is_date(typ):
                d = before.cast(pa.date32())
                text = pc.strftime(d.cast(pa.timestamp("s")), format="%d/%m/%Y")
            elif pa.types.is_timestamp(typ):
                text = pc.strftime(before.cast(pa.timestamp("s"), safe=False), format="%d.%m.%Y %H:%M")
            elif pa.types.is_floating(typ):
                text = pc.replace_substring(_txt(before), ".", ",")
                text = pc.if_else(
                    pc.match_substring(text, ","), text, pc.binary_join_element_wise(text, ",5", "")
                )
            elif pa.types.is_boolean(typ):
                text = pa.array(np.full(n, "maybe", dtype=object), pa.string())
            else:
                text = pc.binary_join_element_wise(_txt(before), pa.array(np.full(n, "x", dtype=object)), "")
            ed.set_text(c, sel, text)
            self.record(ed, sel, c, "unparseable_cell", _detail(before, text))

    # ---------------------------------------------------------------- dimensions
    def dimensions(self, eds: dict[str, Editable]) -> None:
        rng = stream(self.cfg.seed, "defects", self.cfg.n_shards)
        st, pr, pm = eds.get("stores"), eds.get("products"), eds.get("promotions")
        if pm is not None:
            self.promos = {
                "id": pm.np("promotion_id"),
                "start": pm.np("start_date"),
                "end": pm.np("end_date"),
                "store": np.nan_to_num(
                    pm.col("store_id").cast(pa.float64()).to_numpy(zero_copy_only=False), nan=-1
                ),
            }
        if st is not None:
            sid = st.np("store_id")
            self.opened_days = np.full(int(sid.max()) + 1, -(10**9), np.int64)
            self.opened_days[sid] = st.np("opened_date")
            self._dim(rng, st)
            self.bad_stores = st.np("store_id")[: st.n0][st.used[: st.n0]]
        if pr is not None:
            ids = pr.np("product_id")
            self.product_launch = np.full(int(ids.max()) + 1 if len(ids) else 1, 10**9, np.int64)
            self.product_launch[ids] = pr.np("launch_date")
            self._dim(rng, pr)
            self.bad_products = ids[pr.used[: pr.n0]]
        if pm is not None:
            self._dim(rng, pm)

    def _dim(self, rng: np.random.Generator, ed: Editable) -> None:
        plan = self.plan(rng, ed.name, ed.n0)
        all_rows = np.ones(ed.n0, bool)
        for kind, k in plan.items():
            if k == 0:
                continue
            if kind == "missing_required":
                self.missing(rng, ed, k, all_rows)
            elif kind == "invalid_category":
                self.invalid_category(rng, ed, k, all_rows)
            elif kind == "duplicate_row":
                self.duplicate(rng, ed, k, all_rows, other_file=False)
            elif kind == "city_region_mismatch":
                self.city_region(rng, ed, k, all_rows)
            elif kind == "encoding_damage":
                self.encoding(rng, ed, k, all_rows)
            elif kind == "unparseable_cell":
                self.unparseable(rng, ed, k, all_rows)
            elif kind == "future_date":  # a planned store: added with an opening date after the as-of day
                tmpl = self.choose(rng, ed, all_rows, k)
                new = ed.t.take(pa.array(tmpl))
                start = int(ed.np("store_id").max()) + 1
                ids = np.arange(start, start + len(tmpl))
                days = self.as_of_day + rng.integers(1, 400, size=len(tmpl))
                new = new.set_column(0, "store_id", pa.array(ids, pa.int32()))
                i = new.schema.get_field_index("opened_date")
                new = new.set_column(i, "opened_date", _arrow_like(days, pa.date32()))
                pos = ed.append(new, ed.file[tmpl])
                self.record(ed, pos, "opened_date", "future_date", _txt(_arrow_like(days, pa.date32())))
            elif kind == "invalid_sku":
                idx = self.choose(rng, ed, all_rows, k)
                before = ed.col("sku").take(pa.array(idx))
                after = pc.utf8_lower(before)
                half = len(idx) // 2
                after = pa.concat_arrays(
                    [after.slice(0, half), pc.replace_substring(before.slice(half), "-", "")]
                )
                ed.set("sku", idx, after)
                self.record(ed, idx, "sku", "invalid_sku", _detail(before, after))
            elif kind == "bad_price":
                idx = self.choose(rng, ed, all_rows, k)
                before = ed.col("list_price").take(pa.array(idx))
                after = rng.choice(np.array([0.0, -1.99, 7999.99, 12500.0]), size=len(idx))
                ed.set("list_price", idx, pa.array(after))
                self.record(ed, idx, "list_price", "bad_price", _detail(before, pa.array(after)))
            elif kind == "cost_above_price":
                idx = self.choose(rng, ed, all_rows, k)
                price = ed.np("list_price")[idx]
                before = ed.col("unit_cost").take(pa.array(idx))
                after = np.round(price * rng.uniform(1.05, 1.6, size=len(idx)) + 0.01, 2)
                ed.set("unit_cost", idx, pa.array(after))
                self.record(ed, idx, "unit_cost", "cost_above_price", _detail(before, pa.array(after)))
            elif (
                kind == "orphan_key" and ed.name == "promotions"
            ):  # a promotion of a product that does not exist
                tmpl = self.choose(rng, ed, all_rows, k)
                new = ed.t.take(pa.array(tmpl))
                start = int(ed.np("promotion_id").max()) + 1
                new = new.set_column(
                    0, "promotion_id", pa.array(np.arange(start, start + len(tmpl)), pa.int32())
                )
                bad = 9_000_000 + np.arange(len(tmpl))
                new = new.set_column(1, "product_id", pa.array(bad, pa.int32()))
                pos = ed.append(new, ed.file[tmpl])
                self.record(ed, pos, "product_id", "orphan_key", _txt(pa.array(bad)))

    # ---------------------------------------------------------------- tasks (customers, transactions, lines)
    def task(self, s: int, cu: Editable | None, tx: Editable | None, li: Editable | None) -> None:
        rng = stream(self.cfg.seed, "defects", s)
        bad_customers = np.zeros(0, np.int64)
        if cu is not None:
            self.signups = (cu.np("customer_id").copy(), cu.np("signup_date").copy())
            self._customers(rng, cu, tx)
            bad_customers = cu.np("customer_id")[: cu.n0][cu.used[: cu.n0]]
        if tx is not None and li is not None:
            # new keys go above every key of the task's files: into the id block of its last shard
            last_shard = task_shards(self.cfg, s)[-1]
            self._transactions(rng, last_shard, tx, li, cu, bad_customers)
            self._lines(rng, last_shard, tx, li)

    def _customers(self, rng: np.random.Generator, cu: Editable, tx: Editable | None) -> None:
        ids = cu.np("customer_id")
        buyers = np.unique(tx.np("customer_id")) if tx is not None else np.zeros(0)
        no_txn = ~np.isin(ids, buyers)
        all_rows = np.ones(cu.n0, bool)
        for kind, k in self.plan(rng, "customers", cu.n0).items():
            if k == 0:
                continue
            if kind == "missing_required":
                self.missing(rng, cu, k, all_rows)
            elif kind == "invalid_category":
                self.invalid_category(rng, cu, k, all_rows)
            elif kind == "duplicate_row":
                self.duplicate(rng, cu, k, all_rows, other_file=False)
            elif kind == "city_region_mismatch":
                self.city_region(rng, cu, k, all_rows)
            elif kind == "encoding_damage":
                self.encoding(rng, cu, k, all_rows)
            elif kind == "unparseable_cell":
                self.unparseable(rng, cu, k, all_rows)
            elif kind == "invalid_email":
                idx = self.choose(rng, cu, self._not_null(cu, ("email",)), k)
                before = cu.col("email").take(pa.array(idx))
                variants = [
                    lambda a: pc.replace_substring(a, "@", "@@"),
                    lambda a: pc.replace_substring(a, "@", " at "),
                    lambda a: pc.replace_substring_regex(a, r"\.[a-z]+$", ""),
                    lambda a: pc.replace_substring(a, ".", " "),
                ]
                after = self._variants(rng, before, variants)
                cu.set("email", idx, after)
                self.record(cu, idx, "email", "invalid_email", _detail(before, after))
            elif kind == "invalid_phone":
                idx = self.choose(rng, cu, all_rows, k)
                before = cu.col("phone").take(pa.array(idx))
                after = pa.array(
                    rng.choice(
                        np.array(["call me", "12", "555-CALL-NOW", "n/a"], dtype=object), size=len(idx)
                    )
                )
                cu.set("phone", idx, after)
                self.record(cu, idx, "phone", "invalid_phone", _detail(before, after))
            elif kind == "bad_age":
                idx = self.choose(rng, cu, all_rows, k)
                before = cu.col("birth_date").take(pa.array(idx))
                young = rng.random(len(idx)) < 0.5
                years = np.where(young, rng.uniform(2, 14, len(idx)), rng.uniform(92, 115, len(idx)))
                days = (self.as_of_day - years * 365.25).astype(np.int64)
                after = _arrow_like(days, pa.date32())
                cu.set("birth_date", idx, after)
                self.record(cu, idx, "birth_date", "bad_age", _detail(before, after))
            elif kind == "orphan_key":
                idx = self.choose(rng, cu, all_rows, k)
                before = cu.col("home_store_id").take(pa.array(idx))
                after = pa.array(900_000 + rng.integers(0, 1000, len(idx)), pa.int32())
                cu.set("home_store_id", idx, after)
                self.record(cu, idx, "home_store_id", "orphan_key", _detail(before, after))
            elif (
                kind == "future_date"
            ):  # only customers without transactions: theirs would be "before signup"
                idx = self.choose(rng, cu, no_txn, k)
                before = cu.col("signup_date").take(pa.array(idx))
                after = _arrow_like(self.as_of_day + rng.integers(1, 400, len(idx)), pa.date32())
                cu.set("signup_date", idx, after)
                self.record(cu, idx, "signup_date", "future_date", _detail(before, after))

    def _variants(
        self, rng: np.random.Generator, before: pa.Array, fns: list[Callable[[pa.Array], pa.Array]]
    ) -> pa.Array:
        which = rng.integers(0, len(fns), size=len(before))
        out = before
        for i, fn in enumerate(fns):
            mask = pa.array(which == i)
            out = pc.if_else(mask, fn(before), out)
        return out

    def _transactions(
        self,
        rng: np.random.Generator,
        s: int,
        tx: Editable,
        li: Editable,
        cu: Editable | None,
        bad_customers: np.ndarray,
    ) -> None:
        n = tx.n0
        tid = tx.np("txn_id")
        order = np.argsort(tid, kind="stable")
        line_pos = order[np.searchsorted(tid[order], li.np("txn_id"))]  # header row of each line
        has_promo = (
            np.bincount(
                line_pos,
                weights=~li.col("promotion_id").is_null().to_numpy(zero_copy_only=False),
                minlength=n,
            )
            > 0
        )
        launch = self.product_launch[np.minimum(li.np("product_id"), len(self.product_launch) - 1)]
        max_launch = np.full(n, -(10**9), np.int64)
        np.maximum.at(max_launch, line_pos, launch)
        self.unit_used = np.zeros(n, bool)
        self.line_pos = line_pos
        self.h = {c: tx.np(c).copy() for c in ("n_items", "total_amount", "discount_amount", "txn_ts")}
        ts = tx.np("txn_ts")
        day = ts // DAY_MS
        tod = ts - day * DAY_MS
        cust = np.nan_to_num(
            tx.col("customer_id").cast(pa.float64()).to_numpy(zero_copy_only=False), nan=-1
        ).astype(np.int64)
        store = tx.np("store_id")
        store_open = self.opened_days[np.clip(store, 0, len(self.opened_days) - 1)]
        good_store = ~np.isin(store, self.bad_stores)
        signup = np.full(n, -(10**9), np.int64)
        good_customer = np.zeros(n, bool)
        if cu is not None:
            cid, sdays = self.signups  # as generated (before the customers' own defects)
            pos = np.searchsorted(cid, cust)
            found = (pos < len(cid)) & (cid[np.minimum(pos, len(cid) - 1)] == cust)
            signup = np.where(found, sdays[np.minimum(pos, len(cid) - 1)], -(10**9))
            good_customer = found & ~np.isin(cust, bad_customers) & (signup > -(10**9))
        base = ~has_promo
        for kind, k in self.plan(rng, "transactions", n).items():
            if k == 0:
                continue
            if kind == "missing_required":
                self._unit(self.missing, rng, tx, k, np.ones(n, bool))
            elif kind == "invalid_category":
                self._unit(self.invalid_category, rng, tx, k, np.ones(n, bool))
            elif kind == "unparseable_cell":
                self._unit(self.unparseable, rng, tx, k, np.ones(n, bool))
            elif kind == "orphan_key":
                idx = self._pick(rng, tx, np.ones(n, bool), k)
                before = tx.col("customer_id").take(pa.array(idx))
                after = pa.array(2_000_000_000 + rng.integers(0, 10**6, len(idx)), pa.int64())
                tx.set("customer_id", idx, after)
                self.record(tx, idx, "customer_id", "orphan_key", _detail(before, after))
            elif kind == "duplicate_row":
                idx = self._pick(rng, tx, np.ones(n, bool), k)
                if len(idx):
                    tx.used[idx] = False
                    self.duplicate(rng, tx, len(idx), np.isin(np.arange(n), idx), other_file=True)
            elif kind == "duplicate_transaction":
                idx = self._pick(rng, tx, np.ones(n, bool), k)
                if not len(idx):
                    continue
                new_ids = (
                    (s + 1) * TXN_ID_BLOCK
                    + TXN_ID_BLOCK // 2
                    + np.arange(len(idx))
                    + self.counts["duplicate_transaction"]
                )
                copy = tx.t.take(pa.array(idx)).set_column(0, "txn_id", pa.array(new_ids, pa.int64()))
                pos = tx.append(copy, tx.file[idx])
                lsel = np.flatnonzero(np.isin(line_pos[: li.n0], idx))
                lcopy = li.t.take(pa.array(lsel))
                lids = new_ids[np.searchsorted(idx, line_pos[lsel])]
                lcopy = lcopy.set_column(0, "txn_id", pa.array(lids, pa.int64()))
                li.append(lcopy, li.file[lsel])
                self.record(
                    tx,
                    pos,
                    None,
                    "duplicate_transaction",
                    _txt(tx.col("txn_id").take(pa.array(idx))).cast(pa.string()),
                )
            elif kind == "future_timestamp":
                idx = self._pick(rng, tx, base, k)
                new_day = self.as_of_day + rng.integers(1, 365, len(idx))
                self._move(tx, idx, new_day * DAY_MS + tod[idx], "future_timestamp")
            elif kind == "before_signup":
                new_day = signup - rng.integers(1, 30, n)
                ok = base & good_customer & (max_launch <= new_day) & (new_day >= store_open)
                idx = self._pick(rng, tx, ok, k)
                self._move(tx, idx, new_day[idx] * DAY_MS + tod[idx], "before_signup")
            elif kind == "before_store_opening":
                new_day = store_open - rng.integers(1, 30, n)
                ok = base & good_store & (store_open > -(10**9)) & (max_launch <= new_day)
                idx = self._pick(rng, tx, ok, k)
                self._move(tx, idx, new_day[idx] * DAY_MS + tod[idx], "before_store_opening")
            elif kind == "totals_mismatch":
                idx = self._pick(rng, tx, np.ones(n, bool), k)
                cols = self.columns(rng, "transactions", kind, len(idx))
                for c in np.unique(cols):
                    sel = idx[cols == c]
                    before = tx.col(c).take(pa.array(sel))
                    if c in ("n_items", "n_lines"):
                        after = pa.array(tx.np(c)[sel] + rng.integers(1, 4, len(sel)), pa.int32())
                    else:
                        after = pa.array(np.round(tx.np(c)[sel] + rng.uniform(0.01, 20, len(sel)), 2))
                    tx.set(c, sel, after)
                    self.record(tx, sel, c, "totals_mismatch", _detail(before, after))

    def _pick(self, rng: np.random.Generator, tx: Editable, eligible: np.ndarray, k: int) -> np.ndarray:
        """Transactions for a header defect: the unit (header and lines) must still be clean."""
        idx = self.choose(rng, tx, eligible & ~self.unit_used, k)
        self.unit_used[idx] = True
        return idx

    def _unit(
        self, fn: Callable[..., None], rng: np.random.Generator, tx: Editable, k: int, eligible: np.ndarray
    ) -> None:
        before = tx.used[: tx.n0].copy()
        fn(rng, tx, k, eligible & ~self.unit_used)
        self.unit_used |= tx.used[: tx.n0] & ~before

    def _move(self, tx: Editable, idx: np.ndarray, new_ms: np.ndarray, kind: str) -> None:
        before = tx.col("txn_ts").take(pa.array(idx))
        after = pa.array(new_ms.astype(np.int64), pa.int64()).cast(pa.timestamp("ms"))
        tx.set("txn_ts", idx, after)
        self.record(tx, idx, "txn_ts", kind, _detail(before, after))

    def _lines(self, rng: np.random.Generator, s: int, tx: Editable, li: Editable) -> None:
        n = li.n0
        unit = self.line_pos[:n]
        free = ~self.unit_used[unit]
        promo = ~np.asarray(li.col("promotion_id").slice(0, n).is_null().to_numpy(zero_copy_only=False))
        day = self.h["txn_ts"][unit] // DAY_MS
        for kind, k in self.plan(rng, "transaction_lines", n).items():
            if k == 0:
                continue
            free = ~self.unit_used[unit]
            if kind == "missing_required":
                self._line_unit(self.missing, rng, li, k, free, unit)
            elif kind == "unparseable_cell":
                self._line_unit(self.unparseable, rng, li, k, free, unit)
            elif kind == "duplicate_row":
                idx = self._lpick(rng, li, free, k, unit)
                if len(idx):
                    li.used[idx] = False
                    self.duplicate(rng, li, len(idx), np.isin(np.arange(n), idx), other_file=False)
            elif kind == "bad_quantity":
                idx = self._lpick(rng, li, free, k, unit)
                q = li.np("quantity")[idx]
                items = self.h["n_items"][unit[idx]]
                neg = rng.integers(-3, 1, len(idx))
                big = rng.integers(51, 1000, len(idx))
                new = np.where(items - q + neg >= 1, neg, big)
                self._set_line(li, idx, "quantity", pa.array(new, pa.int32()), "bad_quantity")
                h = unit[idx]
                tx.set("n_items", h, pa.array(items - q + new, pa.int32()))
            elif kind == "bad_price":
                idx = self._lpick(rng, li, free, k, unit)
                new = rng.choice(np.array([0.0, -2.49, 5999.0, 10000.0]), size=len(idx))
                self._set_line(li, idx, "unit_price", pa.array(new), "bad_price")
            elif kind == "bad_discount":
                idx = self._lpick(rng, li, free, k, unit)
                new = np.round(
                    np.where(
                        rng.random(len(idx)) < 0.5,
                        rng.uniform(0.85, 1.5, len(idx)),
                        -rng.uniform(0.05, 0.5, len(idx)),
                    ),
                    2,
                )
                self._set_line(li, idx, "discount_pct", pa.array(new), "bad_discount")
            elif kind == "orphan_key":
                idx = self._lpick(rng, li, free & ~promo, k, unit)
                cols = self.columns(rng, "transaction_lines", kind, len(idx))
                for c in np.unique(cols):
                    sel = idx[cols == c]
                    if c in ("product_id", "promotion_id"):  # an id no product / promotion has
                        self._set_line(
                            li,
                            sel,
                            c,
                            pa.array(9_000_000 + rng.integers(0, 1000, len(sel)), pa.int32()),
                            kind,
                        )
                    else:  # a line of a transaction that does not exist: a copy with an unused txn_id
                        new_ids = (
                            (s + 1) * TXN_ID_BLOCK
                            + TXN_ID_BLOCK
                            - 1
                            - self.counts["orphan_key"]
                            - np.arange(len(sel))
                        )
                        copy = li.t.take(pa.array(sel)).set_column(0, "txn_id", pa.array(new_ids, pa.int64()))
                        copy = copy.set_column(1, "line_no", pa.array(np.ones(len(sel)), pa.int32()))
                        li.used[sel] = False
                        pos = li.append(copy, li.file[sel])
                        self.record(li, pos, "txn_id", kind, _txt(pa.array(new_ids)))
            elif kind == "before_product_launch":
                later = np.flatnonzero(self.product_launch < 10**9)
                later = later[~np.isin(later, self.bad_products)]
                if not len(later):
                    continue
                last_launch = self.product_launch[later].max()
                idx = self._lpick(rng, li, free & ~promo & (day < last_launch), k, unit)
                later = later[np.argsort(self.product_launch[later], kind="stable")]
                first = np.searchsorted(self.product_launch[later], day[idx], side="right")
                choice = later[first + (rng.random(len(idx)) * (len(later) - first)).astype(np.int64)]
                self._set_line(li, idx, "product_id", pa.array(choice, pa.int32()), kind)
            elif kind == "promotion_out_of_window" and len(self.promos.get("id", [])):
                pid = self.promos["id"]
                idx = self._lpick(rng, li, free, k, unit)
                pick = rng.integers(0, len(pid), len(idx))
                for _ in range(30):  # redraw promotions whose window contains the day
                    inside = (self.promos["start"][pick] <= day[idx]) & (day[idx] <= self.promos["end"][pick])
                    if not inside.any():
                        break
                    pick[inside] = rng.integers(0, len(pid), int(inside.sum()))
                inside = (self.promos["start"][pick] <= day[idx]) & (day[idx] <= self.promos["end"][pick])
                li.used[idx[inside]] = False
                self.unit_used[unit[idx[inside]]] = False
                idx, pick = idx[~inside], pick[~inside]
                self._set_line(li, idx, "promotion_id", pa.array(pid[pick], pa.int32()), kind)
            elif kind == "discount_above_price":
                qp = np.round(li.np("quantity")[:n] * li.np("unit_price")[:n], 2)
                other = self.h["total_amount"][unit] - li.np("line_amount")[:n]
                idx = self._lpick(rng, li, free & (other >= 0.02), k, unit)
                delta = np.minimum(
                    np.round(rng.uniform(0.01, 2.0, len(idx)), 2), np.floor(other[idx] * 100) / 100
                )
                new_disc = np.round(qp[idx] + delta, 2)
                old_disc, old_amt = li.np("discount_amount")[idx], li.np("line_amount")[idx]
                new_amt = np.round(qp[idx] - new_disc, 2)
                self._set_line(li, idx, "discount_amount", pa.array(new_disc), kind)
                li.set("line_amount", idx, pa.array(new_amt))
                h = unit[idx]
                tx.set(
                    "discount_amount",
                    h,
                    pa.array(np.round(self.h["discount_amount"][h] + new_disc - old_disc, 2)),
                )
                tx.set(
                    "total_amount", h, pa.array(np.round(self.h["total_amount"][h] + new_amt - old_amt, 2))
                )

    def _lpick(
        self, rng: np.random.Generator, li: Editable, eligible: np.ndarray, k: int, unit: np.ndarray
    ) -> np.ndarray:
        """Lines for a line defect, at most one per transaction, in transactions still clean."""
        pool = np.flatnonzero(eligible & ~li.used[: len(eligible)])
        if not len(pool) or k == 0:
            return np.zeros(0, np.int64)
        pool = pool[rng.permutation(len(pool))]
        _, first = np.unique(unit[pool], return_index=True)  # one line per transaction
        pool = pool[np.sort(first)]
        idx = np.sort(pool[:k])
        li.used[idx] = True
        self.unit_used[unit[idx]] = True
        return idx

    def _line_unit(
        self,
        fn: Callable[..., None],
        rng: np.random.Generator,
        li: Editable,
        k: int,
        free: np.ndarray,
        unit: np.ndarray,
    ) -> None:
        # one line per transaction: offer one candidate line per free transaction
        pool = np.flatnonzero(free & ~li.used[: len(free)])
        pool = pool[rng.permutation(len(pool))]
        _, first = np.unique(unit[pool], return_index=True)
        eligible = np.zeros(li.n0, bool)
        eligible[pool[first]] = True
        before = li.used.copy()
        fn(rng, li, k, eligible)
        new = np.flatnonzero(li.used[: len(before)] & ~before)
        self.unit_used[unit[new]] = True

    def _set_line(self, li: Editable, idx: np.ndarray, col: str, after: pa.Array, kind: str) -> None:
        before = li.col(col).take(pa.array(idx))
        li.set(col, idx, after)
        self.record(li, idx, col, kind, _detail(before, after))


# --------------------------------------------------------------------------------------------------------
# entry point (called by the generator before it writes the manifest)
# --------------------------------------------------------------------------------------------------------


def inject_defects(
    config: SimConfig, root: Path, files: list[FileRecord], spec: DefectSpec | str, fmt: FileFormat
) -> tuple[list[FileRecord], dict[str, object]]:
    """Damage the freshly written dataset under ``root`` and write ``truth/defects.parquet``.

    Parameters
    ----------
    config
        The simulation config (seed, horizon, shard count).
    root
        The staged dataset folder.
    files
        Records of the clean files.
    spec
        A :class:`DefectSpec` or its text form (``rate=0.01[,kinds=…]``).
    fmt
        ``parquet`` or ``csv`` (``unparseable_cell`` needs CSV).

    Returns
    -------
    tuple
        The file records after the damage (rewritten files have new sizes and hashes; the truth file is
        added) and the manifest's ``defects`` entry (rate, kinds, injected count per kind).
    """
    spec = DefectSpec.parse(spec) if isinstance(spec, str) else spec.validated()
    inj = Injector(config, root, fmt, spec)
    by_table: dict[str, list[FileRecord]] = defaultdict(list)
    for f in files:
        by_table[f.table].append(f)
    kept = [f for f in files if f.table not in TARGETS]
    dims = {
        t: Editable(t, root, by_table[t], fmt)
        for t in ("stores", "products", "promotions")
        if by_table.get(t)
    }
    inj.dimensions(dims)
    out: list[FileRecord] = []
    for ed in dims.values():
        out += ed.write()

    def of_task(table: str, s: int) -> list[FileRecord]:
        suffix = f"part-{s:05d}."
        return [f for f in by_table.get(table, []) if Path(f.path).name.startswith(suffix)]

    for s in range(config.n_tasks):  # a task's files together: its customers, transactions and lines
        eds = {
            t: Editable(t, root, of_task(t, s), fmt) if of_task(t, s) else None
            for t in ("customers", "transactions", "transaction_lines")
        }
        inj.task(s, eds["customers"], eds["transactions"], eds["transaction_lines"])
        for ed in eds.values():
            if ed is not None:
                out += ed.write()
    truth = inj.truth.table()
    out.append(write_table(truth, root, TRUTH_PATH, "defects", "parquet"))
    entry = {
        **spec.to_dict(),
        "injected": {k: inj.counts.get(k, 0) for k in inj.kinds},
        "rows": truth.num_rows,
    }
    return kept + out, entry
