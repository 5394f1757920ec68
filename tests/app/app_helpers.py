"""Constants shared by the dashboard tests."""

from __future__ import annotations

from pathlib import Path

from retailsim.app.pages import PAGE_FILES

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "src" / "retailsim" / "app" / "main.py")
PAGES = PAGE_FILES
CDNOW = ROOT / "tests" / "data" / "cdnow_sample" / "cdnow_sample.csv"
