"""Constants shared by the dashboard tests."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "src" / "retailsim" / "app" / "main.py")
PAGES = (
    "views/overview.py",
    "views/explore.py",
    "views/schema_data.py",
    "views/sql_explorer.py",
    "views/quality.py",
    "views/loyalty.py",
    "views/customer.py",
    "views/batch.py",
    "views/models.py",
)
CDNOW = ROOT / "tests" / "data" / "cdnow_sample" / "cdnow_sample.csv"
