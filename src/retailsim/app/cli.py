"""Dashboard command: ``retailsim app [DATASET ...]`` starts the Streamlit dashboard on the given datasets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

MAIN = Path(__file__).with_name("main.py")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def streamlit_command(
    datasets: list[Path], *, port: int, host: str, headless: bool, python: str = sys.executable
) -> list[str]:
    """The ``streamlit run`` command line for the dashboard (datasets after ``--``)."""
    return [
        python,
        "-m",
        "streamlit",
        "run",
        str(MAIN),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true" if headless else "false",
        "--browser.gatherUsageStats",
        "false",
        "--server.showEmailPrompt",  # a first run would otherwise stop at Streamlit's "Email:" prompt
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",  # viewer: no "Deploy" button, no rerun / clear-cache developer items
        "viewer",
        "--logger.hideWelcomeMessage",  # we print the URL ourselves; also withholds Streamlit's "skills" pop-up
        "true",
        "--",
        *[str(d) for d in datasets],
    ]


def app_env(datasets: list[Path], models: list[Path] | None = None) -> dict[str, str]:
    from retailsim.app.settings import ENV_DATASETS, ENV_MODELS

    env = dict(os.environ)
    env[ENV_DATASETS] = os.pathsep.join(str(d) for d in datasets)
    if models:
        env[ENV_MODELS] = os.pathsep.join(str(m) for m in models)
    return env


def _run_child(cmd: list[str], env: dict[str, str]) -> int:
    """Run streamlit; Ctrl-C and SIGTERM stop it too (never leave a server behind)."""
    proc = subprocess.Popen(cmd, env=env)

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        try:
            return proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        if proc.poll() is None:  # pragma: no cover - only when wait() itself failed
            proc.kill()


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the root `retailsim` app."""

    @app.command("app")
    def run_app(
        datasets: Annotated[
            list[Path] | None,
            typer.Argument(
                help="Dataset folders to open (a picker appears when several). Default: data/demo."
            ),
        ] = None,
        port: Annotated[
            int, typer.Option(help="Port to serve on; 0 picks a free one.", min=0, max=65535)
        ] = 8501,
        host: Annotated[str, typer.Option(help="Address to listen on.")] = "localhost",
        no_browser: Annotated[
            bool, typer.Option("--no-browser", help="Do not open a browser (headless, e.g. on a server).")
        ] = False,
        models: Annotated[
            list[Path] | None,
            typer.Option("--models", help="Extra folder with trained models (besides DATASET/models)."),
        ] = None,
    ) -> None:
        """Open the dashboard: explore, query with SQL, check quality and loyalty, predict customer spend."""
        from retailsim.cli import fail, out, print_error
        from retailsim.errors import RetailsimError
        from retailsim.storage.dataset import Dataset

        paths = list(datasets or [])
        if not paths:
            default = Path("data") / "demo"
            if not (default / "manifest.json").is_file():
                raise fail(
                    "no dataset given and data/demo does not exist; create one with "
                    "`retailsim generate --preset demo --out data/demo` (or `make demo`)"
                )
            paths = [default]
        resolved: list[Path] = []
        for p in paths:
            try:
                Dataset(p)
            except RetailsimError as err:
                raise fail(str(err)) from None
            resolved.append(p.resolve())
        try:
            import streamlit  # noqa: F401
        except ImportError:
            raise fail("the dashboard needs the app extra: pip install 'retailsim[app]'") from None
        if port == 0:
            port = free_port()
        url = f"http://{'localhost' if host in ('0.0.0.0', '::') else host}:{port}"
        out.print(
            f"retailsim dashboard on {', '.join(p.name for p in resolved)}: [bold]{url}[/]  (Ctrl-C stops it)"
        )
        cmd = streamlit_command(resolved, port=port, host=host, headless=no_browser)
        code = _run_child(cmd, app_env(resolved, models))
        if code not in (0, -2, 130):
            print_error(f"streamlit exited with status {code}")
            raise typer.Exit(code)
