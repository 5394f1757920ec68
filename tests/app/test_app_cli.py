"""``retailsim app``: argument checks, the streamlit command line it runs, and the environment it passes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, ClassVar

import pytest
from app_helpers import first_run_env, stop
from typer.testing import CliRunner

from retailsim.app import cli as app_cli
from retailsim.app.settings import ENV_DATASETS, ENV_MODELS
from retailsim.cli import app
from retailsim.storage.dataset import Dataset


class FakePopen:
    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, cmd: list[str], env: dict[str, str]) -> None:
        FakePopen.calls.append({"cmd": cmd, "env": env})

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def poll(self) -> int:
        return 0

    def send_signal(self, signum: int) -> None:  # pragma: no cover - never called here
        pass


@pytest.fixture()
def fake_popen(monkeypatch: pytest.MonkeyPatch) -> type[FakePopen]:
    FakePopen.calls = []
    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    return FakePopen


def test_app_launches_streamlit_on_the_datasets(
    app_dataset: Dataset, bare_dataset: Dataset, fake_popen: type[FakePopen], tmp_path: Path
) -> None:
    res = CliRunner().invoke(
        app,
        [
            "app",
            str(app_dataset.path),
            str(bare_dataset.path),
            "--port",
            "8599",
            "--no-browser",
            "--models",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "http://localhost:8599" in res.output
    (call,) = fake_popen.calls
    cmd = call["cmd"]
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(app_cli.MAIN)
    assert cmd[cmd.index("--server.port") + 1] == "8599"
    assert cmd[cmd.index("--server.headless") + 1] == "true"
    assert cmd[cmd.index("--") + 1 :] == [str(app_dataset.path.resolve()), str(bare_dataset.path.resolve())]
    paths = call["env"][ENV_DATASETS].split(os.pathsep)
    assert paths == [str(app_dataset.path.resolve()), str(bare_dataset.path.resolve())]
    assert call["env"][ENV_MODELS] == str(tmp_path)


def test_app_port_zero_picks_a_free_port(app_dataset: Dataset, fake_popen: type[FakePopen]) -> None:
    res = CliRunner().invoke(app, ["app", str(app_dataset.path), "--port", "0", "--no-browser"])
    assert res.exit_code == 0, res.output
    cmd = fake_popen.calls[0]["cmd"]
    assert int(cmd[cmd.index("--server.port") + 1]) > 0


def test_app_refuses_a_folder_that_is_not_a_dataset(tmp_path: Path, fake_popen: type[FakePopen]) -> None:
    res = CliRunner().invoke(app, ["app", str(tmp_path)])
    assert res.exit_code == 2
    assert "manifest.json" in res.output
    assert not fake_popen.calls


def test_app_without_dataset_and_no_default_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_popen: type[FakePopen]
) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["app"])
    assert res.exit_code == 2
    assert "retailsim generate --preset demo" in " ".join(res.output.split())
    assert not fake_popen.calls


@pytest.mark.slow
def test_first_run_opens_the_browser_without_streamlit_prompts(app_dataset: Dataset, tmp_path: Path) -> None:
    """`make demo` on a fresh machine: no ~/.streamlit credentials, no terminal to answer on. Streamlit must not
    stop at its e-mail prompt (it did: exit 255), and it opens the browser (a recording xdg-open here). With an AI
    agent installed, Streamlit would also advertise its agent skills: not in our terminal."""
    import time
    import urllib.request

    port = app_cli.free_port()
    cmd = app_cli.streamlit_command([app_dataset.path], port=port, host="127.0.0.1", headless=False)
    env, opened = first_run_env(tmp_path, app_cli.app_env([app_dataset.path]), agent=True)
    log = tmp_path / "streamlit.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not opened.exists():
            assert proc.poll() is None, f"streamlit exited with {proc.returncode}:\n{log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"no browser opened:\n{log.read_text()[-2000:]}"
            time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=10) as r:
            assert r.read() == b"ok"
        assert f":{port}" in opened.read_text()
        text = log.read_text()
        assert "Email:" not in text
        assert "skills" not in text and "Help agents" not in text, text  # no promotion in the terminal either
    finally:
        stop(proc)
