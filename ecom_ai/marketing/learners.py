"""Offer policies learned from logged decisions (state, action, reward, propensity).

* ``fit_q_network`` — a **Q-network** (DQN family): a shared trunk and one head per arm, each
  predicting the reward of that arm. Targets are the logged rewards weighted by inverse
  propensity (``weighting="ips"``, clipped) or doubly-robust pseudo-outcomes for every head
  (``targets="dr"``). With ``gamma > 0`` and the customer's next decision in the campaign
  (``next_index``), the target is the multi-step ``r + γ · max_a' Q̄(s', a')`` with a target
  network refreshed every epoch, so a policy can learn that over-couponing trains customers
  to wait for discounts; ``gamma = 0`` is the one-shot contextual bandit.
* ``fit_policy_gradient`` — a **softmax policy** trained off-line to maximize the doubly-robust
  (or self-normalized IPS) estimate of its own value, with clipped weights and an entropy bonus.
* ``select_policy`` — the honest last step: candidate policies (each fixed arm, the greedy
  Q-policy at several thresholds of predicted gain over the best fixed arm, the policy-gradient
  policy) are compared on held-out decisions by the paired doubly-robust difference to the best
  fixed arm; a learned policy is chosen only when the lower end of its 95 % interval is above
  zero, otherwise the best fixed arm is. Targeting that is not significant falls back.

Everything here is NumPy + torch on arrays: the Django trainer (``ecom_ai.marketing.training``)
and the benchmark (``benchmarks/marketing.py``) use the same code.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ecom_ai.marketing import ope


@dataclass
class LoggedData:
    """Logged decisions: inputs ``x`` (n, d), arm index, reward, propensity, and the index of the
    same customer's next decision (-1: none) for multi-step targets."""

    x: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    propensities: np.ndarray
    next_index: np.ndarray | None = None

    def __post_init__(self):
        self.x = np.asarray(self.x, dtype=np.float32)
        self.actions = np.asarray(self.actions, dtype=np.int64)
        self.rewards = np.asarray(self.rewards, dtype=np.float64)
        self.propensities = np.asarray(self.propensities, dtype=np.float64)
        if self.next_index is not None:
            self.next_index = np.asarray(self.next_index, dtype=np.int64)

    def __len__(self):
        return len(self.actions)

    def subset(self, index) -> "LoggedData":
        index = np.asarray(index)
        nxt = None
        if self.next_index is not None:  # re-map next decisions into the subset (outside: none)
            position = np.full(len(self), -1, dtype=np.int64)
            position[index] = np.arange(len(index))
            old = self.next_index[index]
            nxt = np.where(old >= 0, position[np.maximum(old, 0)], -1)
        return LoggedData(self.x[index], self.actions[index], self.rewards[index], self.propensities[index], nxt)


class Standardizer:
    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)

    @classmethod
    def fit(cls, x) -> "Standardizer":
        x = np.asarray(x, dtype=np.float32)
        std = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(std > 1e-6, std, 1.0))

    def __call__(self, x) -> np.ndarray:
        return (np.asarray(x, dtype=np.float32) - self.mean) / self.std


class QNetwork(nn.Module):
    """Shared trunk, one head per arm."""

    def __init__(self, inputs: int, arms: int, hidden: int = 64, dropout: float = 0.1):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(inputs, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.heads = nn.Linear(hidden, arms)

    def forward(self, x):
        return self.heads(self.trunk(x))


class PolicyNetwork(nn.Module):
    """Softmax policy over the arms."""

    def __init__(self, inputs: int, arms: int, hidden: int = 32):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(inputs, hidden), nn.Tanh(), nn.Linear(hidden, arms))

    def forward(self, x):
        return self.body(x)


@dataclass
class QModel:
    net: QNetwork
    scaler: Standardizer
    arms: int
    hidden: int
    history: list = field(default_factory=list)

    @torch.no_grad()
    def predict(self, x, batch: int = 65536) -> np.ndarray:
        self.net.eval()
        x = self.scaler(x)
        out = [self.net(torch.from_numpy(x[i : i + batch])).numpy() for i in range(0, len(x), batch)]
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, self.arms))


@dataclass
class PolicyModel:
    net: PolicyNetwork
    scaler: Standardizer
    arms: int
    hidden: int
    history: list = field(default_factory=list)

    @torch.no_grad()
    def probabilities(self, x, batch: int = 65536) -> np.ndarray:
        self.net.eval()
        x = self.scaler(x)
        out = [
            torch.softmax(self.net(torch.from_numpy(x[i : i + batch])), dim=1).numpy() for i in range(0, len(x), batch)
        ]
        return np.concatenate(out).astype(np.float64) if out else np.zeros((0, self.arms))


def _seeded(seed: int):
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def fit_q_network(
    data: LoggedData,
    arms: int,
    *,
    hidden: int = 64,
    epochs: int = 30,
    lr: float = 2e-3,
    batch_size: int = 512,
    weight_decay: float = 1e-4,
    dropout: float = 0.1,
    weighting: str = "ips",
    clip: float = 20.0,
    targets: str = "logged",
    first_stage=None,
    gamma: float = 0.0,
    reward_cap: float | None = None,
    patience: int = 4,
    validation_fraction: float = 0.15,
    seed: int = 0,
    device="cpu",
    progress=None,
) -> QModel:
    """Fit the Q-network (see the module docstring). ``first_stage`` (n, K) — a reward model's
    out-of-fold predictions — is needed for ``targets="dr"``. Early stopping on a random
    ``validation_fraction`` of the rows (weighted loss)."""
    rng = _seeded(seed)
    n = len(data)
    scaler = Standardizer.fit(data.x)
    x = torch.from_numpy(scaler(data.x)).to(device)
    rewards = data.rewards.copy()
    if reward_cap is not None:
        rewards = np.minimum(rewards, reward_cap)
    w = 1.0 / data.propensities if weighting == "ips" else np.ones(n)
    w = np.minimum(w, clip) if clip else w
    w = w / w.mean()
    if targets == "dr":
        if first_stage is None:
            raise ValueError('targets="dr" needs first_stage predictions')
        q0 = np.asarray(first_stage, dtype=np.float64)
        pseudo = q0.copy()
        rows = np.arange(n)
        inv = np.minimum(1.0 / data.propensities, clip) if clip else 1.0 / data.propensities
        pseudo[rows, data.actions] += inv * (rewards - q0[rows, data.actions])
        y_all = torch.tensor(pseudo, dtype=torch.float32, device=device)
    y = torch.tensor(rewards, dtype=torch.float32, device=device)
    a = torch.from_numpy(data.actions).to(device)
    weight = torch.tensor(w, dtype=torch.float32, device=device)
    nxt = torch.from_numpy(data.next_index).to(device) if (gamma > 0 and data.next_index is not None) else None

    order = rng.permutation(n)
    n_val = int(n * validation_fraction) if n >= 50 else 0
    val, train = order[:n_val], order[n_val:]
    net = QNetwork(x.shape[1], arms, hidden, dropout).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    target_net = copy.deepcopy(net).eval() if nxt is not None else None

    def targets_for(rows):
        if nxt is None:
            return y[rows]
        follow = nxt[rows]
        with torch.no_grad():
            future = target_net(x[follow.clamp(min=0)]).max(dim=1).values
        return y[rows] + gamma * torch.where(follow >= 0, future, torch.zeros_like(future))

    def loss_on(rows):
        out = net(x[rows])
        if targets == "dr":
            return ((out - y_all[rows]) ** 2).mean()
        pred = out.gather(1, a[rows].unsqueeze(1)).squeeze(1)
        return (weight[rows] * (pred - targets_for(rows)) ** 2).sum() / weight[rows].sum()

    best, best_state, bad, history = math.inf, None, 0, []
    train_t = torch.from_numpy(train).to(device)
    val_t = torch.from_numpy(val).to(device)
    for epoch in range(1, epochs + 1):
        net.train()
        perm = train_t[torch.randperm(len(train_t), device=device)]
        total = 0.0
        for start in range(0, len(perm), batch_size):
            rows = perm[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_on(rows)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(rows)
        net.eval()
        with torch.no_grad():
            val_loss = float(loss_on(val_t)) if len(val) else total / max(1, len(train))
        history.append({"epoch": epoch, "loss": total / max(1, len(train)), "val_loss": val_loss})
        if progress is not None:
            progress(epoch, epochs, history[-1])
        if target_net is not None:
            target_net.load_state_dict(net.state_dict())
        if val_loss < best - 1e-9:
            best, best_state, bad = val_loss, copy.deepcopy(net.state_dict()), 0
        else:
            bad += 1
            if bad >= patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    return QModel(net.cpu().eval(), scaler, arms, hidden, history)


@dataclass
class TwoPartModel:
    """``Q(x, a) = P(engaged | x, a) · V(x) · multiplier[a] − offset[a]``: a Q-network over a frequent
    binary outcome (visit, conversion) times a pooled value model of engaged customers. Much lower
    variance than regressing a heavy-tailed reward directly, at the price of one assumption: the
    arm changes *whether* a customer engages, not how much an engaged customer spends (up to the
    per-arm ``multiplier``, e.g. 0.9 for 10 % off)."""

    engaged: QModel
    value: QModel
    multiplier: np.ndarray
    offset: np.ndarray

    def predict(self, x) -> np.ndarray:
        p = np.clip(self.engaged.predict(x), 0.0, 1.0)
        v = np.maximum(self.value.predict(x)[:, 0], 0.0)
        return p * v[:, None] * self.multiplier[None, :] - self.offset[None, :]

    def with_offset(self, offset) -> "TwoPartModel":
        return TwoPartModel(self.engaged, self.value, self.multiplier, np.asarray(offset, dtype=np.float64))


def fit_two_part(
    data: LoggedData, engaged, value, arms: int, *, multiplier=None, offset=None, seed: int = 0, **params
) -> TwoPartModel:
    """``engaged`` (n,) 0/1 and ``value`` (n,) of the logged decisions; the value model is fitted on
    engaged rows only (all arms pooled)."""
    engaged = np.asarray(engaged, dtype=np.float64)
    part = LoggedData(data.x, data.actions, engaged, data.propensities)
    engaged_model = fit_q_network(part, arms, seed=seed, **params)
    rows = np.flatnonzero(engaged > 0)
    if len(rows) < 10:
        raise ValueError("too few engaged customers to fit the value model")
    value_data = LoggedData(
        data.x[rows], np.zeros(len(rows), dtype=np.int64), np.asarray(value)[rows], np.ones(len(rows))
    )
    value_params = {**params, "weighting": "none"}
    value_model = fit_q_network(value_data, 1, seed=seed + 1, **value_params)
    return TwoPartModel(
        engaged_model,
        value_model,
        np.ones(arms) if multiplier is None else np.asarray(multiplier, dtype=np.float64),
        np.zeros(arms) if offset is None else np.asarray(offset, dtype=np.float64),
    )


def cross_fit_q(data: LoggedData, arms: int, *, folds: int = 2, seed: int = 0, **params) -> np.ndarray:
    """Out-of-fold Q predictions (n, K): each row predicted by a model that never saw it (for DR)."""
    rng = np.random.default_rng(seed)
    fold = rng.integers(0, folds, len(data))
    out = np.zeros((len(data), arms))
    for k in range(folds):
        inside, outside = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        model = fit_q_network(data.subset(inside), arms, seed=seed + k, **params)
        out[outside] = model.predict(data.x[outside])
    return out


def fit_policy_gradient(
    data: LoggedData,
    arms: int,
    q_hat,
    *,
    objective: str = "dr",
    hidden: int = 32,
    epochs: int = 40,
    lr: float = 5e-3,
    batch_size: int = 2048,
    clip: float = 20.0,
    entropy: float = 0.01,
    weight_decay: float = 1e-4,
    seed: int = 0,
    device="cpu",
    progress=None,
) -> PolicyModel:
    """Train a softmax policy to maximize its DR (``objective="dr"``, needs ``q_hat`` (n, K)) or
    self-normalized IPS (``"snips"``) value on the logged decisions."""
    _seeded(seed)
    n = len(data)
    scaler = Standardizer.fit(data.x)
    x = torch.from_numpy(scaler(data.x)).to(device)
    r = torch.tensor(data.rewards, dtype=torch.float32, device=device)
    p = torch.tensor(data.propensities, dtype=torch.float32, device=device)
    a = torch.from_numpy(data.actions).to(device)
    q = torch.tensor(np.asarray(q_hat, dtype=np.float32), device=device) if q_hat is not None else None
    scale = float(np.abs(data.rewards).std() or 1.0)
    net = PolicyNetwork(x.shape[1], arms, hidden).to(device)
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    history = []
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(n, device=device)
        total = 0.0
        for start in range(0, n, batch_size):
            rows = perm[start : start + batch_size]
            probs = torch.softmax(net(x[rows]), dim=1)
            taken = probs.gather(1, a[rows].unsqueeze(1)).squeeze(1)
            w = taken / p[rows]
            if clip:
                w = torch.clamp(w, max=clip)
            if objective == "dr":
                qa = q[rows].gather(1, a[rows].unsqueeze(1)).squeeze(1)
                value = ((probs * q[rows]).sum(dim=1) + w * (r[rows] - qa)).mean()
            else:
                value = (w * r[rows]).sum() / w.sum().clamp(min=1e-6)
            ent = -(probs * torch.log(probs.clamp(min=1e-8))).sum(dim=1).mean()
            loss = -value / scale - entropy * ent
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(value.detach()) * len(rows)
        history.append({"epoch": epoch, "value": total / n})
        if progress is not None:
            progress(epoch, epochs, history[-1])
    return PolicyModel(net.cpu().eval(), scaler, arms, hidden, history)


# --------------------------------------------------------------------------- selection


@dataclass
class Candidate:
    name: str
    kind: str  # fixed | qnet | pg
    fixed_arm: int = 0
    threshold: float | None = None  # qnet: act on the model only where its gain over the fixed arm exceeds this

    def choices(self, q_pred, pg_probs, base_arm: int, n: int | None = None) -> np.ndarray:
        if n is None:
            n = len(q_pred) if q_pred is not None else len(pg_probs)
        if self.kind == "fixed":
            return np.full(n, self.fixed_arm)
        if self.kind == "pg":
            return pg_probs.argmax(axis=1)
        best = q_pred.argmax(axis=1)
        gain = q_pred[np.arange(n), best] - q_pred[:, base_arm]
        return np.where(gain > (self.threshold or 0.0), best, base_arm)


@dataclass
class Selection:
    chosen: Candidate
    base_arm: int
    table: list  # one row per candidate: name, dr, low, high, diff, diff_low, diff_high
    reason: str


def best_fixed_arm(data: LoggedData, arms: int, *, engaged=None, value=None, offsets=None) -> int:
    """The best fixed arm on ``data``: model-free, so use every training decision (not only the
    selection part). By self-normalized IPS of the reward; or, with ``engaged`` (0/1 per decision)
    and ``value`` (gross value per decision), by the two-part estimate ``P(engaged | arm) · mean value
    of the engaged − offsets[arm]`` — the assumption of ``TwoPartModel``, far less swayed by a few
    very large orders than the mean reward."""
    n = len(data)
    if engaged is None:
        values = [
            ope.estimate(
                "snips", data.rewards, data.actions, data.propensities, ope.fixed(n, arms, k), bootstrap=0
            ).value
            for k in range(arms)
        ]
        return int(np.argmax(values))
    engaged = np.asarray(engaged, dtype=np.float64)
    value = np.asarray(value, dtype=np.float64)
    per_engaged = float(value[engaged > 0].mean()) if (engaged > 0).any() else 0.0
    offsets = np.zeros(arms) if offsets is None else np.asarray(offsets, dtype=np.float64)
    rates = [
        ope.estimate("snips", engaged, data.actions, data.propensities, ope.fixed(n, arms, k), bootstrap=0).value
        for k in range(arms)
    ]
    return int(np.argmax([rates[k] * per_engaged - offsets[k] for k in range(arms)]))


def select_policy(
    valid: LoggedData,
    arms: int,
    q_valid,
    q_models,
    pg_probs=None,
    *,
    thresholds=(0.0,),
    estimators=("dr", "snips"),
    bootstrap: int = 200,
    seed: int = 0,
    clip: float | None = None,
    base_arm: int | None = None,
) -> Selection:
    """Choose among fixed arms, thresholded greedy Q-policies and the PG policy on held-out ``valid``
    decisions. ``q_valid``: the DR reward model's predictions there; ``q_models``: ``{name: predictions
    there}`` of the Q-models that define candidate policies (a single array is named ``"qnet"``).
    ``base_arm``: the best fixed arm, best found with ``best_fixed_arm`` on all training decisions
    (default: the best by DR on ``valid`` alone, which is noisier).
    A learned candidate wins only if the lower end of its paired difference to the best fixed arm
    is above zero under **every** estimator in ``estimators`` (DR alone would favour the policy of
    its own reward model); among those the highest DR value wins."""
    n = len(valid)
    args = (valid.rewards, valid.actions, valid.propensities)
    if q_models is not None and not isinstance(q_models, dict):
        q_models = {"qnet": q_models}
    if base_arm is None:
        fixed_values = [
            ope.estimate("dr", *args, ope.fixed(n, arms, k), q_valid, clip=clip, bootstrap=0).value for k in range(arms)
        ]
        base = int(np.argmax(fixed_values))
    else:
        base = int(base_arm)
    candidates = [Candidate(f"fixed:{k}", "fixed", fixed_arm=k) for k in range(arms)]
    predictions = {}
    for model_name, pred in (q_models or {}).items():
        gains = pred.max(axis=1) - pred[:, base]
        for t in thresholds:
            level = float(np.quantile(gains, t)) if 0 < t < 1 else 0.0
            cand = Candidate(f"{model_name}@{t:g}", "qnet", threshold=level)
            cand.model = model_name  # type: ignore[attr-defined]
            predictions[cand.name] = pred
            candidates.append(cand)
    if pg_probs is not None:
        candidates.append(Candidate("pg", "pg"))
    base_target = ope.fixed(n, arms, base)
    table, best, best_value = [], candidates[base], -math.inf
    for cand in candidates:
        target = ope.one_hot(cand.choices(predictions.get(cand.name), pg_probs, base, n), arms)
        value = ope.estimate("dr", *args, target, q_valid, clip=clip, bootstrap=0).value
        row = {"name": cand.name, "dr": value}
        passed = cand.kind != "fixed"
        for est in estimators:
            diff = ope.compare(
                est,
                *args,
                target,
                base_target,
                q_valid if est == "dr" else None,
                clip=clip,
                bootstrap=bootstrap,
                seed=seed,
            )
            row.update({f"{est}_diff": diff.value, f"{est}_diff_low": diff.low, f"{est}_diff_high": diff.high})
            passed = passed and diff.low > 0
        row["significant"] = bool(passed)
        table.append(row)
        if passed and value > best_value:
            best, best_value = cand, value
    if best.kind == "fixed":
        reason = (
            f"no learned policy beat the best fixed arm ({base}) significantly on held-out decisions "
            f"({' and '.join(estimators)}): falling back to it"
        )
    else:
        row = next(r for r in table if r["name"] == best.name)
        reason = (
            f"{best.name} beats the best fixed arm by {row['dr_diff' if 'dr_diff' in row else 'dr']:.4g} "
            f"(DR; 95 % CI lower ends: "
            + ", ".join(f"{e} {row[f'{e}_diff_low']:.4g}" for e in estimators)
            + ") on held-out decisions"
        )
    return Selection(best, base, table, reason)


# --------------------------------------------------------------------------- servable form


def policy_payload(
    arm_keys,
    candidate: Candidate,
    base_arm: int,
    q_model: QModel | None,
    pg_model: PolicyModel | None,
    *,
    evaluation: dict | None = None,
) -> dict:
    """A campaign policy as artifact-safe types (dicts, lists, tensors)."""
    payload = {
        "arms": list(arm_keys),
        "kind": candidate.kind,
        "name": candidate.name,
        "fixed_arm": int(candidate.fixed_arm if candidate.kind == "fixed" else base_arm),
        "threshold": float(candidate.threshold or 0.0),
        "evaluation": evaluation or {},
    }
    model = q_model if candidate.kind == "qnet" else pg_model if candidate.kind == "pg" else None
    if isinstance(model, TwoPartModel):
        payload.update(
            kind="twopart",
            multiplier=torch.from_numpy(model.multiplier.copy()),
            offset=torch.from_numpy(model.offset.copy()),
            parts={
                name: {
                    "mean": torch.from_numpy(part.scaler.mean.copy()),
                    "std": torch.from_numpy(part.scaler.std.copy()),
                    "hidden": int(part.hidden),
                    "arms": int(part.arms),
                    "state_dict": dict(part.net.state_dict()),
                }
                for name, part in (("engaged", model.engaged), ("value", model.value))
            },
        )
    elif model is not None:
        payload.update(
            mean=torch.from_numpy(model.scaler.mean.copy()),
            std=torch.from_numpy(model.scaler.std.copy()),
            hidden=int(model.hidden),
            state_dict=dict(model.net.state_dict()),
        )
    return payload


class CampaignPolicy:
    """A campaign's trained policy in the web process: ``arm_scores(vector, arm_keys)``."""

    def __init__(self, payload: dict):
        self.arms = [str(k) for k in payload["arms"]]
        self.kind = str(payload["kind"])
        self.name = str(payload.get("name", self.kind))
        self.fixed_arm = int(payload.get("fixed_arm", 0))
        self.threshold = float(payload.get("threshold", 0.0))
        self.evaluation = payload.get("evaluation") or {}
        if not 0 <= self.fixed_arm < len(self.arms):
            raise ValueError("fixed arm out of range")
        self.net: nn.Module | None = None
        self.parts: dict = {}
        if self.kind == "twopart":
            for name, part in payload["parts"].items():
                net = QNetwork(len(part["mean"]), int(part["arms"]), int(part["hidden"]))
                net.load_state_dict(part["state_dict"])
                self.parts[name] = (net.eval(), part["mean"].float(), part["std"].float())
            self.multiplier = payload["multiplier"].double().numpy()
            self.offset = payload["offset"].double().numpy()
        elif self.kind in ("qnet", "pg"):
            self.mean = payload["mean"].float()
            self.std = payload["std"].float()
            hidden = int(payload["hidden"])
            cls = QNetwork if self.kind == "qnet" else PolicyNetwork
            net = cls(len(self.mean), len(self.arms), hidden)
            net.load_state_dict(payload["state_dict"])
            self.net = net.eval()
        elif self.kind != "fixed":
            raise ValueError(f"unknown policy kind {self.kind!r}")

    def _two_part(self, x) -> np.ndarray:
        t = torch.from_numpy(np.asarray(x, dtype=np.float32))
        net, mean, std = self.parts["engaged"]
        p = net((t - mean) / std).double().clamp(0, 1).numpy()
        net, mean, std = self.parts["value"]
        v = net((t - mean) / std).double().clamp(min=0).numpy()[:, 0]
        return p * v[:, None] * self.multiplier[None, :] - self.offset[None, :]

    def describe(self) -> str:
        return self.name

    @torch.no_grad()
    def scores_matrix(self, x: np.ndarray) -> np.ndarray:
        """Scores (n, arms) in the trained arm order; the argmax is the policy's choice."""
        n = len(x)
        if self.kind == "twopart":
            out = self._two_part(x)
        elif self.net is None:
            return ope.fixed(n, len(self.arms), self.fixed_arm)
        else:
            out = self.net((torch.from_numpy(np.asarray(x, dtype=np.float32)) - self.mean) / self.std).double().numpy()
        if self.kind in ("qnet", "twopart"):
            best = out.argmax(axis=1)
            gain = out[np.arange(n), best] - out[:, self.fixed_arm]
            choice = np.where(gain > self.threshold, best, self.fixed_arm)
            return ope.one_hot(choice, len(self.arms)) + 1e-3 * out  # the choice first, then the Q order
        return out

    def arm_scores(self, vector, arm_keys):
        """Scores in the order of ``arm_keys`` (the campaign's arms now); None when they differ from training."""
        if sorted(arm_keys) != sorted(self.arms):
            return None
        scores = self.scores_matrix(np.asarray(vector, dtype=np.float32)[None, :])[0]
        position = {key: i for i, key in enumerate(self.arms)}
        return np.array([scores[position[key]] for key in arm_keys])


class OfferPolicies(dict):
    """``{campaign slug: CampaignPolicy}``: what ``load_active("offers")`` returns."""
