"""The fraud model: a PyTorch tabular network with categorical embeddings and a calibrated output.

* numeric features: signed ``log1p`` then standardised on the training rows; a missing value
  becomes 0 plus a "missing" indicator input;
* categorical features: one embedding table each (values seen fewer than ``min_count`` times
  share the "other" row 0);
* a small MLP (LayerNorm, ReLU, dropout) gives one logit;
* class imbalance: the positive class is weighted by ``neg / pos`` in the loss (capped);
* calibration: Platt scaling (``sigmoid(a * logit + b)``) fitted on a held-out validation
  split, so ``predict_proba`` is a probability again despite the class weighting.

``FraudModel.fit(rows, labels)`` takes feature dicts (``ecom_ai.fraud.features`` names, or
any other names given in ``numeric``/``categorical``) so the product and the benchmark
train exactly the same code. ``to_bytes()`` / ``from_bytes()`` serialise it.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


def _signed_log(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.log1p(np.abs(x))


class TabularNet(nn.Module):
    def __init__(self, n_numeric: int, cardinalities: list[int], hidden: int = 64, dropout: float = 0.1):
        super().__init__()
        self.embeddings = nn.ModuleList(
            nn.Embedding(card, min(16, max(2, int(round(1.6 * card**0.56))))) for card in cardinalities
        )
        width = n_numeric + sum(e.embedding_dim for e in self.embeddings)
        self.body = nn.Sequential(
            nn.Linear(width, hidden),
            nn.LayerNorm(hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden // 2),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden // 2, 1),
        )

    def forward(self, numeric: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        parts = [numeric] + [emb(categorical[:, i]) for i, emb in enumerate(self.embeddings)]
        return self.body(torch.cat(parts, dim=1)).squeeze(1)


@dataclass
class FitReport:
    epochs: int
    best_epoch: int
    train_seconds: float
    val_loss: float
    calibration: tuple
    history: list = field(default_factory=list)
    early_stopping: bool = True  # False: the validation rows had too few of a class to stop on


class FraudModel:
    """Feature dicts in, calibrated fraud probabilities out."""

    def __init__(
        self,
        numeric: list[str],
        categorical: list[str],
        *,
        hidden: int = 64,
        dropout: float = 0.1,
        min_count: int = 5,
        max_vocab: int = 500,
    ):
        self.numeric = list(numeric)
        self.categorical = list(categorical)
        self.hidden, self.dropout = hidden, dropout
        self.min_count, self.max_vocab = min_count, max_vocab
        self.mean = np.zeros(len(self.numeric), dtype=np.float32)
        self.std = np.ones(len(self.numeric), dtype=np.float32)
        self.fill = np.zeros(len(self.numeric), dtype=np.float32)  # baseline (median) per numeric feature
        self.missing_cols: list[int] = []
        # numeric columns that never varied in training: the network never learned a weight for
        # them, so at serving their value is ignored instead of meeting an untrained weight
        self.constant_cols: list[int] = []
        self.vocabs: list[dict] = [{} for _ in self.categorical]
        self.modes: list[str] = ["" for _ in self.categorical]
        self.calib_a, self.calib_b = 1.0, 0.0
        self.net: TabularNet | None = None

    # --- encoding ----------------------------------------------------------------------
    def _raw_numeric(self, rows) -> np.ndarray:
        out = np.full((len(rows), len(self.numeric)), np.nan, dtype=np.float64)
        for i, row in enumerate(rows):
            for j, name in enumerate(self.numeric):
                value = row.get(name)
                if value is None or value == "":
                    continue
                try:
                    v = float(value)
                except (TypeError, ValueError):
                    continue
                if math.isfinite(v):
                    out[i, j] = v
        return out

    def encode(self, rows) -> tuple[torch.Tensor, torch.Tensor]:
        raw = self._raw_numeric(rows)
        missing = np.isnan(raw)
        x = _signed_log(np.where(missing, 0.0, raw))
        x = (x - self.mean) / self.std
        x[missing] = 0.0
        if self.constant_cols:
            x[:, self.constant_cols] = 0.0
        x = x.astype(np.float32)
        if self.missing_cols:
            x = np.concatenate([x, missing[:, self.missing_cols].astype(np.float32)], axis=1)
        cats = np.zeros((len(rows), len(self.categorical)), dtype=np.int64)
        for j, name in enumerate(self.categorical):
            vocab = self.vocabs[j]
            for i, row in enumerate(rows):
                cats[i, j] = vocab.get(str(row.get(name) or ""), 0)
        return torch.from_numpy(x), torch.from_numpy(cats)

    def _fit_encoding(self, rows) -> None:
        raw = self._raw_numeric(rows)
        missing = np.isnan(raw)
        logged = _signed_log(np.where(missing, 0.0, raw))
        self.constant_cols = []
        for j in range(len(self.numeric)):
            present = logged[~missing[:, j], j]
            if present.size:
                self.mean[j] = present.mean()
                std = float(present.std())
                self.std[j] = std if std > 1e-6 else 1.0  # constant columns: avoid dividing by ~0
                if std <= 1e-6:
                    self.constant_cols.append(j)
                self.fill[j] = float(np.median(raw[~missing[:, j], j]))
            else:
                self.fill[j] = np.nan
                self.constant_cols.append(j)
        self.missing_cols = [j for j in range(len(self.numeric)) if missing[:, j].any()]
        for j, name in enumerate(self.categorical):
            counts: dict[str, int] = {}
            for row in rows:
                key = str(row.get(name) or "")
                counts[key] = counts.get(key, 0) + 1
            frequent = sorted((k for k, c in counts.items() if c >= self.min_count), key=lambda k: -counts[k])
            self.vocabs[j] = {k: i + 1 for i, k in enumerate(frequent[: self.max_vocab])}
            self.modes[j] = max(counts, key=counts.get) if counts else ""

    def _build(self) -> None:
        self.net = TabularNet(
            len(self.numeric) + len(self.missing_cols),
            [len(v) + 1 for v in self.vocabs],
            hidden=self.hidden,
            dropout=self.dropout,
        )

    # --- training ----------------------------------------------------------------------
    def fit(
        self,
        rows,
        labels,
        *,
        val_rows=None,
        val_labels=None,
        epochs: int = 40,
        batch_size: int = 256,
        lr: float = 3e-3,
        weight_decay: float = 1e-4,
        patience: int = 6,
        max_pos_weight: float = 20.0,
        seed: int = 1234,
        device: str | torch.device = "cpu",
        progress=None,
        min_val_positives: int = 5,
    ) -> FitReport:
        """Train on ``rows`` (feature dicts) and ``labels`` (0/1); calibrate on the validation rows.

        Without validation rows the last 20% of ``rows`` (callers pass them in time order)
        are held out. ``progress(epoch, total, loss, metrics)`` is called after each epoch.
        Early stopping and calibration need a validation set with signal: with fewer than
        ``min_val_positives`` rows of either class it would stop on noise, so training then
        runs every epoch and only the class-weighting prior is undone.
        """
        started = time.perf_counter()
        labels = np.asarray(labels, dtype=np.float32)
        if val_rows is None:
            cut = max(1, int(len(rows) * 0.8))
            rows, val_rows = rows[:cut], rows[cut:]
            labels, val_labels = labels[:cut], labels[cut:]
        val_labels = np.asarray(val_labels, dtype=np.float32)
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        self._fit_encoding(rows)
        self._build()
        device = torch.device(device)
        net = self.net.to(device)
        xn, xc = self.encode(rows)
        vn, vc = self.encode(val_rows)
        xn, xc, y = xn.to(device), xc.to(device), torch.from_numpy(labels).to(device)
        vn, vc, vy = vn.to(device), vc.to(device), torch.from_numpy(val_labels).to(device)
        pos = float(labels.sum())
        neg = float(len(labels) - pos)
        pos_weight = torch.tensor(min(max_pos_weight, neg / pos) if pos else 1.0, device=device)
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        plain = nn.BCEWithLogitsLoss()
        opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
        best = (float("inf"), 0, None)
        history = []
        n = len(rows)
        val_pos = float(val_labels.sum())
        signal = bool(len(val_rows)) and min(val_pos, len(val_labels) - val_pos) >= max(1, min_val_positives)
        for epoch in range(1, epochs + 1):
            net.train()
            order = torch.from_numpy(rng.permutation(n)).to(device)
            total = 0.0
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(xn[idx], xc[idx]), y[idx])
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            sched.step()
            net.eval()
            with torch.no_grad():
                val_loss = float(loss_fn(net(vn, vc), vy)) if len(val_rows) else total / n
            history.append({"epoch": epoch, "loss": total / n, "val_loss": val_loss})
            if progress:
                progress(epoch, epochs, total / n, {"val_loss": round(val_loss, 5)})
            if not signal:
                best = (val_loss, epoch, None)  # nothing to stop on: keep training, keep the last weights
            elif val_loss < best[0] - 1e-5:
                best = (val_loss, epoch, {k: v.detach().clone() for k, v in net.state_dict().items()})
            elif epoch - best[1] >= patience:
                break
        if best[2] is not None:
            net.load_state_dict(best[2])
        net.eval()
        self.net = net.to("cpu")
        # Platt scaling on the validation logits (undoes the class weighting, calibrates)
        if signal:
            with torch.no_grad():
                logits = self.net(vn.cpu(), vc.cpu())
            a = torch.ones(1, requires_grad=True)
            b = torch.zeros(1, requires_grad=True)
            lbfgs = torch.optim.LBFGS([a, b], lr=0.5, max_iter=100)
            target = torch.from_numpy(val_labels)

            def closure():
                lbfgs.zero_grad()
                out = plain(a * logits + b, target)
                out.backward()
                return out

            lbfgs.step(closure)
            self.calib_a, self.calib_b = float(a.detach()), float(b.detach())
        else:  # undo the pos_weight prior shift at least
            self.calib_a, self.calib_b = 1.0, -math.log(float(pos_weight))
        return FitReport(
            epochs=len(history),
            best_epoch=best[1],
            train_seconds=time.perf_counter() - started,
            val_loss=best[0],
            calibration=(self.calib_a, self.calib_b),
            history=history,
            early_stopping=signal,
        )

    # --- serving -----------------------------------------------------------------------
    def logits(self, rows) -> np.ndarray:
        xn, xc = self.encode(rows)
        with torch.no_grad():
            return self.net(xn, xc).numpy().astype(np.float64)

    def predict_proba(self, rows) -> np.ndarray:
        z = self.calib_a * self.logits(rows) + self.calib_b
        return 1.0 / (1.0 + np.exp(-z))

    def baseline_row(self) -> dict:
        """A 'typical' order: numeric medians and the most common category of each feature."""
        row = {name: (None if np.isnan(self.fill[j]) else float(self.fill[j])) for j, name in enumerate(self.numeric)}
        row.update({name: self.modes[j] for j, name in enumerate(self.categorical)})
        return row

    def explain(
        self, row: dict, *, top: int = 5, min_logit: float = 0.05
    ) -> tuple[float, list[tuple[str, float, float]]]:
        """Probability of ``row`` and the features that pushed it up, by occlusion.

        Each feature is replaced in turn by its baseline value (one batched forward pass);
        the drop in the calibrated logit is that feature's impact (ranked on it, since it
        stays informative when the probability saturates) and the drop in the score
        (0–100) its points. Returns ``(p, [(name, points, logit_impact), ...])``.
        """
        names = self.numeric + self.categorical
        base = self.baseline_row()
        variants = [row]
        for name in names:
            variant = dict(row)
            variant[name] = base.get(name)
            variants.append(variant)
        z = self.calib_a * self.logits(variants) + self.calib_b
        probs = 1.0 / (1.0 + np.exp(-z))
        p = float(probs[0])
        impact = [(name, (p - float(q)) * 100.0, float(z[0] - zq)) for name, q, zq in zip(names, probs[1:], z[1:])]
        pushed = sorted((c for c in impact if c[2] >= min_logit), key=lambda c: -c[2])[:top]
        return p, pushed

    # --- serialisation -----------------------------------------------------------------
    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        torch.save(
            {
                "format": "ecom_ai.fraud.v1",
                "numeric": self.numeric,
                "categorical": self.categorical,
                "hidden": self.hidden,
                "dropout": self.dropout,
                "min_count": self.min_count,
                "max_vocab": self.max_vocab,
                "mean": self.mean.tolist(),
                "std": self.std.tolist(),
                "fill": self.fill.tolist(),
                "missing_cols": self.missing_cols,
                "constant_cols": self.constant_cols,
                "vocabs": self.vocabs,
                "modes": self.modes,
                "calibration": [self.calib_a, self.calib_b],
                "state_dict": self.net.state_dict(),
            },
            buffer,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "FraudModel":
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ValueError(f"not a readable fraud model artifact: {str(exc)[:200]}") from None
        if not isinstance(state, dict) or state.get("format") != "ecom_ai.fraud.v1":
            raise ValueError("not an ecom_ai fraud model artifact")
        model = cls(
            state["numeric"],
            state["categorical"],
            hidden=state["hidden"],
            dropout=state["dropout"],
            min_count=state["min_count"],
            max_vocab=state["max_vocab"],
        )
        model.mean = np.asarray(state["mean"], dtype=np.float32)
        model.std = np.asarray(state["std"], dtype=np.float32)
        model.fill = np.asarray(state["fill"], dtype=np.float32)
        model.missing_cols = list(state["missing_cols"])
        model.constant_cols = list(state.get("constant_cols", []))  # absent in artifacts before 0.1
        model.vocabs = [dict(v) for v in state["vocabs"]]
        model.modes = list(state["modes"])
        model.calib_a, model.calib_b = state["calibration"]
        model._build()
        model.net.load_state_dict(state["state_dict"])
        model.net.eval()
        return model
