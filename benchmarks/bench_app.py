"""Dashboard responsiveness on a big dataset: every page interactive in < 2 s warm (issue "Streamlit dashboard").

For each page, Streamlit's ``AppTest`` runs the real app script (router, sidebar, page, every query and chart)
in-process, exactly as the server does for a browser session, and the wall time of each script run is taken:

* ``cold``: the first visit (queries run in DuckDB, nothing cached yet);
* ``warm``: the median of further reruns, i.e. any interaction that needs no new query (the cached results
  and connections are reused) — the number the < 2 s goal is about;
* ``interaction``: one typical new interaction per page (a filter, another customer, a SQL query), measured
  the first time (its own queries run) and once more warm.

Browser rendering is not included (charts are drawn client-side); the real-browser test checks the pages
render. Derived outputs are created first when their modules are installed (loyalty history, validation
report, a trained model), so those pages are measured with data rather than with "missing" notes.

Usage::

    python benchmarks/bench_app.py                       # generates the `medium` preset (~10M lines), deletes it
    python benchmarks/bench_app.py --dataset /tmp/medium-app --keep
    python benchmarks/bench_app.py --preset demo --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

MAIN = Path(__file__).resolve().parents[1] / "src" / "retailsim" / "app" / "main.py"
GOAL_S = 2.0


def _timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def prepare(ds_path: Path, *, train: bool) -> dict[str, str]:
    """Create the derived outputs the Check/Predict pages show (what `make demo` does); report timings."""
    done: dict[str, str] = {}
    try:
        from retailsim.loyalty import assign

        if (ds_path / "loyalty" / "tier_history.parquet").is_file():
            done["loyalty assign"] = "present"
        else:
            done["loyalty assign"] = f"{_timed(lambda: assign(ds_path)):.1f} s"
    except Exception as err:  # report, never stop the benchmark
        done["loyalty assign"] = f"skipped ({type(err).__name__}: {err})"
    try:
        from retailsim.quality.engine import run_validation

        report = ds_path / "quality" / "report.json"
        if report.is_file():
            done["validate"] = "present"
        else:

            def validate() -> None:
                report.parent.mkdir(exist_ok=True)
                report.write_text(run_validation(ds_path).to_json(), encoding="utf-8")

            done["validate"] = f"{_timed(validate):.1f} s"
    except Exception as err:
        done["validate"] = f"skipped ({type(err).__name__}: {err})"
    if train and not (ds_path / "models" / "champion.json").is_file():
        try:
            from retailsim.ml.config import MLConfig
            from retailsim.ml.train import train as ml_train

            cfg = MLConfig(models=("zero", "last30", "hurdle"), train_cutoffs=3)
            done["ml train"] = f"{_timed(lambda: ml_train(ds_path, cfg)):.1f} s (zero, last30, hurdle)"
        except Exception as err:
            done["ml train"] = f"skipped ({type(err).__name__}: {err})"
    elif train:
        done["ml train"] = "present"
    return done


def _interact(page: str, at: Any) -> str | None:
    """Perform one typical interaction on ``page``; return its description (None when there is none)."""
    if page == "views/overview.py":
        w = at.multiselect(key="ov_formats")
        w.set_value([w.options[0]])
        return f"store type = {w.options[0]}"
    if page == "views/explore.py":
        return None
    if page == "views/schema_data.py":
        at.selectbox(key="sd_table").set_value("transaction_lines")
        return "preview transaction_lines"
    if page == "views/sql_explorer.py":
        at.text_area(key="sql_text").input(
            "SELECT date_trunc('month', txn_ts) AS m, sum(total_amount) AS revenue FROM transactions GROUP BY 1"
        )
        at.button(key="sql_run").click()
        return "SQL: revenue by month"
    if page == "views/customer.py":
        sb = at.selectbox(key="c360_pick")
        sb.select_index(min(5, len(sb.options) - 1))
        return "another customer"
    if page == "views/quality.py":
        at.button(key="dq_run").click()
        return "run the validation"
    if page == "views/batch.py":
        try:
            at.toggle(key="bs_all").set_value(True)
        except KeyError:
            return None
        return "score everyone"
    if page == "views/loyalty.py":
        try:
            at.number_input(key="loy_customer").increment()
        except KeyError:
            return None
        return "another customer's tiers"
    return None


def bench(ds_path: Path, repeat: int) -> list[dict[str, Any]]:
    from streamlit.testing.v1 import AppTest

    from retailsim.app.pages import PAGE_FILES
    from retailsim.app.settings import ENV_DATASETS

    os.environ[ENV_DATASETS] = str(ds_path)
    pages = PAGE_FILES
    rows = []
    at = AppTest.from_file(str(MAIN), default_timeout=600)
    t_first = _timed(at.run)
    for page in pages:
        if page == pages[0]:
            cold = t_first
        else:
            at.switch_page(page)
            cold = _timed(at.run)
        warm = statistics.median(_timed(at.run) for _ in range(repeat))
        what = _interact(page, at)
        inter_cold = inter_warm = None
        if what is not None:
            inter_cold = _timed(at.run)
            if page != "views/sql_explorer.py":  # a SQL run is never cached: its time is the query's
                inter_warm = statistics.median(_timed(at.run) for _ in range(repeat))
        problems = [str(e.value)[:200] for e in at.exception] + [str(e.value)[:200] for e in at.error]
        rows.append(
            {
                "page": page.split("/")[-1].removesuffix(".py"),
                "cold": cold,
                "warm": warm,
                "interaction": what or "",
                "i_cold": inter_cold,
                "i_warm": inter_warm,
                "notes": "; ".join(problems) or ", ".join(i.value.split(".")[0] for i in at.info)[:80],
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, help="Use this dataset instead of generating one.")
    ap.add_argument("--preset", default="medium", help="Preset to generate (default medium, ~10M lines).")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5, help="Warm reruns per page (median reported).")
    ap.add_argument("--keep", action="store_true", help="Keep the generated dataset.")
    ap.add_argument(
        "--no-train", dest="train", action="store_false", help="Do not train a model for the Predict pages."
    )
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    from retailsim.storage.dataset import Dataset

    tmp: Path | None = None
    if args.dataset:
        ds_path = args.dataset.resolve()
    else:
        from retailsim.config import build_config
        from retailsim.generate.runner import generate

        tmp = Path(tempfile.mkdtemp(prefix="bench-app-"))
        ds_path = tmp / args.preset
        t = _timed(lambda: generate(build_config(args.preset), ds_path, workers=args.workers))
        print(f"generated {args.preset} in {t:.1f} s")
    try:
        ds = Dataset(ds_path)
        print(
            f"dataset {ds_path}: {ds.rows('transaction_lines'):,} lines, {ds.rows('transactions'):,} transactions, "
            f"{ds.rows('customers'):,} customers"
        )
        for k, v in prepare(ds_path, train=args.train).items():
            print(f"  {k}: {v}")
        rows = bench(ds_path, args.repeat)
        print()
        print(
            f"{'page':<14}{'cold s':>8}{'warm s':>8}  {'interaction':<26}{'first s':>8}{'warm s':>8}  ok  notes"
        )
        ok_all = True
        for r in rows:
            warm_max = max(r["warm"], r["i_warm"] or 0)
            ok = warm_max < GOAL_S
            ok_all &= ok
            fmt = lambda v: f"{v:8.2f}" if v is not None else f"{'':>8}"  # noqa: E731
            print(
                f"{r['page']:<14}{r['cold']:8.2f}{r['warm']:8.2f}  {r['interaction'][:26]:<26}"
                f"{fmt(r['i_cold'])}{fmt(r['i_warm'])}  {'✓' if ok else '✗'}   {r['notes']}"
            )
        print(f"\nevery page interactive < {GOAL_S:.0f} s warm: {'yes' if ok_all else 'NO'}")
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
