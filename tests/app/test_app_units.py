"""The dashboard's pure parts: formatting, segments, upload parsing and limits, form validation, previews."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from retailsim import schema
from retailsim.app import ui
from retailsim.app.data import make_ctx
from retailsim.app.segments import SEGMENTS, value_segments
from retailsim.app.uploads import MAX_UPLOAD_ROWS, UploadError, read_upload, template_csv
from retailsim.app.views.batch import BatchInputError, check_dates, parse_upload
from retailsim.app.views.schema_data import er_diagram, preview_sql
from retailsim.storage.dataset import Dataset


def test_formatting() -> None:
    assert ui.money(1234.5, "$") == "$1,234.50"
    assert ui.money(-3, "€") == "-€3.00"
    assert ui.money(7_680_000, "$", compact=True) == "$7.68M"
    assert ui.money(None) == ui.money(float("nan")) == "—"
    assert ui.pct(0.1234) == "12.3%"
    assert ui.date(pd.Timestamp("2025-03-31 14:00")) == "2025-03-31"
    assert ui.month(dt.date(2025, 3, 1)) == "2025-03"
    assert ui.delta(110, 100) == "+10.0%"
    assert ui.delta(1, 0) is None and ui.delta(None, 5) is None


def test_value_segments() -> None:
    v = np.r_[np.zeros(10), np.arange(1, 101)]
    seg = value_segments(v)
    assert list(seg.cat.categories) == list(SEGMENTS)
    assert (seg[:10] == "Dormant").all()
    assert seg.iloc[-1] == "Top 1%" and seg.iloc[-5] == "Top 10%" and seg.iloc[10] == "Bottom 25%"
    forced = value_segments(v, dormant=v > 99)
    assert forced.iloc[-1] == "Dormant"


def test_preview_sql_quotes_identifiers_and_parameterises_values() -> None:
    spec = schema.table("stores")
    sql, params = preview_sql(spec, "format", "=", "online'; DROP TABLE x; --", 10)
    assert "DROP" not in sql and params == ["online'; DROP TABLE x; --"]
    with pytest.raises(ValueError, match="unknown column"):
        preview_sql(spec, 'format" OR 1=1 --', "=", "x", 10)
    assert preview_sql(spec, None, "=", "", 5)[0].endswith("LIMIT 5")


def test_er_diagram_has_every_table_and_foreign_key() -> None:
    dot = er_diagram({"stores"})
    for t in schema.TABLES:
        assert f'"{t}" [label=' in dot
    n_fk = sum(len(s.foreign_keys) for s in schema.TABLES.values())
    assert dot.count(" -> ") == n_fk


def test_read_upload_limits_and_columns() -> None:
    ok = template_csv("stores") + b"1,Shop,online,Austin,Texas,United States,,,,2020-01-01\n"
    t = read_upload(ok, "stores")
    assert t.num_rows == 1 and t.column_names == schema.table("stores").column_names
    with pytest.raises(UploadError, match=r"limit is 0\.0001 MB"):
        read_upload(ok, "stores", max_mb=0.0001)
    many = template_csv("stores") + b"".join(b"%d,a,online,b,c,d,,,,2020-01-01\n" % i for i in range(30))
    with pytest.raises(UploadError, match="the limit is 20"):
        read_upload(many, "stores", max_rows=20)
    assert MAX_UPLOAD_ROWS >= 10_000
    with pytest.raises(UploadError, match="unknown column"):
        read_upload(b"store_id,nope\n1,2\n", "stores")
    with pytest.raises(UploadError, match="required column"):
        read_upload(b"store_id\n1\n", "stores")
    with pytest.raises(UploadError, match="empty"):
        read_upload(b"", "stores")
    with pytest.raises(UploadError, match="no rows"):
        read_upload(template_csv("stores"), "stores")


def test_batch_upload_parsing_and_reasons(app_dataset: Dataset) -> None:
    ctx = make_ctx(app_dataset.path)
    lo, hi = (t.date() for t in ctx.horizon)
    data = (
        f"customer_id,as_of\n1,{hi}\n2,\nabc,\n-3,\n4,{lo - dt.timedelta(days=5)}\n5,31/12/2024\n999999,\n,\n"
    ).encode()
    rows = check_dates(parse_upload(data, hi), lo, hi)
    reasons = dict(zip(rows["input_id"], rows["reason"], strict=True))
    assert reasons["1"] is None and reasons["2"] is None
    assert rows.loc[rows["input_id"] == "2", "as_of"].iloc[0] == hi
    assert "positive whole number" in reasons["abc"] and "positive whole number" in reasons["-3"]
    assert "before the data" in reasons["4"]
    assert "not a date" in reasons["5"]
    assert reasons["999999"] is None  # unknown ids are the model's to report (see the page test)
    assert reasons[""] == "empty customer_id"
    assert rows["row"].tolist() == list(range(2, 10))
    with pytest.raises(BatchInputError, match="customer_id"):
        parse_upload(b"a,b\n1,2\n", hi)
    assert parse_upload(b"id\n7\n", hi)["customer_id"].tolist() == [7]  # a single column is the id
