"""Fail-fast start-up (missing or tampered model or data), the `retailsim serve` command, and one real uvicorn
server on a free local port called over HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import API_KEY
from typer.testing import CliRunner

from retailsim.api.app import create_app
from retailsim.api.settings import ApiSettings
from retailsim.cli import app as cli_app
from retailsim.errors import DatasetError
from retailsim.ml.errors import ArtifactError, SchemaMismatchError
from retailsim.storage.dataset import Dataset

runner = CliRunner()


@pytest.fixture()
def data_copy(tiny_dataset: Dataset, tmp_path: Path) -> Path:
    dst = tmp_path / "ds"
    shutil.copytree(tiny_dataset.path, dst, ignore=shutil.ignore_patterns("models"))
    return dst


def _a_file(ds: Path, table: str) -> Path:
    return next(ds / f["path"] for f in Dataset(ds).manifest["files"] if f["table"] == table)


def test_missing_dataset(api_model: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        create_app(tmp_path / "nope", api_model, ApiSettings())


def test_missing_model(data_copy: Path) -> None:
    with pytest.raises(ArtifactError, match="retailsim ml train"):
        create_app(data_copy, None, ApiSettings())


def test_tampered_model(tiny_dataset: Dataset, api_model: Path, tmp_path: Path) -> None:
    model = shutil.copytree(api_model, tmp_path / "model")
    target = next(p for p in sorted(model.rglob("*.json")) if p.parent.name == "head")
    target.write_text(target.read_text().replace("}", " }", 1))
    with pytest.raises(ArtifactError, match="integrity check"):
        create_app(tiny_dataset.path, model, ApiSettings())


@pytest.mark.parametrize("how", ["truncate", "flip"])
def test_tampered_dataset(data_copy: Path, api_model: Path, how: str) -> None:
    f = _a_file(data_copy, "transactions")
    data = bytearray(f.read_bytes())
    if how == "truncate":
        f.write_bytes(bytes(data[:-10]))
        match = "bytes"
    else:
        data[len(data) // 2] ^= 0xFF
        f.write_bytes(bytes(data))
        match = "SHA-256"
    with pytest.raises(DatasetError, match=match):
        create_app(data_copy, api_model, ApiSettings())
    if how == "flip":  # sizes are always checked; hashes only when verify_data
        create_app(data_copy, api_model, ApiSettings(verify_data=False, cache_dates=0))


def test_model_needs_columns_the_dataset_lacks(data_copy: Path, api_model: Path) -> None:
    m = json.loads((data_copy / "manifest.json").read_text())
    for f in m["files"]:
        if f["table"] == "transaction_lines":
            (data_copy / f["path"]).unlink()
    m["files"] = [f for f in m["files"] if f["table"] != "transaction_lines"]
    m["tables"].pop("transaction_lines")
    (data_copy / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(SchemaMismatchError, match="transaction_lines"):
        create_app(data_copy, api_model, ApiSettings())


def test_serve_refuses_a_public_host_without_a_key(
    tiny_dataset: Dataset, api_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RETAILSIM_API_KEY", raising=False)
    res = runner.invoke(
        cli_app, ["serve", str(tiny_dataset.path), "--model", str(api_model), "--host", "0.0.0.0"]
    )
    assert res.exit_code == 2
    assert "refusing to bind to 0.0.0.0" in res.output


def test_serve_never_takes_the_key_on_the_command_line(tiny_dataset: Dataset) -> None:
    res = runner.invoke(cli_app, ["serve", str(tiny_dataset.path), "--api-key", API_KEY])
    assert res.exit_code == 2
    assert "No such option" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "{tmp}/none"], "no model at"),
        (["--api-key-file", "{tmp}/missing-key"], "API key file not found"),
    ],
)
def test_serve_fails_fast_with_a_clear_message(
    tiny_dataset: Dataset, tmp_path: Path, args: list[str], message: str
) -> None:
    res = runner.invoke(cli_app, ["serve", str(tiny_dataset.path), *[a.format(tmp=tmp_path) for a in args]])
    assert res.exit_code == 2
    assert message in res.output
    assert "Traceback" not in res.output


def test_serve_help_lists_the_options() -> None:
    res = runner.invoke(cli_app, ["serve", "--help"])
    assert res.exit_code == 0
    for opt in ("--model", "--host", "--port", "--api-key-file", "--max-batch", "--max-body-bytes"):
        assert opt in res.output


# -- one real server --------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def live_server(tiny_dataset: Dataset, api_model: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`retailsim serve` in a subprocess on a free loopback port, key from the environment; always stopped."""
    port = _free_port()
    log = tmp_path / "server.log"
    exe = Path(sys.executable).with_name("retailsim")
    cmd = [str(exe)] if exe.is_file() else [sys.executable, "-m", "retailsim"]
    cmd += ["serve", str(tiny_dataset.path), "--model", str(api_model), "--port", str(port)]
    env = {**os.environ, "RETAILSIM_API_KEY": API_KEY, "RETAILSIM_API_MAX_BATCH": "20"}
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start in 60 s:\n" + log.read_text()
            time.sleep(0.2)
        yield url, log
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_real_server_over_http(live_server: tuple[str, Path], customers: list[Any]) -> None:
    url, log = live_server
    cid = customers[0][0]
    with httpx.Client(base_url=url, timeout=30) as c:
        assert c.get("/health").json()["status"] == "ok"
        assert c.post("/predict", json={"customer_id": cid}).status_code == 401
        key = {"X-API-Key": API_KEY}
        r = c.post("/predict", json={"customer_id": cid}, headers=key)
        assert r.status_code == 200 and r.json()["customer_id"] == cid
        s = c.post("/score", json={"customer_ids": [cid, 999_999]}, headers=key).json()
        assert [row["status"] for row in s["rows"]] == ["ok", "unknown_customer"]
        assert c.post("/score", json={"customer_ids": list(range(1, 22))}, headers=key).status_code == 413
        assert c.post("/predict", json={"customer_id": 999_999}, headers=key).status_code == 404
        assert "server" not in r.headers  # no version banner
        assert c.get("/docs").status_code == 200
    text = log.read_text()
    assert "POST /predict" in text  # access log on
    assert API_KEY not in text
