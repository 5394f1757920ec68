"""What the API serves: one loaded model over one dataset, behind the library's own prediction functions.

There is no second implementation of prediction here. Every number comes from
:meth:`retailsim.ml.predict.Predictor.score` or :meth:`~retailsim.ml.predict.Predictor.predict_customer` —
the functions ``retailsim ml score`` and ``ml predict`` call. What this layer adds is a cache, because
computing one customer's features scans the dataset (about a second on the demo preset):

- for up to ``cache_dates`` as-of days (least recently used first out), the table
  ``Predictor.score(ds, None, day)`` — everyone known at that day, scored once. ``POST /predict`` without a
  basket and ``POST /score`` look customers up in it. The default day (the last day of data) is filled at
  start-up. Features of a customer do not depend on other customers and the models predict row by row, so a
  row of that table equals ``predict_customer`` for that customer (``tests/api`` checks it);
- ids that are not in the table (unknown, or signed up after the day) go to the library, which raises or
  reports the same error ``ml predict`` / ``ml score`` would;
- a request with today's basket always calls ``predict_customer(…, today=basket)``: only that customer's
  features are computed, on the dataset with the basket appended.

The service is read-only: it never writes to the dataset folder or the model folder.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from retailsim.api.models import (
    HealthResponse,
    Interval,
    ModelCard,
    PredictRequest,
    PredictResponse,
    ScoreRequest,
    ScoreResponse,
    ScoreRow,
)
from retailsim.api.settings import ApiSettings
from retailsim.errors import DatasetError
from retailsim.ml.artifacts import manifest_sha256
from retailsim.ml.errors import UnknownCustomerError
from retailsim.ml.features import check_compatible, data_range
from retailsim.ml.predict import Predictor, load_model
from retailsim.storage.customer_ids import by_source_id, has_source_ids, source_ids
from retailsim.storage.dataset import Dataset
from retailsim.storage.files import sha256_file

log = logging.getLogger("retailsim.api")

_VALUE_COLUMNS = ("spend", "p_buy", "lo", "hi", "segment")


def verify_dataset(ds: Dataset, *, hashes: bool) -> None:
    """Check that every file the manifest lists exists with its recorded size (and SHA-256 when ``hashes``).

    Raises
    ------
    DatasetError
        Naming the first missing, resized or modified file.
    """
    for f in ds.manifest.get("files", []):
        p = ds.path / f["path"]
        if not p.is_file():
            raise DatasetError(f"{ds.path} is incomplete: {f['path']} (listed in its manifest) is missing")
        size = f.get("bytes")
        if size is not None and p.stat().st_size != int(size):
            raise DatasetError(
                f"{ds.path}: {f['path']} has {p.stat().st_size} bytes, the manifest says {size} "
                "(modified or truncated after it was written)"
            )
        if hashes and f.get("sha256") and sha256_file(p) != f["sha256"]:
            raise DatasetError(
                f"{ds.path}: {f['path']} does not match the SHA-256 in its manifest (modified after it was written)"
            )


def _f(v: Any) -> float | None:
    """A float for JSON (NaN/None → None)."""
    if v is None:
        return None
    x = float(v)
    return None if math.isnan(x) else x


class ScoringService:
    """A loaded :class:`~retailsim.ml.predict.Predictor`, its dataset, and the per-date score cache.

    Thread-safe: FastAPI runs the (synchronous) endpoints in a thread pool.
    """

    def __init__(
        self, ds: Dataset, predictor: Predictor, settings: ApiSettings, *, warm: bool = True
    ) -> None:
        self.ds = ds
        self.predictor = predictor
        self.settings = settings
        self.started = time.monotonic()
        self.default_as_of: dt.date = data_range(ds)[1]
        self.dataset_hash = manifest_sha256(ds)
        self.has_source_ids = has_source_ids(ds)  # an imported log: customers also go by their source id
        self._tables: OrderedDict[dt.date, pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()  # guards _tables
        self._fill_lock = threading.Lock()  # one population scoring at a time
        if warm and settings.cache_dates > 0:
            t0 = time.perf_counter()
            table = self._table(self.default_as_of)
            log.info(
                "scored %d customers as of %s in %.1f s (cache warm-up)",
                0 if table is None else len(table),
                self.default_as_of,
                time.perf_counter() - t0,
            )

    @classmethod
    def load(
        cls,
        dataset_path: str | Path,
        model_path: str | Path | None,
        settings: ApiSettings,
        *,
        warm: bool = True,
    ) -> ScoringService:
        """Open and verify the dataset, load and verify the model, check they fit together.

        Raises
        ------
        DatasetError
            Missing, incomplete or modified dataset.
        ArtifactError
            Missing or tampered model (every file's SHA-256 is checked against its card).
        SchemaMismatchError
            The model needs columns this dataset lacks.
        """
        ds = Dataset(dataset_path)
        verify_dataset(ds, hashes=settings.verify_data)
        if not ds.has("transactions"):
            raise DatasetError(f"{ds.path} has no transactions table: nothing to predict from")
        predictor = load_model(model_path if model_path is not None else ds.path)
        check_compatible(ds, predictor.spec)
        return cls(ds, predictor, settings, warm=warm)

    # -- identity ----------------------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        return self.predictor.model_id

    @property
    def model_version(self) -> str:
        """The content digest in the model id (``hurdle-cbf45f1d6e49`` → ``cbf45f1d6e49``): a retrained model
        with other weights gets another one."""
        mid = self.model_id
        return mid.rsplit("-", 1)[1] if "-" in mid else mid

    def health(self) -> HealthResponse:
        """Liveness and what is served."""
        info = self.predictor.info()
        trained_on = info.get("data_manifest_sha256")
        return HealthResponse(
            model_id=self.model_id,
            model=str(info.get("model") or ""),
            model_version=self.model_version,
            trained_at=info.get("created_at"),
            data_manifest_hash=trained_on,
            dataset_manifest_hash=self.dataset_hash,
            serving_training_data=trained_on == self.dataset_hash if trained_on else None,
            horizon_days=self.predictor.horizon_days,
            as_of_default=self.default_as_of,
            cached_as_of=self.cached_days(),
            uptime_s=round(time.monotonic() - self.started, 3),
        )

    def model_card(self) -> ModelCard:
        """The model card, without the training machine's local paths."""
        card = _redact_paths(self.predictor.card)
        return ModelCard(model_id=self.model_id, model_version=self.model_version, card=card)

    # -- the cache ------------------------------------------------------------------------------------------
    def _table(self, day: dt.date | None) -> pd.DataFrame | None:
        """Everyone's scores at ``day`` (validated by the library on first use), or None when not caching."""
        n = self.settings.cache_dates
        if n == 0:
            return None
        key = day or self.default_as_of
        with self._lock:
            hit = self._tables.get(key)
            if hit is not None:
                self._tables.move_to_end(key)
                return hit
        with self._fill_lock:
            with self._lock:  # filled while we waited?
                hit = self._tables.get(key)
                if hit is not None:
                    return hit
            scores = self.predictor.score(self.ds, None, as_of=key)  # AsOfError for a bad day
            table = scores.set_index("customer_id")[list(_VALUE_COLUMNS)]
            with self._lock:
                self._tables[key] = table
                while len(self._tables) > n:
                    self._tables.popitem(last=False)
        return table

    def cached_days(self) -> list[dt.date]:
        """As-of days whose scores are in memory, least recently used first."""
        with self._lock:
            return list(self._tables)

    def clear_cache(self) -> None:
        """Forget every cached as-of day."""
        with self._lock:
            self._tables.clear()

    # -- predictions -----------------------------------------------------------------------------------------
    def _interval(self, lo: Any, hi: Any) -> Interval | None:
        lo_f, hi_f = _f(lo), _f(hi)
        if lo_f is None or hi_f is None:
            return None
        return Interval(lo=lo_f, hi=hi_f, level=self.predictor.interval)

    def _by_external(self, external_ids: list[str]) -> dict[str, int]:
        """Surrogate id of each source id that names a customer of the served dataset."""
        return by_source_id(self.ds, external_ids) if self.has_source_ids else {}

    def _names(self, ids: list[int]) -> dict[int, str | None]:
        """The source id of each surrogate id (none on generated data)."""
        if not self.has_source_ids:
            return {}
        return dict(zip(ids, source_ids(self.ds, ids), strict=True))

    def predict(self, req: PredictRequest) -> PredictResponse:
        """One customer (``ml predict``), from the cache when there is no basket."""
        day = req.as_of or self.default_as_of
        if req.external_id is not None:
            hit = self._by_external([req.external_id]).get(req.external_id.strip())
            if hit is None:
                raise UnknownCustomerError(req.external_id, field="external_id")
            cid = hit
        else:
            assert req.customer_id is not None  # the request model demands one of the two
            cid = req.customer_id
        if req.today is None:
            table = self._table(day)
            if table is not None and cid in table.index:
                r = table.loc[cid]
                return PredictResponse(
                    customer_id=cid,
                    external_id=self._names([cid]).get(cid),
                    as_of=day,
                    horizon_days=self.predictor.horizon_days,
                    predicted_spend=float(r["spend"]),
                    p_buy=_f(r["p_buy"]),
                    interval=self._interval(r["lo"], r["hi"]),
                    segment=str(r["segment"]),
                    with_basket=False,
                    model_id=self.model_id,
                    model_version=self.model_version,
                )
        # not cached, not known at that day, or with a basket: the library decides (and raises 404/422)
        p = self.predictor.predict_customer(self.ds, cid, as_of=day, today=req.today)
        return PredictResponse(
            customer_id=p.customer_id,
            external_id=p.external_id,
            as_of=p.as_of,
            horizon_days=p.horizon_days,
            predicted_spend=p.spend,
            p_buy=p.p_buy,
            interval=self._interval(p.lo, p.hi),
            segment=p.segment,
            with_basket=p.with_basket,
            model_id=p.model_id,
            model_version=self.model_version,
        )

    def score(self, req: ScoreRequest) -> ScoreResponse:
        """Many customers at one day (``ml score``): a row per requested id, in order, with its status."""
        day = req.as_of or self.default_as_of
        asked: list[int | None]
        if req.external_ids is not None:
            hits = self._by_external(req.external_ids)
            asked = [hits.get(e.strip()) for e in req.external_ids]
        else:
            asked = list(req.customer_ids or [])
        ids = [c for c in asked if c is not None]
        unique = list(dict.fromkeys(ids))
        table = self._table(day)
        found: dict[int, tuple[Any, ...]] = {}
        missing = unique
        if table is not None:
            present = table.index.isin(unique)
            sub = table[present]
            found = {
                int(c): (s, p, lo, hi, seg, "ok", "")
                for c, s, p, lo, hi, seg in zip(
                    sub.index.to_numpy(),
                    sub["spend"].to_numpy(),
                    sub["p_buy"].to_numpy(),
                    sub["lo"].to_numpy(),
                    sub["hi"].to_numpy(),
                    sub["segment"].to_numpy(),
                    strict=True,
                )
            }
            missing = [c for c in unique if c not in found]
        if missing:
            lib = self.predictor.score(self.ds, missing, as_of=day)  # one row per id, in order
            for c, s, p, lo, hi, seg, st, msg in zip(
                missing,
                lib["spend"].to_numpy(),
                lib["p_buy"].to_numpy(),
                lib["lo"].to_numpy(),
                lib["hi"].to_numpy(),
                lib["segment"].to_numpy(),
                lib["status"].to_numpy(),
                lib["message"].to_numpy(),
                strict=True,
            ):
                found[c] = (s, p, lo, hi, seg, str(st), str(msg))
        names = self._names(unique)
        rows = []
        for i, c in enumerate(asked):
            if c is None:  # an external id that names nobody
                ext = req.external_ids[i] if req.external_ids is not None else None
                rows.append(
                    ScoreRow(
                        customer_id=None,
                        external_id=ext,
                        status="unknown_customer",
                        error=f"unknown customer {ext!r}: no such external_id in this dataset",
                    )
                )
                continue
            s, p, lo, hi, seg, st, msg = found[c]
            ok = st == "ok"
            rows.append(
                ScoreRow(
                    customer_id=c,
                    external_id=names.get(c),
                    status=st,
                    predicted_spend=_f(s) if ok else None,
                    p_buy=_f(p) if ok else None,
                    interval=self._interval(lo, hi) if ok else None,
                    segment=str(seg) if ok and isinstance(seg, str) else None,
                    error=None if ok else msg or st,
                )
            )
        n_ok = sum(r.status == "ok" for r in rows)
        return ScoreResponse(
            as_of=day,
            horizon_days=self.predictor.horizon_days,
            model_id=self.model_id,
            model_version=self.model_version,
            n_scored=n_ok,
            n_failed=len(rows) - n_ok,
            rows=rows,
        )


def _redact_paths(card: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``card`` with local filesystem paths reduced to their last component."""

    def walk(v: Any, key: str = "") -> Any:
        if isinstance(v, dict):
            return {k: walk(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, str) and key in ("path", "model_path", "dataset_path") and ("/" in v or "\\" in v):
            return Path(v).name
        if isinstance(v, float | np.floating) and not math.isfinite(float(v)):
            return None
        return v

    out: dict[str, Any] = walk(card)
    return out
