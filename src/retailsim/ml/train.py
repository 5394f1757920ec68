"""The time-based backtest: train on earlier cutoffs, pick the champion on the validation cutoff, report on the
test cutoff, save the champion.

No random split anywhere: training rows come from cutoffs whose label windows end on or before the
validation cutoff, whose own window ends on or before the test cutoff. The champion is the model with the
lowest validation RMSE among the BG/NBD-anchored models and those that clearly beat BG/NBD + GG on the
validation cutoff (:func:`_pick_champion`); the test cutoff only measures.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from retailsim.ml import artifacts, metrics
from retailsim.ml.clv import fit_clv
from retailsim.ml.config import ALL_MODELS, MLConfig
from retailsim.ml.features import (
    LABEL,
    CutoffPlan,
    FeatureSpec,
    add_bgnbd_columns,
    bgnbd_rfm,
    build_features,
    data_range,
    feature_report,
    plan_cutoffs,
    plan_features,
)
from retailsim.ml.models import SpendModel, make_model
from retailsim.ml.models.boosting import HurdleModel
from retailsim.ml.models.ensemble import EnsembleModel, cross_fitted_predictions, nnls_weights
from retailsim.ml.predict import SEGMENT_QUANTILES, Predictor
from retailsim.storage.dataset import Dataset

ProgressFn = Callable[[str], None]


@dataclass
class TrainResult:
    """What a training run produced.

    Attributes
    ----------
    leaderboard
        One row per model (and the oracle on generated data): test-cutoff metrics, validation RMSE, gap closed,
        times. Sorted by test RMSE.
    champion
        Name of the model picked on the validation cutoff.
    predictor
        The champion as a :class:`~retailsim.ml.predict.Predictor` (saved when ``model_path`` is set).
    report
        Everything, JSON-able (what ``leaderboard.json`` holds).
    models
        Every model fitted in the backtest, by name (the blend included).
    """

    leaderboard: list[dict[str, Any]]
    champion: str
    predictor: Predictor
    report: dict[str, Any]
    model_path: Path | None = None
    report_paths: dict[str, Path] = field(default_factory=dict)
    saved: dict[str, Path] = field(default_factory=dict)
    models: dict[str, SpendModel] = field(default_factory=dict)


def _split(frame: pd.DataFrame, plan: CutoffPlan) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    cut = frame["cutoff"].dt.date
    return (
        frame[cut.isin(plan.train)].reset_index(drop=True),
        frame[cut == plan.validation].reset_index(drop=True),
        frame[cut == plan.test].reset_index(drop=True),
    )


def _oracle(ds: Dataset, cutoff: dt.date, part: pd.DataFrame, horizon: int) -> np.ndarray | None:
    if ds.kind != "generated" or not ds.has("customer_truth") or ds.config is None:
        return None
    from retailsim.generate.oracle import expected_spend

    o = expected_spend(ds, cutoff, horizon_days=horizon).set_index("customer_id")["expected_spend"]
    return o.reindex(part["customer_id"].to_numpy()).fillna(0.0).to_numpy(dtype=np.float64)


def _summary(m: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if k != "calibration"}


def _segments(part: pd.DataFrame, y: np.ndarray, p: np.ndarray) -> dict[str, list[dict[str, Any]]]:
    """Mean actual, mean prediction, mean residual and RMSE by customer segment."""
    rec = part["recency_days"].to_numpy()
    recency = np.where(
        part["has_purchase"].to_numpy() == 0,
        "no purchase yet",
        pd.cut(
            rec,
            [-1, 30, 90, 180, 365, np.inf],
            labels=["≤30 d", "31–90 d", "91–180 d", "181–365 d", ">365 d"],
        ).astype(str),
    )
    tenure = pd.cut(
        part["tenure_days"].to_numpy(),
        [0, 90, 365, 730, np.inf],
        labels=["≤90 d", "91–365 d", "1–2 y", ">2 y"],
    ).astype(str)
    groups: dict[str, np.ndarray] = {"recency": np.asarray(recency), "tenure": np.asarray(tenure)}
    for col in ("region", "preferred_format", "gender"):
        if col in part.columns:
            groups[col] = part[col].astype(str).to_numpy()
    out: dict[str, list[dict[str, Any]]] = {}
    for name, g in groups.items():
        rows = []
        for level in sorted(set(g)):
            m = g == level
            rows.append(
                {
                    "segment": level,
                    "n": int(m.sum()),
                    "mean_actual": float(y[m].mean()),
                    "mean_pred": float(p[m].mean()),
                    "mean_residual": float((p[m] - y[m]).mean()),
                    "rmse": metrics.rmse(y[m], p[m]),
                }
            )
        out[name] = rows
    return out


def _refit(model: SpendModel, X: pd.DataFrame, y: np.ndarray) -> SpendModel:
    """Refit ``model``'s recipe on more cutoffs with the iteration count early stopping found."""
    if isinstance(model, EnsembleModel):
        parts = [_refit(m, X, y) for m in model.models_]
        return EnsembleModel.from_fitted(parts, np.asarray(model.weights_), {"refit": True})
    fresh = clone(model)
    info = model.fit_info()
    params = fresh.get_params()
    if "n_estimators" in params and "rounds" in info:
        fresh.set_params(n_estimators=int(info["rounds"]))
    if "epochs" in params and info.get("best_epoch"):
        fresh.set_params(epochs=int(info["best_epoch"]))
    if isinstance(model, HurdleModel) and not info.get("degenerate"):
        rounds = [info.get(k, 1) for k in ("classifier_rounds", "conditional_rounds", "logmean_rounds")]
        fresh.set_params(n_estimators=int(max(rounds)))
    fresh.fit(X, y)
    if isinstance(model, HurdleModel) and isinstance(fresh, HurdleModel) and fresh.constant_ is None:
        fresh.sigma_ = model.sigma_  # spread measured on the validation cutoff's buyers
    return fresh


#: Models whose level comes from BG/NBD + GG fitted up to the scoring date: they extrapolate as it does.
ANCHORED = ("bgnbd", "bgboost")


def _pick_champion(
    candidates: list[str],
    order: list[str],
    evals: dict[str, dict[str, dict[str, Any]]],
    val_preds: dict[str, np.ndarray],
    y_val: np.ndarray,
    margin_se: float,
) -> tuple[str, str, dict[str, bool]]:
    """The champion: the lowest validation RMSE among the BG/NBD-anchored models and the models that beat
    BG/NBD + GG on the validation cutoff by more than ``margin_se`` standard errors of the paired difference in
    squared error (customer by customer). A model that is not clearly better than the customer-base model on
    the validation data does not replace it: past the training cutoffs it has nothing to keep its level.

    Returns the champion, the rule in words, and which models passed that test.
    """

    def rmse(name: str) -> tuple[float, int]:
        return evals[name]["validation"]["rmse"], order.index(name)

    anchored = [n for n in candidates if n in ANCHORED]
    if margin_se <= 0 or "bgnbd" not in val_preds or not anchored or len(y_val) < 2:
        return min(candidates, key=rmse), "lowest RMSE on the validation cutoff", {}
    base = (val_preds["bgnbd"] - y_val) ** 2
    beats: dict[str, bool] = {}
    for n in candidates:
        if n in ANCHORED:
            continue
        d = (val_preds[n] - y_val) ** 2 - base
        se = float(np.std(d, ddof=1) / np.sqrt(len(d)))
        beats[n] = bool(np.isfinite(d).all() and d.mean() < -margin_se * se)
    eligible = anchored + [n for n, ok in beats.items() if ok]
    rule = (
        f"lowest validation RMSE among the BG/NBD-anchored models and those that beat BG/NBD + GG on the "
        f"validation cutoff by more than {margin_se:g} standard error(s) of the paired squared-error difference"
    )
    return min(eligible, key=rmse), rule, beats


def _fit_customer_base(
    ds: Dataset,
    spec: FeatureSpec,
    parts: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
    y_train: np.ndarray,
    cfg: MLConfig,
) -> tuple[FeatureSpec, dict[str, Any]]:
    """Fit BG/NBD + Gamma-Gamma on the history up to each cutoff of ``parts`` (no labels: what a user of
    BG/NBD would have fitted on that day) and add :data:`~retailsim.ml.features.BG_COLUMNS` to each part with
    its own cutoff's parameters; fit them once more on the history up to the last day of data, the date the
    model serves from, and return the spec carrying those (with the ``cold_start`` spend of customers without a
    purchase, from the training rows) and every cutoff's parameters (for the report)."""

    def fit(frame: pd.DataFrame) -> dict[str, Any]:
        return fit_clv(bgnbd_rfm(frame), max_customers=cfg.bgnbd.max_fit_customers, seed=cfg.seed)

    tr = parts[0]
    cold = tr["has_purchase"].to_numpy() == 0
    cold_start = float(y_train[cold].mean()) if cold.any() else 0.0
    by_cutoff: dict[dt.date, dict[str, Any]] = {}
    for part in parts:
        cut = part["cutoff"].dt.date.to_numpy()
        for c in np.unique(cut):
            by_cutoff[c] = {**fit(part[cut == c]), "cold_start": cold_start}
    _, end = data_range(ds)
    # the RFM summaries are core features: the other groups (line items, loyalty …) are not needed here
    today = build_features(ds, [end], replace(spec, groups=("core",)), threads=cfg.sql_threads)
    served = {
        **fit(today),
        "cold_start": cold_start,
        "fitted_at": end.isoformat(),
        "stacked": cfg.bgnbd_features,
    }
    spec = replace(spec, bgnbd=served)
    for part in parts:
        add_bgnbd_columns(part, spec, by_cutoff=by_cutoff)
    return spec, {str(c): p for c, p in by_cutoff.items()}


def train(
    dataset: Dataset | str | Path,
    config: MLConfig | None = None,
    *,
    model_dir: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Build the backtest dataset, fit every configured model, evaluate, pick and save the champion.

    Parameters
    ----------
    dataset
        Generated or imported dataset (or its folder).
    config
        :class:`~retailsim.ml.config.MLConfig` (models, cutoffs, horizon, seeds …); defaults if omitted.
    model_dir
        Where to save (default ``<dataset>/models``); the leaderboard (JSON + HTML) goes there too.
    progress
        Called with a short message at each step (the CLI shows them).

    Returns
    -------
    TrainResult
    """
    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    cfg = config or MLConfig()
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    h = cfg.horizon_days

    spec = plan_features(ds, horizon_days=h, sequence_weeks=cfg.sequence_weeks)
    plan = plan_cutoffs(
        ds,
        cutoffs=cfg.cutoffs,
        every=cfg.every,
        horizon_days=h,
        train_cutoffs=cfg.train_cutoffs,
        min_history_days=cfg.min_history_days,
    )
    # BG/NBD + GG is always on the leaderboard: the anchor every user of customer-base analysis compares with
    # (fitted and reported; a candidate for champion and part of the blend only when asked for)
    names = [m for m in ALL_MODELS if m in cfg.models or m == "bgnbd"]
    anchor_only = "bgnbd" not in cfg.models
    need_seq = any(make_model(n, cfg, spec).needs_sequences for n in names)
    say(
        f"features: {len(spec.features)} columns in {len(spec.groups)} groups"
        + (f" ({len(spec.left_out)} left out)" if spec.left_out else "")
        + f"; cutoffs {', '.join(str(c) for c in plan.train)} | validation {plan.validation} | test {plan.test}"
    )
    t0 = time.perf_counter()
    frame = build_features(ds, plan.all, spec, labels=True, sequences=need_seq, threads=cfg.sql_threads)
    build_s = time.perf_counter() - t0
    tr, va, te = _split(frame, plan)
    del frame
    y_tr, y_va, y_te = (d[LABEL].to_numpy(dtype=np.float64) for d in (tr, va, te))
    say(f"dataset: {len(tr):,} training, {len(va):,} validation, {len(te):,} test rows in {build_s:.1f} s")

    # BG/NBD + Gamma-Gamma, fitted as of every cutoff and as of the last day of data (for serving): the anchor
    # baseline, (stacked) three model-based features of the other models, and the base bgboost corrects
    bg_fit_s = 0.0
    bg_by_cutoff: dict[str, Any] = {}
    if "bgnbd" in names:
        say("fitting BG/NBD + Gamma-Gamma as of every cutoff")
        t0 = time.perf_counter()
        try:
            spec, bg_by_cutoff = _fit_customer_base(ds, spec, (tr, va, te), y_tr, cfg)
        except Exception as err:  # a fit that fails must not sink the other models
            names = [n for n in names if n not in ("bgnbd", "bgboost")]
            spec = replace(spec, left_out={**spec.left_out, "bgnbd": f"BG/NBD fit failed: {err}"})
            say(f"BG/NBD + GG left out: {err}")
        bg_fit_s = time.perf_counter() - t0

    oracle = {"validation": _oracle(ds, plan.validation, va, h), "test": _oracle(ds, plan.test, te, h)}

    # the head: P(buy) and the interval for every prediction (also the "hurdle" baseline)
    say("fitting the hurdle head (P(buy), interval)")
    t0 = time.perf_counter()
    head = make_model("hurdle", cfg, spec)
    assert isinstance(head, HurdleModel)
    head.fit(tr, y_tr, va, y_va)
    head_fit_s = time.perf_counter() - t0

    fitted: dict[str, SpendModel] = {}
    preds: dict[str, dict[str, np.ndarray]] = {}
    timing: dict[str, dict[str, float]] = {}
    for name in names:
        if name == "hurdle":
            model: SpendModel = head
            fit_s = head_fit_s
        else:
            say(f"fitting {name}")
            model = make_model(name, cfg, spec)
            t0 = time.perf_counter()
            model.fit(tr, y_tr, va, y_va)
            fit_s = time.perf_counter() - t0 + (bg_fit_s if name == "bgnbd" else 0.0)
        p_va = model.predict(va)
        t0 = time.perf_counter()
        p_te = model.predict(te)
        score_s = time.perf_counter() - t0
        fitted[name] = model
        preds[name] = {"validation": np.maximum(p_va, 0.0), "test": np.maximum(p_te, 0.0)}
        timing[name] = {"fit_s": fit_s, "score_s": score_s}

    # -- the blend of the fitted models ------------------------------------------------------------------
    cross_val: np.ndarray | None = None  # the blend's cross-fitted validation predictions
    parts = [n for n in names if n != "zero" and not (n == "bgnbd" and anchor_only)]
    if cfg.ensemble and len(parts) >= 2 and len(y_va):
        say("blending the models (weights fitted on the validation cutoff)")
        t0 = time.perf_counter()
        p_va = np.stack([preds[n]["validation"] for n in parts], axis=1)
        w = nnls_weights(p_va, y_va)
        cross_val = cross_fitted_predictions(p_va, y_va, va["customer_id"].to_numpy())
        ens = EnsembleModel.from_fitted(
            [fitted[n] for n in parts],
            w,
            {
                "validation_rmse_cross_fitted": metrics.rmse(y_va, cross_val)
                if cross_val is not None
                else None
            },
        )
        if ens.models_:
            blend_s = time.perf_counter() - t0
            fitted["ensemble"] = ens
            preds["ensemble"] = {
                "validation": p_va @ w,
                "test": np.stack([preds[n]["test"] for n in parts], axis=1) @ w,
            }
            kept = [m.name for m in ens.models_]
            timing["ensemble"] = {
                "fit_s": sum(timing[n]["fit_s"] for n in kept) + blend_s,
                "score_s": sum(timing[n]["score_s"] for n in kept),
            }
            names = [*names, "ensemble"]

    # -- evaluation ----------------------------------------------------------------------------------
    evals: dict[str, dict[str, dict[str, Any]]] = {}
    ys = {"validation": y_va, "test": y_te}
    for name, pr in preds.items():
        evals[name] = {s: metrics.point_metrics(ys[s], pr[s]) for s in ys}
    fair_va = {n: pr["validation"] for n, pr in preds.items()}  # what the champion is picked on
    if "ensemble" in evals and cross_val is not None:
        # the blend's weights were fitted on the validation cutoff: compare it on cross-fitted predictions
        evals["ensemble"]["validation"]["rmse_in_sample"] = evals["ensemble"]["validation"]["rmse"]
        fair_va["ensemble"] = cross_val
        evals["ensemble"]["validation"]["rmse"] = metrics.rmse(y_va, cross_val)
    if oracle["test"] is not None and oracle["validation"] is not None:
        evals["oracle"] = {s: metrics.point_metrics(ys[s], oracle[s]) for s in ys}  # type: ignore[arg-type]
    last30_rmse = {
        s: metrics.rmse(ys[s], te_or_va["spend_30"].to_numpy() * h / 30)
        for s, te_or_va in (("validation", va), ("test", te))
    }
    for name in evals:
        for s in ys:
            o = evals.get("oracle", {}).get(s, {}).get("rmse")
            evals[name][s]["gap_closed"] = metrics.gap_closed(evals[name][s]["rmse"], last30_rmse[s], o)

    candidates = [n for n in names if not (n == "bgnbd" and anchor_only)]
    champion, champion_rule, beats = _pick_champion(
        candidates, names, evals, fair_va, y_va, cfg.champion_margin_se
    )
    say(f"champion ({champion_rule}): {champion}")
    champ_model = fitted[champion]

    unc = {
        s: {
            **metrics.uncertainty_metrics(
                ys[s],
                head.predict_proba_buy(part),
                *head.predict_interval(part),
                nominal=cfg.interval.coverage,
            ),
            "interval_expected_coverage": head.expected_coverage(part),
        }
        for s, part in (("validation", va), ("test", te))
    }

    leaderboard = []
    for name in [*names, *(["oracle"] if "oracle" in evals else [])]:
        e_te, e_va = evals[name]["test"], evals[name]["validation"]
        info = fitted[name].fit_info() if name in fitted else {}
        notes = []
        if info.get("subsampled"):
            notes.append(f"trained on {info['train_rows']:,} of {info['rows']:,} rows (seeded sample)")
        if name == "bgnbd" and spec.bgnbd is not None:
            notes.append(
                "parameters fitted on the history up to each cutoff; served with those fitted on "
                f"{spec.bgnbd['customers']:,} customers up to {spec.bgnbd['fitted_at']}"
                + ("; the anchor (not in --models: reported, never the champion)" if anchor_only else "")
            )
        if name == "bgboost":
            notes.append("XGBoost correction × BG/NBD + GG expectation (log offset, Poisson)")
        if name == "oracle":
            notes.append("expected spend from the simulation's truth (the floor)")
        if name == "ensemble":
            comps = info.get("components", {})
            notes.append(
                "blend "
                + " + ".join(f"{w:.2f}×{n}" for n, w in comps.items())
                + "; validation RMSE cross-fitted"
            )
        leaderboard.append(
            {
                "model": name,
                "kind": "oracle" if name == "oracle" else fitted[name].kind,
                "champion": name == champion,
                "rmse": e_te["rmse"],
                "mae": e_te["mae"],
                "gini": e_te["gini"],
                "spearman": e_te["spearman"],
                "top_decile_capture": e_te["top_decile_capture"],
                "mean_ratio": e_te["mean_ratio"],
                "gap_closed": e_te["gap_closed"],
                "val_rmse": e_va["rmse"],
                "val_gini": e_va["gini"],
                "fit_s": timing.get(name, {}).get("fit_s", float("nan")),
                "score_s": timing.get(name, {}).get("score_s", float("nan")),
                "notes": "; ".join(notes),
            }
        )
    leaderboard.sort(key=lambda r: r["rmse"])

    importance = champ_model.importance()
    imp_source = champion
    if importance is None:
        for alt in ("xgb", "tweedie", "rf", "lr"):
            if alt in fitted and fitted[alt].importance() is not None:
                importance, imp_source = fitted[alt].importance(), alt
                break
    if importance is None:
        importance, imp_source = head.importance() or {}, "hurdle (P(buy) classifier)"

    p_champ_te = preds[champion]["test"]
    thresholds = [float(np.quantile(p_champ_te, q)) for q in SEGMENT_QUANTILES] if len(p_champ_te) else []
    data_info = {
        "path": str(ds.path),
        "kind": ds.kind,
        "manifest_sha256": artifacts.manifest_sha256(ds),
        "rows": {t: ds.rows(t) for t in ds.tables},
    }
    report: dict[str, Any] = {
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "dataset": data_info,
        "cutoffs": plan.to_json(),
        "rows": {"train": len(tr), "validation": len(va), "test": len(te)},
        "zero_share": {
            "train": float((y_tr == 0).mean()) if len(y_tr) else None,
            "validation": float((y_va == 0).mean()) if len(y_va) else None,
            "test": float((y_te == 0).mean()) if len(y_te) else None,
        },
        "features": feature_report(spec),
        "bgnbd": {"served": spec.bgnbd, "by_cutoff": bg_by_cutoff},
        "champion": champion,
        "champion_rule": champion_rule,
        "beats_bgnbd_on_validation": beats,
        "leaderboard": leaderboard,
        "metrics": {n: {s: evals[n][s] for s in ys} for n in evals},
        "uncertainty": unc,
        "importance": {"model": imp_source, "values": importance},
        "segments": _segments(te, y_te, p_champ_te),
        "fit_info": {n: m.fit_info() for n, m in fitted.items()},
        "timing": {"features_s": build_s, "models": timing, "total_s": None},
        "config": cfg.model_dump(mode="json"),
        "libraries": artifacts.library_versions(),
    }

    # -- the champion, optionally refitted on every cutoff -----------------------------------------------
    serve_model, serve_head, refit_cutoffs = champ_model, head, None
    if cfg.refit:
        say(f"refitting {champion} and the head on every cutoff")
        X_all = pd.concat([tr, va, te], ignore_index=True)
        y_all = np.concatenate([y_tr, y_va, y_te])
        serve_model = _refit(champ_model, X_all, y_all) if champion != "hurdle" else None  # type: ignore[assignment]
        serve_head = _refit(head, X_all, y_all)  # type: ignore[assignment]
        if serve_model is None:
            serve_model = serve_head
        refit_cutoffs = [str(c) for c in plan.all]
    card = {
        "model": champion,
        "kind": champ_model.kind,
        "created_at": report["created_at"],
        "horizon_days": h,
        "interval": cfg.interval.coverage,
        "dataset": data_info,
        "cutoffs": {**plan.to_json(), "refit_on": refit_cutoffs},
        "features": {
            "digest": spec.digest(),
            "groups": list(spec.groups),
            "left_out": spec.left_out,
            "count": len(spec.features),
        },
        "metrics": {
            "validation": _summary(evals[champion]["validation"]),
            "test": _summary(evals[champion]["test"]),
            "uncertainty_test": {k: v for k, v in unc["test"].items() if not isinstance(v, list)},
            "leaderboard_test_rmse": {r["model"]: r["rmse"] for r in leaderboard},
        },
        "segments": {
            "labels": ["low", "medium", "high", "top"],
            "quantiles": list(SEGMENT_QUANTILES),
            "thresholds": thresholds,
        },
        "importance": dict(list((importance or {}).items())[:40]),
        "fit_info": serve_model.fit_info(),
        "config": cfg.model_dump(mode="json"),
        "libraries": report["libraries"],
    }
    predictor = Predictor(serve_model, serve_head, spec, card)  # type: ignore[arg-type]
    result = TrainResult(leaderboard, champion, predictor, report, models=fitted)

    if cfg.save != "none" or cfg.report:
        out_dir = Path(model_dir) if model_dir is not None else artifacts.default_model_dir(ds)
        out_dir.mkdir(parents=True, exist_ok=True)
        if cfg.save != "none":
            path = predictor.save(out_dir)
            artifacts.write_champion(out_dir, predictor.model_id)
            result.model_path = path
            result.saved[champion] = path
            report["model_id"] = predictor.model_id
            say(f"saved {champion} as {path}")
            if cfg.save == "all":
                for name, m in fitted.items():
                    if name != champion:
                        extra = Predictor(m, head, spec, {**card, "model": name, "kind": m.kind})
                        result.saved[name] = extra.save(out_dir)
        report["timing"]["total_s"] = time.perf_counter() - started
        if cfg.report:
            from retailsim.ml.report import write_reports

            result.report_paths = write_reports(report, out_dir)
    else:
        report["timing"]["total_s"] = time.perf_counter() - started
    return result


def save_json(report: dict[str, Any], path: Path) -> None:
    """Write a report as JSON (NaN as null)."""
    path.write_text(json.dumps(_nan_to_none(report), indent=1, default=str) + "\n", encoding="utf-8")


def _nan_to_none(v: Any) -> Any:
    if isinstance(v, float) and not np.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _nan_to_none(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_nan_to_none(x) for x in v]
    if isinstance(v, np.floating | np.integer):
        return _nan_to_none(v.item())
    return v


def dataset_table(
    dataset: Dataset | str | Path,
    *,
    cutoffs: list[dt.date] | None = None,
    every: str = "1M",
    horizon_days: int = 30,
    sequences: bool = False,
    labels: bool = True,
    min_history_days: int = 56,
    threads: int = 2,
) -> tuple[pd.DataFrame, FeatureSpec]:
    """The modelling table: one row per (customer, cutoff) with features and (by default) the label.

    ``cutoffs`` default to every ``every`` (1M = month ends) with a complete label window in the data.
    """
    from retailsim.ml.features import candidate_cutoffs

    ds = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    spec = plan_features(ds, horizon_days=horizon_days)
    cuts = cutoffs or candidate_cutoffs(
        ds, every=every, horizon_days=horizon_days, min_history_days=min_history_days
    )
    if not cuts:
        from retailsim.ml.errors import NotEnoughDataError

        raise NotEnoughDataError(f"{ds.path}: no cutoff with a complete {horizon_days}-day label window")
    frame = build_features(ds, cuts, spec, labels=labels, sequences=sequences, threads=threads)
    return frame, spec
