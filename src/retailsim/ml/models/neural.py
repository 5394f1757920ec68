"""Recurrent networks (PyTorch): RNN, LSTM and GRU over 52 weekly steps beside an MLP on static features.

Input per row: the weekly sequence of the last ``sequence_weeks`` weeks — ``log1p`` spend, ``log1p``
baskets and whether the week was observable for this customer — and the static features (signed-log,
standardised, one-hot). The recurrent encoder's last state and the static MLP's output feed a small head that
predicts spend (MSE on a scaled target: the mean, which RMSE rewards). Early stopping on the validation
cutoff keeps the best epoch's weights. Weights are saved in safetensors, everything else as JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from retailsim.ml.models.base import SpendModel, cpu_threads, torch_threads
from retailsim.ml.preprocess import Preprocessor, signed_log1p

SEQ_CHANNELS = 3
PREDICT_BATCH = 8192


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def _net(cell: str, n_static: int, hidden: int, static: int) -> Any:
    import torch
    from torch import nn

    class SeqNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell]
            self.rnn = rnn_cls(SEQ_CHANNELS, hidden, batch_first=True)
            self.static = nn.Sequential(nn.Linear(n_static, static), nn.ReLU())
            self.head = nn.Sequential(nn.Linear(hidden + static, 32), nn.ReLU(), nn.Linear(32, 1))

        def forward(self, seq: torch.Tensor, stat: torch.Tensor) -> torch.Tensor:
            out, _ = self.rnn(seq)
            z = torch.cat([out[:, -1, :], self.static(stat)], dim=1)
            return self.head(z).squeeze(1)

    return SeqNet()


class RecurrentModel(SpendModel):
    """Sequence + static features → spend, with a recurrent encoder of type :attr:`cell`."""

    name = "gru"
    kind = "neural"
    cell: ClassVar[str] = "gru"
    needs_sequences = True

    def __init__(
        self,
        numeric: tuple[str, ...] = (),
        categorical: tuple[str, ...] = (),
        sequence_weeks: int = 52,
        hidden_size: int = 32,
        static_size: int = 64,
        epochs: int = 25,
        patience: int = 3,
        batch_size: int = 512,
        learning_rate: float = 2e-3,
        weight_decay: float = 1e-5,
        max_train_rows: int | None = None,
        seed: int = 0,
        threads: int = 2,
        device: str = "auto",
    ) -> None:
        self.numeric = numeric
        self.categorical = categorical
        self.sequence_weeks = sequence_weeks
        self.hidden_size = hidden_size
        self.static_size = static_size
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.max_train_rows = max_train_rows
        self.seed = seed
        self.threads = threads
        self.device = device

    # -- inputs -------------------------------------------------------------------------------------------
    def _seq(self, X: pd.DataFrame) -> np.ndarray:
        w = self.sequence_weeks
        spend = X[[f"seq_spend_{i:03d}" for i in range(w)]].to_numpy(dtype=np.float32)
        txns = X[[f"seq_txns_{i:03d}" for i in range(w)]].to_numpy(dtype=np.float32)
        # week i (chronological, the last is the cutoff's week) starts 7 * (w - i) - 1 days before the cutoff
        starts = 7 * (w - np.arange(w)) - 6
        observed = (X["observed_days"].to_numpy()[:, None] >= starts[None, :]).astype(np.float32)
        return np.stack([signed_log1p(spend), np.log1p(txns), observed], axis=2).astype(np.float32)

    def _static(self, X: pd.DataFrame) -> np.ndarray:
        return self.prep_.transform(X, dtype=np.float32)

    def _forward_numpy(self, seq: np.ndarray, stat: np.ndarray) -> np.ndarray:
        import torch

        dev = self.device_
        out = np.empty(len(seq), dtype=np.float64)
        self.net_.eval()
        with torch.inference_mode():
            for s in range(0, len(seq), PREDICT_BATCH):
                a = torch.from_numpy(seq[s : s + PREDICT_BATCH]).to(dev)
                b = torch.from_numpy(stat[s : s + PREDICT_BATCH]).to(dev)
                out[s : s + PREDICT_BATCH] = self.net_(a, b).double().cpu().numpy()
        return out * self.y_scale_

    # -- fit / predict ------------------------------------------------------------------------------------
    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        X_val: pd.DataFrame | None = None,
        y_val: np.ndarray | None = None,
    ) -> RecurrentModel:
        import torch

        y = np.asarray(y, dtype=np.float64)
        rng = np.random.default_rng(self.seed)
        rows = np.arange(len(X))
        if self.max_train_rows is not None and len(X) > self.max_train_rows:
            rows = np.sort(rng.choice(len(X), self.max_train_rows, replace=False))
        Xt = X.iloc[rows]
        yt = y[rows]
        self.prep_ = Preprocessor(self.numeric, self.categorical, log=True, scale=True).fit(Xt)
        self.y_scale_ = float(max(np.std(yt), 1.0))
        self.device_ = _device(self.device)
        seq, stat = self._seq(Xt), self._static(Xt)
        has_val = X_val is not None and y_val is not None and len(y_val) > 0
        if has_val:
            vseq, vstat, vy = self._seq(X_val), self._static(X_val), np.asarray(y_val, dtype=np.float64)
        with torch_threads(cpu_threads(self.threads)):
            torch.manual_seed(self.seed)
            self.net_ = _net(self.cell, stat.shape[1], self.hidden_size, self.static_size).to(self.device_)
            opt = torch.optim.Adam(
                self.net_.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )
            t_seq = torch.from_numpy(seq)
            t_stat = torch.from_numpy(stat)
            t_y = torch.from_numpy((yt / self.y_scale_).astype(np.float32))
            best, best_epoch, bad, history = np.inf, 0, 0, []
            best_state = {k: v.detach().clone() for k, v in self.net_.state_dict().items()}
            for epoch in range(1, self.epochs + 1):
                self.net_.train()
                order = torch.from_numpy(rng.permutation(len(yt)))
                for s in range(0, len(order), self.batch_size):
                    idx = order[s : s + self.batch_size]
                    opt.zero_grad()
                    pred = self.net_(t_seq[idx].to(self.device_), t_stat[idx].to(self.device_))
                    loss = torch.mean((pred - t_y[idx].to(self.device_)) ** 2)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(self.net_.parameters(), 1.0)
                    opt.step()
                if not has_val:
                    best_epoch = epoch
                    best_state = {k: v.detach().clone() for k, v in self.net_.state_dict().items()}
                    continue
                rmse = float(np.sqrt(np.mean((np.maximum(self._forward_numpy(vseq, vstat), 0) - vy) ** 2)))
                history.append(round(rmse, 4))
                if rmse < best - 1e-9:
                    best, best_epoch, bad = rmse, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in self.net_.state_dict().items()}
                else:
                    bad += 1
                    if bad >= self.patience:
                        break
                    for group in opt.param_groups:  # no progress: halve the step size
                        group["lr"] *= 0.5
            self.net_.load_state_dict(best_state)
        self.fit_info_ = {
            "rows": len(X),
            "train_rows": len(rows),
            "subsampled": bool(len(rows) < len(X)),
            "best_epoch": best_epoch,
            "epochs_run": len(history) if has_val else self.epochs,
            "validation_rmse_by_epoch": history,
            "device": self.device_,
        }
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        with torch_threads(cpu_threads(self.threads)):
            return np.maximum(self._forward_numpy(self._seq(X), self._static(X)), 0.0)

    # -- persistence ---------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "y_scale_": self.y_scale_,
            "fit_info_": self.fit_info(),
            "n_static_": len(self.prep_.feature_names),
        }

    def _save_files(self, folder: Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in self.net_.state_dict().items()}
        save_file(state, str(folder / "weights.safetensors"), metadata={"cell": self.cell})
        (folder / "preprocess.json").write_text(
            json.dumps(self.prep_.to_json(), indent=1) + "\n", encoding="utf-8"
        )
        net = {
            "cell": self.cell,
            "sequence_channels": SEQ_CHANNELS,
            "n_static": len(self.prep_.feature_names),
            "hidden_size": self.hidden_size,
            "static_size": self.static_size,
        }
        (folder / "net.json").write_text(json.dumps(net, indent=1) + "\n", encoding="utf-8")

    def _load_files(self, folder: Path) -> None:
        from safetensors.torch import load_file

        self.prep_ = Preprocessor.from_json(
            json.loads((folder / "preprocess.json").read_text(encoding="utf-8"))
        )
        net = json.loads((folder / "net.json").read_text(encoding="utf-8"))
        if net["cell"] != self.cell:
            raise ValueError(f"net.json describes a {net['cell']} network, not {self.cell}")
        self.device_ = _device(self.device)
        self.net_ = _net(self.cell, int(net["n_static"]), self.hidden_size, self.static_size)
        self.net_.load_state_dict(load_file(str(folder / "weights.safetensors")))
        self.net_.to(self.device_)


class RNNModel(RecurrentModel):
    """Elman RNN encoder."""

    name = "rnn"
    cell = "rnn"


class LSTMModel(RecurrentModel):
    """LSTM encoder."""

    name = "lstm"
    cell = "lstm"


class GRUModel(RecurrentModel):
    """GRU encoder."""

    name = "gru"
    cell = "gru"
