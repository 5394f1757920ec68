"""Check new records — an uploaded CSV or one typed into a form — against a table's contract and the
dataset's keys, with the data-quality capability's own rules. Uploads are read in memory and never written
into the dataset; size and row limits are enforced with a clear message."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import streamlit as st

from retailsim import schema
from retailsim.app import ui
from retailsim.app.data import Ctx
from retailsim.errors import RetailsimError

MAX_UPLOAD_MB = 20
MAX_UPLOAD_ROWS = 100_000


class UploadError(RetailsimError):
    """An upload that cannot be checked (too big, too many rows, not a CSV, wrong columns)."""


@dataclass(frozen=True)
class CheckResult:
    """Rows split into accepted and rejected (with the failing rule ids and a readable reason)."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame


def template_csv(table: str) -> bytes:
    """An empty CSV with the table's columns in schema order (the upload template)."""
    return (",".join(schema.table(table).column_names) + "\n").encode("utf-8")


def read_upload(
    data: bytes, table: str, *, max_mb: float = MAX_UPLOAD_MB, max_rows: int = MAX_UPLOAD_ROWS
) -> pa.Table:
    """Parse an uploaded CSV as text columns (types are the contract's job), enforcing the limits.

    Raises
    ------
    UploadError
        Too large, too many rows, unreadable, or columns that do not match the table.
    """
    if len(data) > max_mb * 1024 * 1024:
        raise UploadError(f"the file is {len(data) / 1024 / 1024:.1f} MB; the limit is {max_mb:g} MB")
    if not data.strip():
        raise UploadError("the file is empty")
    spec = schema.table(table)
    try:
        header = pacsv.read_csv(
            io.BytesIO(data), read_options=pacsv.ReadOptions(block_size=1 << 20)
        ).schema.names
        t = pacsv.read_csv(
            io.BytesIO(data),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(header, pa.string()), strings_can_be_null=True
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as err:
        raise UploadError(f"not a readable CSV file: {str(err).splitlines()[0]}") from None
    if t.num_rows > max_rows:
        raise UploadError(f"the file has {t.num_rows:,} rows; the limit is {max_rows:,}")
    if t.num_rows == 0:
        raise UploadError("the file has a header but no rows")
    unknown = [c for c in t.column_names if c not in spec.column_index]
    missing = [c.name for c in spec.columns if c.name not in t.column_names and not c.nullable]
    if unknown:
        raise UploadError(f"unknown column(s) for {table}: {', '.join(unknown)} (download the template)")
    if missing:
        raise UploadError(
            f"required column(s) missing for {table}: {', '.join(missing)} (download the template)"
        )
    for c in spec.columns:  # optional columns may be left out
        if c.name not in t.column_names:
            t = t.append_column(c.name, pa.nulls(t.num_rows, pa.string()))
    return t.select(spec.column_names)


@st.cache_data(show_spinner=False, max_entries=32)
def _check(path: str, stamp: str, table: str, csv_text: bytes) -> CheckResult:
    from retailsim.app import quality_bridge

    records = read_upload(csv_text, table)
    accepted, rejected = quality_bridge.check_records(path, table, records)
    return CheckResult(accepted, rejected)


def _record_form(table: str) -> bytes | None:
    """One record typed field by field; returned as a one-row CSV (so it takes the same path as an upload)."""
    spec = schema.table(table)
    values: dict[str, Any] = {}
    with st.form(f"dq_form_{table}"):
        cols = st.columns(3)
        for i, c in enumerate(spec.columns):
            hint = schema.constraint_text(c)
            help_ = f"{schema.to_duckdb_type(c.type)}{'' if c.nullable else ', required'}" + (
                f"; {hint}" if hint else ""
            )
            label = f"{c.name}{'' if c.nullable else ' *'}"
            with cols[i % 3]:
                if c.allowed:
                    values[c.name] = st.selectbox(
                        label, ["", *c.allowed], key=f"dq_f_{table}_{c.name}", help=help_
                    )
                else:
                    values[c.name] = st.text_input(label, key=f"dq_f_{table}_{c.name}", help=help_)
        sent = st.form_submit_button("Check this record", type="primary")
    if not sent:
        return None
    row = {k: (v if v not in ("", None) else None) for k, v in values.items()}
    return pd.DataFrame([row]).to_csv(index=False).encode("utf-8")


def check_panel(ctx: Ctx) -> None:
    """The "Check new records" tab of the Data quality page."""
    tables = [s.name for s in schema.DATA_TABLES]
    c = st.columns([2, 2, 1])
    table = c[0].selectbox("Table", tables, index=tables.index("transactions"), key="dq_up_table")
    how = c[1].radio("Records", ["Upload a CSV", "Type a record"], horizontal=True, key="dq_up_how")
    c[2].download_button(
        "CSV template",
        template_csv(table),
        file_name=f"{table}_template.csv",
        mime="text/csv",
        key="dq_up_tpl",
        on_click="ignore",
    )
    st.caption(
        f"Records are checked against the {table} contract (types, required fields, allowed values, ranges, "
        "patterns) and the dataset's keys (duplicates of existing keys, foreign keys that do not resolve). "
        f"Nothing is written to the dataset. Limits: {MAX_UPLOAD_MB} MB and {MAX_UPLOAD_ROWS:,} rows per file."
    )
    data: bytes | None = None
    if how == "Upload a CSV":
        up = st.file_uploader(
            f"CSV with {table} columns",
            type=["csv"],
            key=f"dq_up_file_{table}",
            max_upload_size=MAX_UPLOAD_MB,
        )
        if up is not None:
            data = up.getvalue()
    else:
        data = _record_form(table)
        if data is not None:
            st.session_state[f"dq_typed_{table}"] = data
        data = data or st.session_state.get(f"dq_typed_{table}")
    if data is None:
        return
    try:
        with st.spinner(f"Checking against the {table} rules and the dataset's keys …"):
            res = _check(str(ctx.path), ctx.stamp, table, data)
    except UploadError as err:
        st.error(f"Upload refused: {err}")
        return
    except ImportError:
        ui.missing(
            "The records check", "pip install -e '.[quality]'", why="the data-quality module is not installed"
        )
        return
    except RetailsimError as err:
        st.error(f"The records could not be checked: {err}")
        return
    n_ok, n_bad = len(res.accepted), len(res.rejected)
    m = st.columns(2)
    m[0].metric("Accepted rows", f"{n_ok:,}")
    m[1].metric("Rejected rows", f"{n_bad:,}")
    if n_bad:
        st.markdown("**Rejected rows and why**")
        st.dataframe(res.rejected, hide_index=True)
        ui.download_csv("Download rejected rows (CSV)", res.rejected, f"{table}_rejected.csv", "dq_up_dl_bad")
    if n_ok:
        with st.expander("Accepted rows", expanded=not n_bad):
            st.dataframe(res.accepted, hide_index=True)
        ui.download_csv("Download accepted rows (CSV)", res.accepted, f"{table}_accepted.csv", "dq_up_dl_ok")
