"""Constants shared by the dashboard tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

from retailsim.app.pages import PAGE_FILES

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "src" / "retailsim" / "app" / "main.py")
PAGES = PAGE_FILES
CDNOW = ROOT / "tests" / "data" / "cdnow_sample" / "cdnow_sample.csv"


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server the test started: SIGTERM, then SIGKILL after 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
