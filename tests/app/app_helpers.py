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


def first_run_env(root: Path, base: dict[str, str], *, agent: bool = False) -> tuple[dict[str, str], Path]:
    """The environment of a first-time user with no terminal: an empty HOME (no ~/.streamlit), a recording
    ``xdg-open`` first on PATH (the browser Streamlit opens), no DISPLAY. ``agent``: an AI coding agent is
    installed (``~/.claude``), which is when Streamlit would show its "install skills" pop-up.

    Returns the environment and the file the fake browser appends each opened URL to.
    """
    home, bindir = root / "home", root / "bin"
    home.mkdir()
    bindir.mkdir()
    if agent:
        (home / ".claude").mkdir()
    opened = root / "opened.txt"
    xdg = bindir / "xdg-open"
    xdg.write_text(f'#!/bin/sh\necho "$1" >> {opened}\n')
    xdg.chmod(0o755)
    env = dict(base, HOME=str(home), PATH=f"{bindir}:{base['PATH']}")
    env.pop("DISPLAY", None)
    return env, opened
