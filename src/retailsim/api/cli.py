"""Scoring API command: serve (issue: Scoring API)."""

from __future__ import annotations

import copy
import logging
import logging.config
import time
from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the root `retailsim` app."""
    app.command()(serve)


def serve(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder to predict from.")],
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="Trained model folder (default: the dataset's champion)."),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback requires an API key.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    api_key_file: Annotated[
        Path | None,
        typer.Option(
            "--api-key-file",
            help="File whose first line is the API key (else the RETAILSIM_API_KEY environment variable). "
            "The key is never accepted on the command line.",
            dir_okay=False,
        ),
    ] = None,
    max_batch: Annotated[
        int | None, typer.Option(min=1, help="Most ids per POST /score (env RETAILSIM_API_MAX_BATCH).")
    ] = None,
    max_body_bytes: Annotated[
        int | None,
        typer.Option(min=256, help="Largest request body in bytes (env RETAILSIM_API_MAX_BODY_BYTES)."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info or debug.")] = "info",
) -> None:
    """Serve next-30-day predictions over HTTP (FastAPI + uvicorn): /health, /model, /predict, /score, /docs."""
    from retailsim.api.security import HEADER, check_bind, load_api_key
    from retailsim.api.settings import ApiSettings
    from retailsim.cli import console, fail
    from retailsim.errors import RetailsimError

    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise fail(f"--log-level must be critical, error, warning, info or debug (got {log_level!r})")
    try:
        import uvicorn

        from retailsim.api.app import create_app
    except ImportError as err:
        raise fail(f"the scoring API needs the 'api' extra (pip install 'retailsim[api]'): {err}") from None
    try:
        key = load_api_key(api_key_file)
        check_bind(host, key)
        settings = ApiSettings.from_env(max_batch=max_batch, max_body_bytes=max_body_bytes, api_key=key)
        console.print(f"loading the model and {dataset} …", highlight=False)
        t0 = time.perf_counter()
        api = create_app(dataset, model, settings)
    except RetailsimError as err:
        raise fail(str(err)) from None
    svc = api.state.service
    cached = svc.cached_days()
    console.print(
        f"ready in {time.perf_counter() - t0:.1f} s"
        + (f"; everyone scored as of {cached[0]} (cached)" if cached else ""),
        highlight=False,
    )
    url_host = f"[{host}]" if ":" in host else host
    console.print(
        f"serving model [bold]{svc.model_id}[/] ({svc.model_version}) on http://{url_host}:{port} "
        f"— docs at /docs; API key {'required (' + HEADER + ' header)' if key else 'not required'}",
        highlight=False,
    )
    log_config = _log_config(log_level)
    logging.config.dictConfig(log_config)
    uvicorn.run(
        api,
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config,
        access_log=log_level in ("info", "debug"),
        server_header=False,
        proxy_headers=False,
    )


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging configuration, with the API's own logger (``retailsim.api``) on the same handler."""
    from uvicorn.config import LOGGING_CONFIG

    cfg: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    cfg["loggers"]["retailsim"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return cfg
