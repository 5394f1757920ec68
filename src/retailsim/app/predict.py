"""The dashboard's side of the ML capability: finding and loading a trained model, validating the "today's
shopping" form field by field, and showing a prediction (spend, interval, P(buy), drivers).

Everything model-specific goes through :mod:`retailsim.ml` (``load_model`` → predictor with
``predict_customer``; :class:`retailsim.ml.basket.Basket`), so the page predicts exactly as
``retailsim ml predict`` does.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from retailsim.app import data, ui
from retailsim.app.data import Ctx
from retailsim.errors import RetailsimError

MODEL_CARD = "card.json"
CHAMPION = "champion.json"


def model_roots(ctx: Ctx) -> list[Path]:
    """Folders that hold trained models (``retailsim ml train`` writes ``DATASET/models``)."""
    return [r for r in data.models_root(ctx.path) if r.is_dir()]


def champion(root: Path) -> Path | None:
    """The model folder ``root/champion.json`` names (the model training picked on the validation cutoff)."""
    p = root / CHAMPION
    if not p.is_file():
        return None
    try:
        ref = json.loads(p.read_text(encoding="utf-8"))
        folder = root / Path(str(ref["folder"])).name
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return folder if (folder / MODEL_CARD).is_file() else None


def find_models(ctx: Ctx) -> list[Path]:
    """Model folders (with a ``card.json``) under ``$RETAILSIM_APP_MODELS`` and ``DATASET/models``; each
    root's champion first, then the other models, newest first. A root that is itself a model counts too."""
    found: list[Path] = []
    for root in model_roots(ctx):
        if (root / MODEL_CARD).is_file():
            found.append(root)
            continue
        champ = champion(root)
        others = sorted(
            (p for p in root.iterdir() if p.is_dir() and (p / MODEL_CARD).is_file() and p != champ),
            key=lambda p: (p / MODEL_CARD).stat().st_mtime,
            reverse=True,
        )
        for p in ([champ] if champ else []) + others:
            if p not in found:
                found.append(p)
    return found


def model_card(model_dir: Path) -> dict[str, Any]:
    p = model_dir / MODEL_CARD
    if not p.is_file():
        return {}
    card = data.read_json(str(p), str(p.stat().st_mtime_ns))
    return card if isinstance(card, dict) else {"card": card}


@st.cache_resource(show_spinner=False, max_entries=4)
def load_predictor(model_dir: str, stamp: str) -> Any:
    """The loaded model (:func:`retailsim.ml.load_model` verifies every file against the model card)."""
    from retailsim.ml.predict import load_model

    return load_model(Path(model_dir))


def model_stamp(model_dir: Path) -> str:
    card = model_dir / MODEL_CARD
    return f"{model_dir}:{card.stat().st_mtime_ns if card.is_file() else 0}"


# --- predictions --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prediction:
    """One customer's next-30-day prediction in the dashboard's terms."""

    spend: float
    p_buy: float
    low: float
    high: float
    level: float
    segment: str
    horizon_days: int
    drivers: pd.DataFrame = field(default_factory=pd.DataFrame)


def normalise(raw: Any) -> Prediction:
    """The ML capability's :class:`retailsim.ml.Prediction` as a :class:`Prediction`."""
    drivers = pd.DataFrame(
        [{"feature": d.feature, "value": d.value, "importance": float(d.importance)} for d in raw.drivers],
        columns=["feature", "value", "importance"],
    )
    return Prediction(
        spend=float(raw.spend),
        p_buy=float(raw.p_buy),
        low=float(raw.lo),
        high=float(raw.hi),
        level=float(raw.interval),
        segment=str(raw.segment),
        horizon_days=int(raw.horizon_days),
        drivers=drivers,
    )


def predict(ctx: Ctx, model_dir: Path, customer_id: int, as_of: dt.date, basket: Any | None) -> Prediction:
    """Predict one customer's next 30 days as of ``as_of``, with today's ``basket`` appended when given."""
    key = None if basket is None else basket.model_dump_json()
    return _predict_cached(
        str(ctx.path), ctx.stamp, str(model_dir), model_stamp(model_dir), int(customer_id), as_of, key
    )


@st.cache_data(show_spinner=False, max_entries=512)
def _predict_cached(
    path: str,
    stamp: str,
    model_dir: str,
    mstamp: str,
    customer_id: int,
    as_of: dt.date,
    basket_json: str | None,
) -> Prediction:
    from retailsim.ml.basket import Basket
    from retailsim.storage.dataset import Dataset

    predictor = load_predictor(model_dir, mstamp)
    basket = None if basket_json is None else Basket.model_validate_json(basket_json)
    raw = predictor.predict_customer(Dataset(path), customer_id, as_of=as_of, today=basket, drivers=8)
    return normalise(raw)


@st.cache_data(show_spinner=False, max_entries=8)
def data_range(path: str, stamp: str) -> tuple[dt.date, dt.date]:
    """First and last day a prediction may be made as of (the ML capability's own bounds)."""
    from retailsim.ml.features import data_range as ml_range
    from retailsim.storage.dataset import Dataset

    lo, hi = ml_range(Dataset(path))
    return lo, hi


# --- the "today's shopping" form ----------------------------------------------------------------------------


@dataclass
class FormRow:
    product: str = ""
    quantity: Any = 1
    unit_price: Any = None
    discount_pct: Any = 0.0  # percent in the form (0–80)


@dataclass
class FormResult:
    basket: Any | None
    field_errors: dict[tuple[int, str], str]
    form_errors: list[str]
    rows_used: list[int] = field(default_factory=list)  # form row of each basket item


def _limits() -> tuple[int, float, float]:
    try:
        from retailsim.ml.basket import MAX_DISCOUNT, MAX_QUANTITY, MAX_UNIT_PRICE

        return MAX_QUANTITY, MAX_UNIT_PRICE, MAX_DISCOUNT
    except ImportError:  # pragma: no cover - the schema's limits
        from retailsim import schema

        line = schema.TRANSACTION_LINES
        return int(line.column("quantity").max or 50), float(line.column("unit_price").max or 5000), 0.8


def lookup_products(ctx: Ctx, keys: list[str]) -> dict[str, int]:
    """Map what the user typed (a product id or a SKU) to product ids; unknown keys are left out."""
    keys = [k.strip() for k in keys if k.strip()]
    if not keys or not ctx.has("products"):
        return {}
    df = ctx.q(
        """SELECT k.key, p.product_id FROM (SELECT unnest(?::VARCHAR[]) AS key) k
           JOIN products p ON p.product_id = TRY_CAST(k.key AS INTEGER) OR upper(p.sku) = upper(k.key)""",
        [keys],
    )
    return {str(r.key): int(r.product_id) for r in df.itertuples()}


def validate_form(ctx: Ctx, store_id: Any, rows: list[FormRow]) -> FormResult:
    """Check every field of the form; build the :class:`~retailsim.ml.basket.Basket` when all are valid.

    Field errors are keyed by (row index, field) so the page can show each message next to its field; a row
    whose product is blank is ignored (fewer items than rows).
    """
    max_q, max_price, max_disc = _limits()
    errs: dict[tuple[int, str], str] = {}
    form: list[str] = []
    used = [(i, r) for i, r in enumerate(rows) if str(r.product or "").strip()]
    if not used:
        form.append("The basket is empty: enter at least one product.")
    has_catalogue = ctx.has("products")
    ids = lookup_products(ctx, [str(r.product) for _, r in used]) if has_catalogue else {}
    items: list[dict[str, Any]] = []
    for i, r in used:
        key = str(r.product).strip()
        pid: int | None
        if has_catalogue:
            pid = ids.get(key)
            if pid is None:
                errs[(i, "product")] = (
                    f"Unknown product {key!r}: give a product id or SKU from the catalogue."
                )
        else:
            try:
                pid = int(key)
            except ValueError:
                pid = None
                errs[(i, "product")] = "This dataset has no product catalogue: give a numeric product id."
        q = r.quantity
        if q is None or (isinstance(q, float) and math.isnan(q)):
            errs[(i, "quantity")] = "Enter a quantity."
        elif float(q) != int(float(q)):
            errs[(i, "quantity")] = "The quantity must be a whole number."
        elif int(q) < 1:
            errs[(i, "quantity")] = "The quantity must be at least 1 (returns are not supported)."
        elif int(q) > max_q:
            errs[(i, "quantity")] = f"{int(q)} units is implausible: at most {max_q} per line."
        price = r.unit_price
        if price is not None and not (isinstance(price, float) and math.isnan(price)):
            if float(price) <= 0:
                errs[(i, "unit_price")] = (
                    "The unit price must be above 0 (leave it empty for the list price)."
                )
            elif float(price) > max_price:
                errs[(i, "unit_price")] = f"A unit price above {ui.money(max_price)} is implausible."
        elif not has_catalogue:
            errs[(i, "unit_price")] = "Enter the unit price: this dataset has no list prices."
            price = None
        else:
            price = None
        disc = r.discount_pct if r.discount_pct is not None else 0.0
        if float(disc) < 0 or float(disc) > max_disc * 100:
            errs[(i, "discount_pct")] = f"The discount must be between 0% and {max_disc:.0%}."
        if not any(k[0] == i for k in errs):
            items.append(
                {
                    "product_id": pid,
                    "quantity": int(q),
                    "unit_price": None if price is None else round(float(price), 2),
                    "discount_pct": round(float(disc) / 100, 4),
                }
            )
    try:
        sid = int(store_id)
        if sid < 1:
            raise ValueError
    except (TypeError, ValueError):
        form.append("Choose a store.")
        sid = 0
    rows_used = [i for i, _ in used]
    if errs or form:
        return FormResult(None, errs, form, rows_used)
    from retailsim.ml.basket import Basket

    try:
        basket = Basket.parse({"store_id": sid, "items": items})
    except RetailsimError as err:  # anything the field checks above did not anticipate
        where, msg = field_error_from(err, rows_used)
        return FormResult(None, {where: msg} if where else {}, [] if where else [msg], rows_used)
    return FormResult(basket, errs, form, rows_used)


def field_error_from(err: BaseException, rows_used: list[int]) -> tuple[tuple[int, str] | None, str]:
    """Place an error of the ML capability next to its form field: ``(form row, field)`` (row -1 is the
    store), or None when it names no field. ``rows_used[i]`` is the form row of basket item ``i``."""
    from retailsim.ml.errors import UnknownProductError, UnknownStoreError

    def form_row(item: int) -> int:
        return rows_used[item] if 0 <= item < len(rows_used) else item

    if isinstance(err, UnknownProductError) and err.lines:
        return (form_row(int(err.lines[0])), "product"), str(err)
    if isinstance(err, UnknownStoreError):
        return (-1, "store"), str(err)
    col, row = getattr(err, "column", None), getattr(err, "row", None)
    if col and row:
        fieldname = str(col).rsplit(".", 1)[-1]
        if fieldname in ("product_id", "quantity", "unit_price", "discount_pct"):
            return (form_row(int(row) - 1), "product" if fieldname == "product_id" else fieldname), str(err)
    return None, str(err)


# --- the panel ----------------------------------------------------------------------------------------------


def _show(pred: Prediction, cur: str, before: Prediction | None = None, key: str = "pred") -> None:
    c = st.columns(3)
    c[0].metric(
        f"Predicted spend, next {pred.horizon_days} days",
        ui.money(pred.spend, cur),
        None if before is None else f"{pred.spend - before.spend:+,.2f} with today's basket",
    )
    c[1].metric(
        f"P(buys in the next {pred.horizon_days} days)",
        ui.pct(pred.p_buy),
        None if before is None else f"{100 * (pred.p_buy - before.p_buy):+.1f} pts",
    )
    c[2].metric(
        "Predicted value segment", pred.segment, help="From the model's spend thresholds set at training."
    )
    st.markdown(
        f"{pred.level:.0%} interval for the spend: **{ui.money(pred.low, cur)} – {ui.money(pred.high, cur)}**"
    )
    d = pred.drivers
    if d.empty:
        return
    labels = [
        f"{f} = {v:,.2f}" if isinstance(v, float) else f"{f} = {v}"
        for f, v in zip(d["feature"], d["value"], strict=True)
    ]
    fig = go.Figure(
        go.Bar(
            x=d["importance"][::-1],
            y=labels[::-1],
            orientation="h",
            hovertemplate="%{y}<br>%{x:.1%} of the model's importance<extra></extra>",
        )
    )
    fig.update_xaxes(tickformat=".0%", title="share of the model's importance")
    fig.update_layout(title="Main drivers (the model's most important features, with this customer's values)")
    ui.chart(ui.style(fig, height=320), key=f"{key}_drivers")


def prediction_panel(ctx: Ctx, customer_id: int, *, max_items: int = 8) -> None:
    """Prediction for the next 30 days and the "today's shopping" form (Customer 360 page)."""
    st.subheader("Next 30 days")
    cur = ctx.currency
    models = find_models(ctx)
    if not models:
        ui.missing(
            "A trained model",
            f"retailsim ml train {ctx.path}",
            why=f"no {MODEL_CARD} under {ctx.path / 'models'}",
        )
        return
    model_dir = models[0]
    if len(models) > 1:
        model_dir = st.selectbox(
            "Model",
            models,
            format_func=lambda p: p.name,
            key="pred_model",
        )
    lo, hi = data_range(str(ctx.path), ctx.stamp)
    as_of = st.date_input(
        "As of (predict the days after this date, using data up to it)",
        value=hi,
        min_value=lo,
        max_value=hi,
        key="pred_as_of",
        format="YYYY-MM-DD",
    )
    try:
        base = predict(ctx, model_dir, customer_id, as_of, None)
    except RetailsimError as err:
        st.error(f"No prediction for customer {customer_id} as of {ui.date(as_of)}: {err}")
        return
    _show(base, cur)
    _basket_form(ctx, model_dir, customer_id, as_of, base, max_items)


def basket_text(ctx: Ctx, basket: Any, cur: str) -> str:
    """``3 lines, 7 items, $23.40`` (list prices where the form left the price empty)."""
    prices: dict[int, float] = {}
    if ctx.has("products"):
        ids = [it.product_id for it in basket.items]
        df = ctx.q(
            "SELECT product_id, list_price FROM products WHERE list_price IS NOT NULL AND product_id IN "
            "(SELECT unnest(?::INTEGER[]))",
            [ids],
        )
        prices = {int(r.product_id): float(r.list_price) for r in df.itertuples()}
    total = 0.0
    for it in basket.items:
        price = it.unit_price if it.unit_price is not None else prices.get(it.product_id)
        if price is None:
            return f"{len(basket.items)} line(s), {sum(it.quantity for it in basket.items)} item(s)"
        total += round(it.quantity * price * (1 - it.discount_pct), 2)
    items = sum(it.quantity for it in basket.items)
    return f"{len(basket.items)} line(s), {items} item(s), {ui.money(total, cur)}"


def _store_options(ctx: Ctx) -> dict[int, str]:
    if not ctx.has("stores"):
        return {}
    df = ctx.q("SELECT store_id, store_name, format FROM stores ORDER BY store_id")
    return {int(r.store_id): f"{r.store_name} ({r.format})" for r in df.itertuples()}


def _basket_form(
    ctx: Ctx, model_dir: Path, customer_id: int, as_of: dt.date, base: Prediction, max_items: int
) -> None:
    cur = ctx.currency
    if st.session_state.get("basket_customer") != customer_id:  # a new customer starts with an empty basket
        for k in ("basket_json", "basket_field_errors", "basket_form_errors"):
            st.session_state.pop(k, None)
        st.session_state["basket_customer"] = customer_id
    st.markdown("#### Today's shopping")
    st.caption(
        f"Add what the customer buys on {ui.date(as_of)}: the basket is appended as a transaction of that day and "
        "the features are recomputed, exactly as in training. Leave the price empty for the list price."
    )
    n = int(st.number_input("Lines", min_value=1, max_value=max_items, value=2, step=1, key="basket_n"))
    stores = _store_options(ctx)
    home = (
        ctx.scalar("SELECT home_store_id FROM customers WHERE customer_id = ?", [customer_id])
        if ctx.has_column("customers", "home_store_id")
        else None
    )
    errors: dict[tuple[int, str], str] = st.session_state.get("basket_field_errors", {})
    with st.form("basket_form"):
        if stores:
            ids = list(stores)
            idx = ids.index(int(home)) if home is not None and not pd.isna(home) and int(home) in ids else 0
            store = st.selectbox("Store", ids, index=idx, format_func=lambda i: stores[i], key="basket_store")
        else:
            store = st.number_input("Store id", min_value=1, value=1, step=1, key="basket_store")
        if errors.get((-1, "store")):
            st.error(errors[(-1, "store")])
        rows: list[FormRow] = []
        for i in range(n):
            c = st.columns([3, 1, 1, 1])
            prod = c[0].text_input(f"Product {i + 1} (id or SKU)", key=f"basket_p{i}")
            qty = c[1].number_input("Quantity", value=1, step=1, key=f"basket_q{i}")
            price = c[2].number_input(
                f"Unit price {cur}".strip(), value=None, step=0.1, format="%.2f", key=f"basket_u{i}"
            )
            disc = c[3].number_input("Discount %", value=0.0, step=5.0, format="%.1f", key=f"basket_d{i}")
            for col, fieldname in (
                (c[0], "product"),
                (c[1], "quantity"),
                (c[2], "unit_price"),
                (c[3], "discount_pct"),
            ):
                msg = errors.get((i, fieldname))
                if msg:
                    col.error(msg)
            rows.append(FormRow(prod, qty, price, disc))
        submitted = st.form_submit_button("Predict with today's basket", type="primary")
    if submitted:
        res = validate_form(ctx, store, rows)
        st.session_state["basket_form_errors"] = res.form_errors
        st.session_state["basket_field_errors"] = res.field_errors
        st.session_state["basket_json"] = None if res.basket is None else res.basket.model_dump_json()
        st.session_state["basket_rows_used"] = res.rows_used
        st.rerun()
    for msg in st.session_state.get("basket_form_errors", []):
        st.error(msg)
    basket_json = st.session_state.get("basket_json")
    if not basket_json:
        return
    from retailsim.ml.basket import Basket

    basket = Basket.model_validate_json(basket_json)
    try:
        with_today = predict(ctx, model_dir, customer_id, as_of, basket)
    except RetailsimError as err:
        where, msg = field_error_from(err, st.session_state.get("basket_rows_used", []))
        if where is not None:
            st.session_state["basket_field_errors"] = {where: msg}
            st.session_state["basket_json"] = None
            st.rerun()
        st.error(f"The basket could not be used: {msg}")
        return
    st.success(f"With today's basket ({basket_text(ctx, basket, cur)}):")
    _show(with_today, cur, before=base, key="pred_today")


# --- batch scoring ------------------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=16)
def _score(
    path: str, stamp: str, model_dir: str, mstamp: str, ids: tuple[int, ...] | None, as_of: dt.date
) -> pd.DataFrame:
    from retailsim.storage.dataset import Dataset

    predictor = load_predictor(model_dir, mstamp)
    return predictor.score(Dataset(path), None if ids is None else list(ids), as_of=as_of)


def score(ctx: Ctx, model_dir: Path, ids: tuple[int, ...] | None, as_of: dt.date) -> pd.DataFrame:
    """:meth:`retailsim.ml.Predictor.score`: ``customer_id, as_of, spend, p_buy, lo, hi, segment, model_id,
    status, message`` (``ids`` None = every customer known on ``as_of``)."""
    return _score(str(ctx.path), ctx.stamp, str(model_dir), model_stamp(model_dir), ids, as_of)
