"""Shared look and behaviour of the dashboard's pages: formatting, error handling, "missing input" notes."""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from retailsim.app import data
from retailsim.errors import RetailsimError

log = logging.getLogger("retailsim.app")


# --- formatting ---------------------------------------------------------------------------------------------


def _missing(x: Any) -> bool:
    try:
        return x is None or (isinstance(x, float) and math.isnan(x)) or bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def money(x: Any, currency: str = "", *, compact: bool = False) -> str:
    """``$1,234.56``; with ``compact`` large values as ``$1.23M``. ``—`` when missing."""
    if _missing(x):
        return "—"
    v = float(x)
    sign = "-" if v < 0 else ""
    v = abs(v)
    if compact:
        for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if v >= div:
                return f"{sign}{currency}{v / div:,.2f}{suffix}"
    return f"{sign}{currency}{v:,.2f}"


def number(x: Any, digits: int = 0) -> str:
    if _missing(x):
        return "—"
    return f"{float(x):,.{digits}f}"


def pct(x: Any, digits: int = 1) -> str:
    """A share (0.123) as ``12.3%``."""
    if _missing(x):
        return "—"
    return f"{100 * float(x):.{digits}f}%"


def date(x: Any) -> str:
    """ISO date ``2024-05-31`` (the one date format of the dashboard)."""
    if _missing(x):
        return "—"
    return pd.Timestamp(x).strftime("%Y-%m-%d")


def month(x: Any) -> str:
    if _missing(x):
        return "—"
    return pd.Timestamp(x).strftime("%Y-%m")


def delta(cur: Any, prev: Any) -> str | None:
    """Period-over-period change for ``st.metric`` (``+4.2%``); None when there is no previous value."""
    if _missing(cur) or _missing(prev) or float(prev) == 0:
        return None
    return f"{(float(cur) / float(prev) - 1) * 100:+.1f}%"


def money_column(label: str, currency: str) -> Any:
    """``st.column_config`` for a money column, formatted like :func:`money`."""
    named = {"$": "dollar", "€": "euro", "": "localized"}
    fmt = named.get(currency, f"{currency}%.2f")
    return st.column_config.NumberColumn(label, format=fmt)


# --- charts -------------------------------------------------------------------------------------------------


def style(
    fig: go.Figure, *, height: int = 360, money_axis: str | None = None, currency: str = ""
) -> go.Figure:
    """The dashboard's chart style: margins, legend on top, currency prefix on money axes. Colours and fonts come
    from Streamlit's theme (no Plotly template is built: that alone costs ~0.1 s per chart)."""
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
    )
    if money_axis == "y":
        fig.update_yaxes(tickprefix=currency, separatethousands=True)
    elif money_axis == "x":
        fig.update_xaxes(tickprefix=currency, separatethousands=True)
    return fig


def chart(fig: go.Figure, key: str | None = None) -> None:
    st.plotly_chart(fig, key=key, config={"displaylogo": False})


@st.cache_resource(show_spinner=False, max_entries=512)
def _figure(cache_key: tuple[Any, ...], _build: Callable[[], Any]) -> Any:
    return _build()


def cached_figure(cache_key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    """``build()`` (a Plotly figure, or several, or None), computed once per ``cache_key`` — which must name
    every input: the dataset and its stamp, the chart and its filters. Building a Plotly figure costs far more
    than drawing a built one, so reruns that change nothing about a chart stay fast. Never mutate the result:
    it is shared by every session."""
    return _figure(cache_key, build)


def cached_chart(cache_key: tuple[Any, ...], build: Callable[[], go.Figure], key: str) -> None:
    """Draw :func:`cached_figure` of ``build``."""
    chart(cached_figure((key, *cache_key), build), key=key)


# --- page scaffolding ---------------------------------------------------------------------------------------


def missing(what: str, command: str, why: str | None = None) -> None:
    """Say which input is missing and the command that creates it, instead of failing."""
    st.info(f"{what} is not available for this dataset{f' ({why})' if why else ''}. Create it with:")
    st.code(command, language="bash")


def error(message: str, err: BaseException | None = None) -> None:
    """Show an error with its cause, never a traceback."""
    cause = (
        f" — {type(err).__name__}: {err}" if err is not None and not isinstance(err, RetailsimError) else ""
    )
    if isinstance(err, RetailsimError):
        cause = f" — {err}"
    st.error(f"{message}{cause}")


def no_dataset() -> None:
    st.warning("No dataset is open.")
    st.markdown("Generate one and open it in the dashboard:")
    st.code(
        "retailsim generate --preset demo --out data/demo\nretailsim app data/demo",
        language="bash",
    )


def run_page(title: str, render: Callable[[data.Ctx], None], *, caption: str | None = None) -> None:
    """Render a page body under a title; any failure becomes one ``st.error`` with its cause."""
    st.title(title)
    if caption:
        st.caption(caption)
    ctx = data.current()
    if ctx is None:
        no_dataset()
        return
    try:
        render(ctx)
    except RetailsimError as err:
        error(f"{title} could not be shown", err)
    except Exception as err:
        log.exception("page %s failed", title)
        error(f"{title} could not be shown", err)


def section(render: Callable[[], None], what: str) -> None:
    """Render one part of a page; its failure is reported without hiding the rest of the page."""
    try:
        render()
    except RetailsimError as err:
        error(f"{what} could not be shown", err)
    except Exception as err:
        log.exception("section %s failed", what)
        error(f"{what} could not be shown", err)


def to_date(x: Any) -> dt.date:
    return pd.Timestamp(x).date()


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode("utf-8")


def download_csv(label: str, df: pd.DataFrame, file_name: str, key: str) -> None:
    """A CSV download of ``df``; the file is only built when the button is clicked (big tables stay fast)."""
    st.download_button(
        label, lambda: csv_bytes(df), file_name=file_name, mime="text/csv", key=key, on_click="ignore"
    )
