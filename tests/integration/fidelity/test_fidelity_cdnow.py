"""The real CDNOW sample log: import, facts equal to facts computed on the raw file, CLI, compare report."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from fidelity_support import CDNOW_CSV, CDNOW_DATE_FORMAT, CDNOW_MAPPING
from retailsim.cli import app
from retailsim.fidelity.compare import TWIN_FACTS, compare, compare_reports, relative_difference
from retailsim.fidelity.facts import compute_facts
from retailsim.fidelity.importer import import_log
from retailsim.fidelity.tstr import TSTRResult, register_tstr_check
from retailsim.storage.dataset import Dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def cdnow(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    out = tmp_path_factory.mktemp("cdnow") / "ds"
    return import_log(CDNOW_CSV, out, mapping=CDNOW_MAPPING, date_format=CDNOW_DATE_FORMAT).dataset


def _raw_facts() -> dict[str, float]:
    """The facts computed straight from the CSV with DuckDB, independently of retailsim."""
    con = duckdb.connect()
    con.execute(
        f"""CREATE TABLE raw AS SELECT cust, strptime(date::VARCHAR, '%Y%m%d')::DATE AS d, cds, dollars
            FROM read_csv('{CDNOW_CSV}', header = true, types = {{'cust': 'VARCHAR', 'date': 'VARCHAR'}})"""
    )
    con.execute(
        "CREATE TABLE c AS SELECT cust, count(*) AS n, sum(dollars) AS rev, min(d) AS f FROM raw GROUP BY cust"
    )
    q = {
        "customers": "SELECT count(*) FROM c",
        "transactions": "SELECT count(*) FROM raw",
        "revenue": "SELECT sum(dollars) FROM raw",
        "one_time_buyer_share": "SELECT avg((n = 1)::DOUBLE) FROM c",
        "purchases_per_customer_mean": "SELECT avg(n) FROM c",
        "purchases_per_customer_median": "SELECT median(n) FROM c",
        "top20_revenue_share": """SELECT sum(rev) FILTER (WHERE k <= ceil(0.2 * (SELECT count(*) FROM c)))
                                  / sum(rev) FROM (SELECT rev, row_number() OVER (ORDER BY rev DESC) AS k FROM c)""",
        "median_interpurchase_days": """SELECT median(g) FROM (SELECT d - lag(d) OVER (PARTITION BY cust ORDER BY d) AS g
                                        FROM raw) WHERE g IS NOT NULL""",
        "transaction_value_mean": "SELECT avg(dollars) FROM raw",
        "basket_size_mean": "SELECT avg(cds) FROM raw",
        "weekend_share": "SELECT avg((dayofweek(d) IN (0, 6))::DOUBLE) FROM raw",
        "december_lift": """SELECT sum(dollars) FILTER (WHERE month(d) = 12) / (sum(dollars) / 12) FROM raw
                            WHERE year(d) = 1997""",
        "cohort_retention_3m": """SELECT avg(active::DOUBLE) FROM (
              SELECT c.cust, bool_or(date_trunc('month', r.d) = date_trunc('month', c.f) + INTERVAL 3 MONTH) AS active
              FROM c JOIN raw r USING (cust) GROUP BY c.cust)""",
        "repeat_within_90d": """SELECT avg((second IS NOT NULL AND second - f <= 90)::DOUBLE) FROM (
              SELECT c.cust, c.f, min(r.d) FILTER (WHERE r.k = 2) AS second FROM c JOIN (
                SELECT cust, d, row_number() OVER (PARTITION BY cust ORDER BY d) AS k FROM raw) r USING (cust)
              GROUP BY c.cust, c.f)""",
    }
    return {k: con.execute(sql).fetchone()[0] for k, sql in q.items()}  # type: ignore[index]


def test_facts_of_the_imported_log_equal_facts_of_the_raw_log(cdnow: Dataset) -> None:
    facts = compute_facts(cdnow).values
    raw = _raw_facts()
    for k, v in raw.items():
        assert facts[k] == pytest.approx(v, rel=1e-9), k
    # what the log cannot support is not available, never 0
    for k in ("promotion_share", "private_label_share", "top_category_share", "category_shares"):
        assert facts[k] is None
    assert raw["customers"] == 2357 and raw["transactions"] == 6919


def test_cli_import_facts_and_check(tmp_path: Path) -> None:
    out = tmp_path / "cdnow"
    res = runner.invoke(
        app,
        [
            "import",
            str(CDNOW_CSV),
            "--out",
            str(out),
            "--map",
            "customer_id=cust,timestamp=date,amount=dollars,quantity=cds",
            "--date-format",
            "%Y%m%d",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "imported 6,919 rows" in res.output
    res = runner.invoke(app, ["facts", str(out), "--json", str(tmp_path / "f.json")])
    assert res.exit_code == 0, res.output
    assert "one-time-buyer share" in res.output and "not available here" in res.output
    data = json.loads((tmp_path / "f.json").read_text())
    assert data["kind"] == "imported" and data["facts"]["customers"] == 2357
    # a music retailer's log is not a grocery chain: out of the default bands, exit code 1
    res = runner.invoke(app, ["facts", str(out), "--check"])
    assert res.exit_code == 1 and "out of band" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["import", "--example", "cdnow", "--out", str(tmp_path / "ex")])
    assert res.exit_code == 0, res.output
    assert Dataset(tmp_path / "ex").manifest["source"]["file"] == "cdnow_sample.csv.gz"


def test_cli_bad_input_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("cust,date,dollars\n1,19970101,3\n2,1997-02-30,4\n")
    out = tmp_path / "out"
    res = runner.invoke(
        app,
        ["import", str(bad), "--out", str(out), "--map", "customer_id=cust,timestamp=date,amount=dollars"],
    )
    assert res.exit_code == 2
    assert "row 2" in res.output and "column 'date'" in res.output and "Traceback" not in res.output
    assert not out.exists()
    res = runner.invoke(app, ["import", "--out", str(out)])
    assert res.exit_code == 2 and "--example" in res.output
    res = runner.invoke(app, ["facts", str(tmp_path / "nope")])
    assert res.exit_code == 2 and "not found" in res.output


def test_compare_a_log_with_itself(cdnow: Dataset, tmp_path: Path) -> None:
    cmp = compare(cdnow, cdnow)
    assert cmp.passed and {r.fact.id for r in cmp.checked} == set(TWIN_FACTS)
    assert all(r.rel_diff is None or abs(r.rel_diff) < 1e-9 for r in cmp.rows)  # sums: float order
    assert "not available" in cmp.tstr_note
    html = cmp.to_html()
    assert html.count("Plotly.newPlot") >= 6  # frequency, gaps, Lorenz, weekly, yearly, retention, baskets
    assert "<script src=" not in html and "cdn.plot.ly" not in html.split("</script>")[-1]
    assert html.count("plotly.js v") == 1  # the library is embedded once


def test_compare_cli_check_and_json(cdnow: Dataset, tmp_path: Path) -> None:
    # the log against itself passes the twin check; a twin 20% off on a checked fact fails it
    res = runner.invoke(
        app,
        [
            "compare",
            str(cdnow.path),
            str(cdnow.path),
            "--html",
            str(tmp_path / "r.html"),
            "--json",
            str(tmp_path / "r.json"),
            "--check",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["passed"] is True and (tmp_path / "r.html").stat().st_size > 1_000_000
    real = compute_facts(cdnow)
    fake = compute_facts(cdnow)
    fake.values["cohort_retention_3m"] = real.values["cohort_retention_3m"] * 1.2  # type: ignore[operator]
    cmp = compare_reports(real, fake)
    assert not cmp.passed and [r.fact.id for r in cmp.failures] == ["cohort_retention_3m"]
    assert relative_difference(2.0, 2.2) == pytest.approx(0.1)
    assert relative_difference(0, 1) is None and relative_difference(None, 1) is None


def test_tstr_hook_is_called_when_registered(cdnow: Dataset) -> None:
    calls = []

    def check(real: Dataset, synth: Dataset) -> TSTRResult:
        calls.append((real.path, synth.path))
        return TSTRResult(
            "trained on the twin: MAE 1.1 vs 1.0", {"mae_train_real": 1.0, "mae_train_synth": 1.1}
        )

    register_tstr_check(check)
    try:
        cmp = compare(cdnow, cdnow)
    finally:
        register_tstr_check(None)
    assert calls and cmp.tstr is not None and "MAE" in cmp.to_html()
    assert cmp.to_dict()["tstr"]["metrics"]["mae_train_synth"] == 1.1
