"""Serving: load a trained model once, then predict one customer (optionally with today's basket) or score many.

This is the one implementation behind ``retailsim ml predict`` / ``ml score``, the dashboard and the HTTP API::

    from retailsim.ml import load_model, Basket, BasketItem
    predictor = load_model("data/demo")                       # <dataset>/models/champion.json
    p = predictor.predict_customer(ds, 42)                     # Prediction(spend, p_buy, lo, hi, model_id …)
    p = predictor.predict_customer(ds, 42, today=Basket(store_id=3, items=[BasketItem(product_id=7, quantity=2)]))
    scores = predictor.score(ds, [1, 2, 999_999])              # DataFrame, status per row

Every path goes through :func:`~retailsim.ml.features.build_features` on the dataset's DuckDB views; today's
basket is appended to those views (:class:`~retailsim.ml.basket.OverlayDataset`), so a prediction with a
basket equals scoring a dataset with that transaction added.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from retailsim.ml import artifacts
from retailsim.ml.basket import Basket, with_basket
from retailsim.ml.errors import (
    ArtifactError,
    AsOfError,
    CustomerNotKnownYet,
    SchemaMismatchError,
    UnknownCustomerError,
)
from retailsim.ml.features import FeatureSpec, build_features, check_compatible, data_range
from retailsim.ml.models import MODEL_CLASSES, SpendModel
from retailsim.ml.models.boosting import HurdleModel
from retailsim.storage.customer_ids import resolve, source_ids
from retailsim.storage.dataset import Dataset

#: Value segments by predicted spend, from the quantiles of the test-cutoff predictions stored in the card.
SEGMENTS = ("low", "medium", "high", "top")
SEGMENT_QUANTILES = (0.4, 0.7, 0.9)
#: ``status`` values of :meth:`Predictor.score` rows.
STATUSES = ("ok", "unknown_customer", "not_yet_customer", "invalid_id")


class Driver(BaseModel):
    """A feature that matters to the model, with this customer's value."""

    model_config = ConfigDict(frozen=True)

    feature: str
    value: float | str
    importance: float = Field(description="Share of the model's global importance (sums to 1 over features).")


class Prediction(BaseModel):
    """One customer's next-horizon prediction (the response of ``POST /predict``)."""

    model_config = ConfigDict(frozen=True)

    customer_id: int = Field(
        description="The customer's id in the dataset (surrogate key of an imported log)."
    )
    external_id: str | None = Field(
        None, description="The customer's id in the source system (imported logs; None for generated data)."
    )
    as_of: dt.date = Field(description="Cutoff: features use data up to and including this day.")
    horizon_days: int = Field(description="The prediction covers the days as_of + 1 … as_of + horizon_days.")
    spend: float = Field(description="Expected net spend in the horizon.")
    p_buy: float = Field(description="Probability of at least one purchase in the horizon.")
    lo: float = Field(description="Lower bound of the prediction interval for spend.")
    hi: float = Field(description="Upper bound of the prediction interval for spend.")
    interval: float = Field(description="Nominal coverage of [lo, hi], e.g. 0.8.")
    segment: str = Field(description=f"Value segment by predicted spend: one of {', '.join(SEGMENTS)}.")
    model_id: str
    with_basket: bool = Field(False, description="True when today's basket was added before predicting.")
    drivers: list[Driver] = Field(
        default_factory=list, description="Most important features and their values."
    )


def _open(ds: Dataset | str | Path) -> Dataset:
    return ds if isinstance(ds, Dataset) else Dataset(ds)


def _load_model_folder(folder: Path) -> SpendModel:
    try:
        meta = json.loads((folder / "params.json").read_text(encoding="utf-8"))
        cls = MODEL_CLASSES[meta["model"]]
    except (OSError, json.JSONDecodeError, KeyError) as err:
        raise ArtifactError(f"{folder}: not a saved retailsim model ({err})") from None
    return cls.load(folder)


class Predictor:
    """A trained point model plus its hurdle head, feature spec and model card.

    Use :func:`load_model` to get one from disk; training returns one too.
    """

    def __init__(
        self,
        model: SpendModel,
        head: HurdleModel,
        spec: FeatureSpec,
        card: dict[str, Any],
        path: Path | None = None,
    ) -> None:
        self.model = model
        self.head = head
        self.spec = spec
        self.card = card
        self.path = path

    # -- identity --------------------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return str(self.card.get("model_id", "unsaved"))

    @property
    def horizon_days(self) -> int:
        return self.spec.horizon_days

    @property
    def interval(self) -> float:
        return float(self.head.coverage)

    @property
    def importance(self) -> dict[str, float]:
        """Global feature importance of the point model (or of the head when it has none)."""
        imp = self.card.get("importance") or {}
        return {str(k): float(v) for k, v in imp.items()}

    def info(self) -> dict[str, Any]:
        """A short summary for ``/health`` and the dashboard: id, model, training time, data hash, horizon."""
        c = self.card
        return {
            "model_id": self.model_id,
            "model": c.get("model"),
            "created_at": c.get("created_at"),
            "data_manifest_sha256": c.get("dataset", {}).get("manifest_sha256"),
            "horizon_days": self.horizon_days,
            "interval": self.interval,
            "cutoffs": c.get("cutoffs"),
        }

    # -- core ------------------------------------------------------------------------------------------
    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions for a feature frame from :func:`~retailsim.ml.features.build_features` (same spec).

        Returns ``customer_id``, ``as_of``, ``spend``, ``p_buy``, ``lo``, ``hi``, ``segment``, ``model_id``.
        """
        if len(frame) == 0:
            return pd.DataFrame(
                {
                    "customer_id": pd.Series([], dtype="int64"),
                    "as_of": pd.Series([], dtype="datetime64[s]"),
                    "spend": pd.Series([], dtype="float64"),
                    "p_buy": pd.Series([], dtype="float64"),
                    "lo": pd.Series([], dtype="float64"),
                    "hi": pd.Series([], dtype="float64"),
                    "segment": pd.Series([], dtype=object),
                    "model_id": pd.Series([], dtype=object),
                }
            )
        spend = np.maximum(np.asarray(self.model.predict(frame), dtype=np.float64), 0.0)
        p_buy = self.head.predict_proba_buy(frame)
        lo, hi = self.head.predict_interval(frame)
        return pd.DataFrame(
            {
                "customer_id": frame["customer_id"].to_numpy(),
                "as_of": frame["cutoff"].to_numpy(),
                "spend": spend,
                "p_buy": p_buy,
                "lo": lo,
                "hi": hi,
                "segment": self.segments(spend),
                "model_id": self.model_id,
            }
        )

    def segments(self, spend: np.ndarray) -> np.ndarray:
        """Value segment of each predicted spend (thresholds fixed at training)."""
        cuts = self.card.get("segments", {}).get("thresholds")
        if not cuts:
            return np.full(len(spend), SEGMENTS[0], dtype=object)
        idx = np.searchsorted(np.asarray(cuts, dtype=np.float64), np.asarray(spend), side="right")
        return np.asarray(SEGMENTS, dtype=object)[idx]

    def _as_of(self, ds: Dataset, as_of: dt.date | str | None) -> dt.date:
        start, end = data_range(ds)
        if as_of is None:
            return end
        try:
            d = pd.Timestamp(as_of).date()
        except (ValueError, TypeError):
            raise AsOfError(f"as-of date {as_of!r} is not a date (use YYYY-MM-DD)") from None
        if d < start:
            raise AsOfError(f"as-of date {d} is before the data starts ({start}); nothing is known then")
        if d > end:
            raise AsOfError(
                f"as-of date {d} is after the data ends ({end}): the days in between are unobserved, not days "
                "without purchases; use an as-of date up to the last day of data"
            )
        return d

    def _check(self, ds: Dataset) -> None:
        check_compatible(ds, self.spec)

    @staticmethod
    def _signups(ds: Dataset, ids: list[int]) -> dict[int, dt.date]:
        """Signup (or first purchase) date of each id that exists."""
        if not ids:
            return {}
        con = ds.connect()
        try:
            con.execute("SET enable_progress_bar = false")
            con.register("ml_probe", pd.DataFrame({"customer_id": np.asarray(ids, dtype=np.int64)}))
            if ds.has_column("customers", "signup_date"):
                sql = (
                    "SELECT c.customer_id, c.signup_date FROM customers c "
                    "WHERE c.customer_id IN (SELECT customer_id FROM ml_probe)"
                )
            else:
                sql = (
                    "SELECT t.customer_id, CAST(MIN(t.txn_ts) AS DATE) FROM transactions t "
                    "WHERE t.customer_id IN (SELECT customer_id FROM ml_probe) GROUP BY 1"
                )
            rows = con.execute(sql).fetchall()
        finally:
            con.close()
        return {int(c): pd.Timestamp(s).date() for c, s in rows}

    # -- public API --------------------------------------------------------------------------------------
    def score(
        self,
        ds: Dataset | str | Path,
        customer_ids: Iterable[Any] | None = None,
        as_of: dt.date | str | None = None,
    ) -> pd.DataFrame:
        """Score many customers as of a date.

        Parameters
        ----------
        ds
            Dataset (or its folder) to read the customers' history from.
        customer_ids
            Customers to score; ``None`` = every customer known at ``as_of``. On an imported log a value may
            be the source system's id (``external_id``, preferred when it matches) or the surrogate
            ``customer_id`` (:func:`retailsim.storage.customer_ids.resolve`). Ids that cannot be scored keep
            their row with a ``status`` (``unknown_customer``, ``not_yet_customer``, ``invalid_id``) and a
            ``message``; the rest are still scored.
        as_of
            Cutoff date (default: the last day of data).

        Returns
        -------
        pandas.DataFrame
            ``customer_id``, ``external_id`` (the source id; null on generated data), ``as_of``, ``spend``,
            ``p_buy``, ``lo``, ``hi``, ``segment``, ``model_id``, ``status``, ``message`` — in the order of
            ``customer_ids`` (or by id).

        Raises
        ------
        AsOfError, SchemaMismatchError
            For a bad date or a dataset the model cannot read.
        """
        ds = _open(ds)
        self._check(ds)
        day = self._as_of(ds, as_of)
        need_seq = self.model.needs_sequences
        if customer_ids is None:
            frame = build_features(ds, [day], self.spec, sequences=need_seq)
            out = self.predict_frame(frame)
            out.insert(1, "external_id", pd.Series(source_ids(ds, out["customer_id"]), dtype="string"))
            out["status"] = "ok"
            out["message"] = ""
            return out
        raw = list(customer_ids)
        resolved = resolve(ds, raw)
        parsed = resolved.ids
        valid = sorted({v for v in parsed if v is not None})
        signups = self._signups(ds, valid)
        known = [v for v in valid if v in signups and signups[v] <= day]
        frame = build_features(ds, [day], self.spec, customers=known, sequences=need_seq)
        pred = self.predict_frame(frame).set_index("customer_id")
        rows = []
        for v, p in zip(raw, parsed, strict=True):
            if p is None and not resolved.source_ids_exist:
                rows.append(
                    {"customer_id": None, "status": "invalid_id", "message": f"not a customer id: {v!r}"}
                )
            elif p is None or p not in signups:
                what = f"{p}" if p is not None else f"{v!r}"
                rows.append(
                    {"customer_id": p, "status": "unknown_customer", "message": f"unknown customer {what}"}
                )
            elif signups[p] > day:
                rows.append(
                    {
                        "customer_id": p,
                        "status": "not_yet_customer",
                        "message": f"customer {p} signed up on {signups[p]}, after {day}",
                    }
                )
            else:
                r = pred.loc[p]
                rows.append(
                    {
                        "customer_id": p,
                        "spend": float(r["spend"]),
                        "p_buy": float(r["p_buy"]),
                        "lo": float(r["lo"]),
                        "hi": float(r["hi"]),
                        "segment": r["segment"],
                        "status": "ok",
                        "message": "",
                    }
                )
        out = pd.DataFrame(
            rows, columns=["customer_id", "spend", "p_buy", "lo", "hi", "segment", "status", "message"]
        )
        out["customer_id"] = out["customer_id"].astype("Int64")
        for c in ("spend", "p_buy", "lo", "hi"):
            out[c] = out[c].astype("float64")
        out.insert(1, "external_id", pd.Series(source_ids(ds, out["customer_id"].tolist()), dtype="string"))
        out.insert(2, "as_of", pd.Timestamp(day))
        out.insert(8, "model_id", self.model_id)
        return out

    def predict_customer(
        self,
        ds: Dataset | str | Path,
        customer_id: Any,
        as_of: dt.date | str | None = None,
        today: Basket | dict[str, Any] | None = None,
        *,
        drivers: int = 8,
    ) -> Prediction:
        """Predict one customer's spend, P(buy) and interval for the horizon after ``as_of``.

        Parameters
        ----------
        ds
            Dataset (or its folder).
        customer_id
            The customer: its ``customer_id``, or on an imported log its source id (``external_id``).
        as_of
            Cutoff (default: the last day of data).
        today
            Today's basket (:class:`Basket` or its JSON mapping): added as a transaction of the customer on
            ``as_of`` before features are computed.
        drivers
            How many of the model's most important features to return with the customer's values.

        Raises
        ------
        UnknownCustomerError, CustomerNotKnownYet, AsOfError
            Bad customer or date.
        UnknownProductError, UnknownStoreError, BasketError
            Bad basket.
        SchemaMismatchError
            The model needs columns the dataset lacks.
        """
        ds = _open(ds)
        self._check(ds)
        day = self._as_of(ds, as_of)
        resolved = resolve(ds, [customer_id])
        cid = resolved.ids[0]
        signup = None if cid is None else self._signups(ds, [cid]).get(cid)
        if cid is None or signup is None:
            raise UnknownCustomerError(customer_id)
        if signup > day:
            raise CustomerNotKnownYet(cid, signup, day)
        source: Dataset = ds
        if today is not None:
            basket = today if isinstance(today, Basket) else Basket.parse(today)
            source = with_basket(ds, basket, cid, day)
        frame = build_features(
            source, [day], self.spec, customers=[cid], sequences=self.model.needs_sequences
        )
        if len(frame) != 1:  # pragma: no cover - guarded by the signup check
            raise UnknownCustomerError(cid)
        row = self.predict_frame(frame).iloc[0]
        top = list(self.importance.items())[:drivers]
        drv = []
        for feat, imp in top:
            if feat in frame.columns:
                v = frame[feat].iloc[0]
                drv.append(Driver(feature=feat, value=v if isinstance(v, str) else float(v), importance=imp))
        return Prediction(
            customer_id=cid,
            external_id=source_ids(ds, [cid])[0],
            as_of=day,
            horizon_days=self.horizon_days,
            spend=float(row["spend"]),
            p_buy=float(row["p_buy"]),
            lo=float(row["lo"]),
            hi=float(row["hi"]),
            interval=self.interval,
            segment=str(row["segment"]),
            model_id=self.model_id,
            with_basket=today is not None,
            drivers=drv,
        )

    # -- persistence --------------------------------------------------------------------------------------
    def save(self, model_dir: str | Path, card: dict[str, Any] | None = None) -> Path:
        """Write this predictor under ``model_dir/<model_id>`` (atomically) and return that folder.

        The model id is the point model's name plus a digest of the saved files, so identical models get
        identical ids.
        """
        import hashlib
        import uuid

        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        staging = model_dir / f".staging-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            self.model.save(staging / artifacts.MODEL_DIR)
            self.head.save(staging / artifacts.HEAD_DIR)
            (staging / artifacts.FEATURES).write_text(
                json.dumps(self.spec.to_json(), indent=1) + "\n", encoding="utf-8"
            )
            hashes = artifacts.file_hashes(staging)
            digest = hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()[:12]
            model_id = f"{self.model.name}-{digest}"
            base = dict(card if card is not None else self.card)
            base["model_id"] = model_id
            base.setdefault("model", self.model.name)
            self.card = artifacts.write_card(staging, base)
            target = model_dir / model_id
            artifacts.publish(staging, target)
        except BaseException:
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.path = target
        return target


def load_model(path: str | Path) -> Predictor:
    """Load a predictor saved by training: a model folder, a model directory (its ``champion.json``) or a
    dataset folder (``<dataset>/models/champion.json``).

    Raises
    ------
    ArtifactError
        When the folder is missing, not a model, of another format version, or any file's SHA-256 differs
        from the model card (tampering or corruption).
    SchemaMismatchError
        When the stored feature spec is not understood.
    """
    folder = artifacts.resolve_model_folder(path)
    card = artifacts.read_card(folder)
    try:
        spec = FeatureSpec.from_json(json.loads((folder / artifacts.FEATURES).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise ArtifactError(f"{folder}: cannot read {artifacts.FEATURES}: {err}") from None
    model = _load_model_folder(folder / artifacts.MODEL_DIR)
    head = _load_model_folder(folder / artifacts.HEAD_DIR)
    if not isinstance(head, HurdleModel):
        raise ArtifactError(f"{folder}: the head is a {head.name!r} model, expected the hurdle model")
    if card.get("model") != model.name:
        raise ArtifactError(
            f"{folder}: the card describes a {card.get('model')!r} model but holds {model.name!r}"
        )
    if card.get("horizon_days") not in (None, spec.horizon_days):
        raise SchemaMismatchError(f"{folder}: the card's horizon differs from the feature spec's")
    return Predictor(model, head, spec, card, folder)
