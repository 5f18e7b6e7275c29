"""A SASRec-family sequential recommender in PyTorch, and the object serving uses.

The model reads a shopper's recent events, oldest to newest, as tokens
``(item, event type, channel)`` and predicts the next item. It is SASRec (Kang & McAuley,
2018: causal self-attention over the item sequence) trained with cross-entropy over all
items (as in SASRec+ / gSASRec), with two additions for a shop:

* **event type and channel embeddings** are added to each input token (a purchase on the
  app is not a view on the web);
* **item content**: an item's vector is ``id embedding + W · text vector + category
  embedding``. Items never seen in training (new products) have no id embedding (it is
  masked to zero), so they are scored from their text and category alone; *id dropout*
  during training (``id_dropout``) teaches the content part to stand on its own.

The same item vectors embed input items and score output items (shared embeddings), so
top-k is one matrix-vector product. ``fit_sasrec`` trains; ``SequentialRecommender`` is the
servable object with ``recommend()`` and ``similar_items()``.

Training speed on a CPU comes from: batches of sequences of similar length padded only to
their own longest one (``batch_tokens`` tokens per batch instead of ``batch × maxlen``), the
loss computed on real positions only, every position trained (not only the last), fused
scaled-dot-product attention, and optional sampled softmax for very large catalogues
(``loss="sampled"``, ``negatives`` shared per batch).
"""

from __future__ import annotations

import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ecom_ai.ml.losses import bf16_is_faster, softmax_cross_entropy
from ecom_ai.recommend.repeats import RepeatPrior, fuse
from ecom_ai.recommend.scoring import top_k

FORMAT = "ecom_ai.sasrec/1"
MAX_FUSED_EXTRA = 100  # repeat-aware serving through an index: candidates beyond k and the exclusions

DEFAULT_PARAMS = {
    "hidden": 64,
    "blocks": 2,
    "heads": 1,
    "maxlen": 200,
    "dropout": 0.2,
    "id_dropout": 0.1,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "epochs": 200,
    "batch_tokens": 12800,
    "max_logits": 48_000_000,  # cap on batch tokens × catalogue size (memory of the full softmax)
    "loss": "auto",  # auto | full | sampled
    "negatives": 2048,  # sampled softmax: negatives shared by one batch
    "sampled_above": 50_000,  # "auto" samples when the catalogue is larger than this
    "precision": "auto",  # full softmax matrix products: auto | fp32 | bf16 (ecom_ai.ml.losses)
    "eval_every": 5,
    "patience": 3,  # evaluations without improvement before stopping
    "cpu_budget": None,  # seconds of process CPU time (time.process_time); checked before every step
    "anneal": True,  # the learning rate falls linearly to 5% over the planned steps
    "threads": None,  # torch threads for training (None: torch's default); with the seed, what reproduces a run
    "long_windows": False,  # also train on the earlier parts of sequences longer than maxlen
    "ema": 0.0,  # decay of an exponential moving average of the weights (0 = off); evaluations also try it
    "seed": 1234,
}


def merged_params(params: dict | None) -> dict:
    out = dict(DEFAULT_PARAMS)
    for key, value in (params or {}).items():
        if key in DEFAULT_PARAMS:
            out[key] = value
    return out


class Block(nn.Module):
    """Pre-norm transformer block: causal self-attention, then a position-wise FFN."""

    def __init__(self, hidden: int, heads: int, dropout: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads}).")
        self.heads = heads
        self.dropout = dropout
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.ff1 = nn.Linear(hidden, hidden)
        self.ff2 = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        batch, length, hidden = x.shape
        q, k, v = (
            self.qkv(self.norm1(x)).view(batch, length, 3, self.heads, hidden // self.heads).permute(2, 0, 3, 1, 4)
        )
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # fused kernel (no attention dropout)
        x = x + self.drop(self.out(attn.transpose(1, 2).reshape(batch, length, hidden)))
        y = self.ff2(self.drop(F.relu(self.ff1(self.norm2(x)))))
        return x + self.drop(y)


class SASRec(nn.Module):
    """The network. Item index 0 is padding; real items are 1..n_items."""

    def __init__(
        self,
        n_items: int,
        n_event_types: int,
        n_channels: int,
        n_categories: int,
        text_dim: int,
        hidden: int = 64,
        blocks: int = 2,
        heads: int = 1,
        maxlen: int = 200,
        dropout: float = 0.2,
    ):
        super().__init__()
        self.n_items, self.maxlen, self.hidden = n_items, maxlen, hidden
        self.item_id = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        self.category = nn.Embedding(n_categories + 1, hidden, padding_idx=0)
        self.text = nn.Linear(text_dim, hidden, bias=False) if text_dim else None
        self.event_type = nn.Embedding(n_event_types + 1, hidden, padding_idx=0)
        self.channel = nn.Embedding(n_channels + 1, hidden, padding_idx=0)
        self.position = nn.Embedding(maxlen + 1, hidden, padding_idx=0)
        self.blocks = nn.ModuleList([Block(hidden, heads, dropout) for _ in range(blocks)])
        self.norm = nn.LayerNorm(hidden)
        self.drop = nn.Dropout(dropout)
        # item side information (buffers: saved in the state dict, moved with the model)
        self.register_buffer("item_text", torch.zeros(n_items + 1, text_dim))
        self.register_buffer("item_category", torch.zeros(n_items + 1, dtype=torch.long))
        self.register_buffer("id_mask", torch.ones(n_items + 1))  # 0: no trained id embedding (new item)
        nn.init.normal_(self.item_id.weight, std=hidden**-0.5)
        nn.init.normal_(self.category.weight, std=hidden**-0.5)
        for emb in (self.event_type, self.channel, self.position):
            nn.init.normal_(emb.weight, std=0.02)
        with torch.no_grad():
            for emb in (self.item_id, self.category, self.event_type, self.channel, self.position):
                emb.weight[0].zero_()

    def item_vectors(self, id_keep: torch.Tensor | None = None) -> torch.Tensor:
        """``(n_items + 1, hidden)``: every item's vector; row 0 (padding) is zero."""
        mask = self.id_mask if id_keep is None else self.id_mask * id_keep
        vectors = self.item_id.weight * mask.unsqueeze(1) + self.category(self.item_category)
        if self.text is not None:
            vectors = vectors + self.text(self.item_text)
        return vectors * (torch.arange(self.n_items + 1, device=vectors.device) > 0).unsqueeze(1)

    def encode(self, items, event_types, channels, positions, vectors=None):
        """Hidden state after every position of right-padded ``(batch, length)`` inputs."""
        if vectors is None:
            vectors = self.item_vectors()
        x = F.embedding(items, vectors) * math.sqrt(self.hidden)
        x = x + self.event_type(event_types) + self.channel(channels) + self.position(positions)
        x = self.drop(x)  # right padding + causal attention: real positions never see the padding
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


# --------------------------------------------------------------------------- data


@dataclass
class SequenceData:
    """Per-shopper sequences of integer codes (item 1..n, event type 1..m, channel 1..c).

    ``items[u]``/``events[u]``/``channels[u]`` are int64 arrays, oldest first.
    """

    items: list
    events: list
    channels: list

    def __len__(self):
        return len(self.items)


@dataclass
class ItemFeatures:
    """Side information of items 1..n (row 0 is padding): text vectors and category codes."""

    text: np.ndarray | None = None  # (n + 1, dim) float32, or None
    category: np.ndarray | None = None  # (n + 1,) int64, 0 = none
    n_categories: int = 0


def split_long(seqs: SequenceData, maxlen: int) -> SequenceData:
    """Sequences longer than ``maxlen + 1`` cut into windows of ``maxlen + 1`` events.

    Windows end at the newest event, then ``maxlen`` events earlier, and so on (each shares
    its first event with the next window's last), so every event is a training target once
    although the model reads at most ``maxlen`` events.
    """
    items, events, channels = [], [], []
    for it, ev, ch in zip(seqs.items, seqs.events, seqs.channels):
        end = len(it)
        while True:
            start = max(0, end - maxlen - 1)
            items.append(it[start:end])
            events.append(ev[start:end])
            channels.append(ch[start:end])
            if start == 0 or end - maxlen < 2:
                break
            end -= maxlen
    return SequenceData(items, events, channels)


def _batches(lengths: np.ndarray, batch_tokens: int, max_batch: int, rng: np.random.Generator):
    """Index batches of sequences of similar length, ~``batch_tokens`` padded tokens each."""
    order = np.argsort(lengths + rng.random(len(lengths)), kind="stable")  # shuffle within equal lengths
    batches, start = [], 0
    while start < len(order):
        # sorted ascending: the batch's longest is its last; grow while under budget
        end = start + 1
        while end < len(order) and end - start < max_batch and (end - start + 1) * lengths[order[end]] <= batch_tokens:
            end += 1
        batches.append(order[start:end])
        start = end
    rng.shuffle(batches)
    return batches


def _pad(seqs: list, indices, maxlen: int, drop_last: bool):
    """Right-padded ``(items, events, channels, positions)`` inputs and the next-item targets."""
    rows = []
    for i in indices:
        it, ev, ch = seqs.items[i], seqs.events[i], seqs.channels[i]
        if drop_last:  # training: inputs seq[:-1], targets seq[1:]
            it, ev, ch = it[-(maxlen + 1) :], ev[-(maxlen + 1) :], ch[-(maxlen + 1) :]
            rows.append((it[:-1], ev[:-1], ch[:-1], it[1:], ev[1:]))
        else:
            rows.append((it[-maxlen:], ev[-maxlen:], ch[-maxlen:], None, None))
    length = max(len(r[0]) for r in rows)
    batch = len(rows)
    items = np.zeros((batch, length), dtype=np.int64)
    events = np.zeros_like(items)
    channels = np.zeros_like(items)
    positions = np.zeros_like(items)
    targets = np.zeros_like(items)
    target_events = np.zeros_like(items)
    for b, (it, ev, ch, tg, te) in enumerate(rows):
        n = len(it)
        items[b, :n], events[b, :n], channels[b, :n] = it, ev, ch
        positions[b, :n] = np.arange(maxlen - n + 1, maxlen + 1)  # the newest token is position maxlen
        if tg is not None:
            targets[b, :n], target_events[b, :n] = tg, te
    return (
        torch.from_numpy(items),
        torch.from_numpy(events),
        torch.from_numpy(channels),
        torch.from_numpy(positions),
        torch.from_numpy(targets),
        torch.from_numpy(target_events),
    )


def build_model(n_items: int, n_event_types: int, n_channels: int, features: ItemFeatures, params: dict) -> SASRec:
    text_dim = 0 if features.text is None else int(features.text.shape[1])
    model = SASRec(
        n_items,
        n_event_types,
        n_channels,
        features.n_categories,
        text_dim,
        hidden=int(params["hidden"]),
        blocks=int(params["blocks"]),
        heads=int(params["heads"]),
        maxlen=int(params["maxlen"]),
        dropout=float(params["dropout"]),
    )
    set_item_features(model, features)
    return model


def set_item_features(model: SASRec, features: ItemFeatures) -> None:
    with torch.no_grad():
        if features.text is not None and model.text is not None:
            model.item_text.copy_(torch.as_tensor(features.text, dtype=torch.float32))
        if features.category is not None:
            model.item_category.copy_(torch.as_tensor(features.category, dtype=torch.long))


@dataclass
class FitReport:
    epochs: int = 0
    seconds: float = 0.0  # wall time
    cpu_seconds: float = 0.0  # process CPU time of this process (rank 0 under DDP)
    steps: int = 0
    planned_epochs: int = 0  # what the learning-rate schedule runs over
    history: list = field(default_factory=list)  # [{"epoch", "loss", "seconds", "cpu_seconds", **metrics}]
    best_epoch: int = 0
    best_metric: float | None = None
    best_weights: str = ""  # "trained" or "averaged" (the moving average, with ``ema``)
    stopped: str = ""
    loss: str = ""  # "full" or "sampled"
    loss_reason: str = ""
    batch_tokens: int = 0
    world_size: int = 1


class WeightAverage:
    """An exponential moving average of a model's parameters (decay warmed up over the first steps)."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < float(decay) < 1.0:
            raise ValueError(f"ema must be more than 0 and less than 1 (0 turns it off), got {decay!r}")
        self.decay = float(decay)
        self.params = [p for p in model.parameters()]
        self.shadow = [p.detach().clone() for p in self.params]
        self.steps = 0

    @torch.no_grad()
    def update(self) -> None:
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - decay)

    @contextmanager
    def applied(self):
        """The averaged weights in the model for the ``with`` block, the trained ones after it."""
        with torch.no_grad():
            kept = [p.detach().clone() for p in self.params]
            for p, a in zip(self.params, self.shadow):
                p.copy_(a)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, k in zip(self.params, kept):
                    p.copy_(k)


def _fused(device) -> dict:
    """Fused Adam (one kernel per step) where this torch build has it for the device."""
    try:
        torch.optim.AdamW([torch.zeros(1, device=device, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return {}
    return {"fused": True}


class TrainingStep(nn.Module):
    """One training step's loss as a module's forward, so DistributedDataParallel can wrap it."""

    def __init__(self, model: SASRec, loss_kind: str, negatives: int, precision: str, weights):
        super().__init__()
        self.model = model
        self.loss_kind, self.negatives, self.precision = loss_kind, negatives, precision
        self.weights = weights

    def forward(self, items, events, channels, positions, targets, target_events, keep_ids):
        model, n_items = self.model, self.model.n_items
        vectors = model.item_vectors(keep_ids)
        hidden = model.encode(items, events, channels, positions, vectors)
        valid = targets > 0
        h = hidden[valid]
        tgt = targets[valid]
        weights = self.weights
        if self.loss_kind == "full":
            loss = softmax_cross_entropy(
                h,
                vectors[1:],
                tgt - 1,
                precision=self.precision,
                weights=None if weights is None else weights[target_events[valid]],
            )
        else:
            # softmax over the target and `negatives` items drawn uniformly for the whole batch
            # (a drawn item equal to the target is masked out)
            neg = torch.randint(1, n_items + 1, (self.negatives,), device=h.device)
            pos_logit = (h * F.embedding(tgt, vectors)).sum(-1)
            neg_logits = (h @ F.embedding(neg, vectors).T).masked_fill_(
                neg.unsqueeze(0) == tgt.unsqueeze(1), float("-inf")
            )
            losses = torch.logaddexp(pos_logit, torch.logsumexp(neg_logits, 1)) - pos_logit
            if weights is None:
                loss = losses.mean()
            else:
                w = weights[target_events[valid]]
                loss = (losses * w).sum() / w.sum().clamp_min(1e-9)
        return loss, len(tgt)


def _distributed():
    """``(rank, world size)`` of the initialised ``torch.distributed`` group, ``(0, 1)`` without one."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _agree(value: float, world: int, op: str = "max") -> float:
    """The same number on every process (the maximum, or rank 0's for ``op="rank0"``)."""
    if world == 1:
        return value
    import torch.distributed as dist

    tensor = torch.tensor([float(value)], dtype=torch.float64)
    if op == "rank0":
        dist.broadcast(tensor, src=0)
    else:
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return float(tensor.item())


def fit_sasrec(
    model: SASRec,
    train: SequenceData,
    params: dict,
    *,
    evaluate=None,
    progress=None,
    device=None,
    trained_items: np.ndarray | None = None,
    event_weights=None,
) -> FitReport:
    """Train ``model`` in place on ``train`` (every position predicts the next item).

    ``evaluate(model) -> dict`` is called every ``eval_every`` epochs (and after the last);
    its ``"ndcg@10"`` picks the best epoch (its weights are restored) and early-stops after
    ``patience`` evaluations without improvement. ``progress(epoch, total, loss, metrics,
    percent)`` is called after each epoch. ``trained_items``: a 0/1 mask (n + 1) of items
    whose id embedding is learned (seen as targets); others stay content-only.
    ``event_weights``: loss weight per event-type code (index 0 unused), e.g. a purchase
    target counting more than a view.

    Budgets are reproducible: ``epochs`` and ``cpu_budget`` (seconds of this process's CPU
    time, ``time.process_time``, checked before every step) rather than wall time, and the
    learning rate (``anneal``) falls linearly to 5 % over the *planned steps*: ``epochs`` ×
    steps per epoch, or with a CPU budget the whole epochs that fit in it with their
    evaluations, from the CPU cost of the first epoch and of an evaluation after it (the
    evaluations are paid from the same budget, so a plan that left them out ran out of CPU
    before its learning rate had come down). The same seed and thread count give the same model on an idle or a busy machine
    (with a CPU budget, up to where the budget cuts). Wall time is reported.

    Under ``torch.distributed`` (an initialised process group, ``ecom_ai.ml.distributed``)
    the model is wrapped in ``DistributedDataParallel``: every process draws the same batch
    order and takes its share (``batch_tokens`` is split between processes, so an optimizer
    step sees as many tokens as one process would); rank 0 evaluates and decides when to stop.
    """
    params = merged_params(params)
    rank, world = _distributed()
    device = torch.device(device or "cpu")
    if params.get("threads"):
        torch.set_num_threads(int(params["threads"]))
    rng = np.random.default_rng(int(params["seed"]))
    model.to(device)
    if trained_items is not None:
        model.id_mask.copy_(torch.as_tensor(trained_items, dtype=torch.float32))
    n_items = model.n_items
    maxlen = int(params["maxlen"])
    if params.get("long_windows"):
        train = split_long(train, maxlen)
    lengths = np.array([min(len(s), maxlen + 1) - 1 for s in train.items])
    keep = np.flatnonzero(lengths > 0)
    lengths = lengths[keep]
    train = SequenceData(
        [train.items[i] for i in keep], [train.events[i] for i in keep], [train.channels[i] for i in keep]
    )
    from ecom_ai.recommend.params import loss_choice

    loss_kind, loss_reason = loss_choice(params, n_items)
    negatives = min(int(params["negatives"]), n_items)
    width = negatives + 1 if loss_kind == "sampled" else n_items
    batch_tokens = max(maxlen, min(int(params["batch_tokens"]), int(params["max_logits"]) // max(1, width)))
    if batch_tokens < int(params["batch_tokens"]):
        loss_reason += f"; batch_tokens lowered to {batch_tokens} (max_logits={params['max_logits']})"
    rank_tokens = max(maxlen, batch_tokens // world)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=float(params["lr"]),
        betas=(0.9, 0.98),
        weight_decay=float(params["weight_decay"]),
        **_fused(device),
    )
    id_dropout = float(params["id_dropout"])
    precision = str(params["precision"])
    if precision == "auto":
        precision = "bf16" if bf16_is_faster(device) else "fp32"
    weights = None if event_weights is None else torch.as_tensor(event_weights, dtype=torch.float32, device=device)
    step_module: nn.Module = TrainingStep(model, loss_kind, negatives, precision, weights)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        with warnings.catch_warnings():  # torch 2.13 deprecates broadcast_buffers, but its successor syncs at init
            warnings.simplefilter("ignore", FutureWarning)
            # the buffers (item text, categories, id mask) are set from the same data on every process
            step_module = DistributedDataParallel(
                step_module, device_ids=[device.index] if device.type == "cuda" else None, broadcast_buffers=False
            )
    epochs = int(params["epochs"])
    eval_every = max(1, int(params["eval_every"]))
    budget = params.get("cpu_budget")
    budget = float(budget) if budget else None
    anneal = bool(params.get("anneal", True))
    report = FitReport(loss=loss_kind, loss_reason=loss_reason, batch_tokens=batch_tokens, world_size=world)
    best_state, bad_evals = None, 0
    average = WeightAverage(model, float(params["ema"])) if params.get("ema") else None
    started, cpu_started = time.monotonic(), time.process_time()
    planned_epochs, planned_steps, step = epochs, 0, 0
    base_lr = float(params["lr"])
    out_of_budget = False
    for epoch in range(1, epochs + 1):
        model.train()
        step_module.train()
        total, count = 0.0, 0
        batches = _batches(lengths, rank_tokens, 4096, rng)
        if world > 1:  # every process: the same number of steps
            per_rank = len(batches) // world
            batches = batches[rank * per_rank : (rank + 1) * per_rank] if per_rank else batches[:1]
        if not planned_steps:
            planned_steps = max(1, planned_epochs * len(batches))
        for idx in batches:
            if budget is not None and _agree(float(time.process_time() - cpu_started >= budget), world):
                out_of_budget = True
                break
            if anneal:
                lr = base_lr * max(0.05, 1.0 - step / planned_steps)
                for group in optimizer.param_groups:
                    group["lr"] = lr
            tensors = (t.to(device) for t in _pad(train, idx, maxlen, drop_last=True))
            keep_ids = None
            if id_dropout > 0:
                keep_ids = (torch.rand(n_items + 1, device=device) >= id_dropout).float()
            loss, n_targets = step_module(*tensors, keep_ids)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if average is not None:
                average.update()
            total += float(loss.detach()) * n_targets
            count += n_targets
        cpu = time.process_time() - cpu_started
        planning = epoch == 1 and budget is not None and not out_of_budget
        elapsed = time.monotonic() - started
        row = {
            "epoch": epoch,
            "loss": total / max(1, count),
            "seconds": round(elapsed, 1),
            "cpu_seconds": round(cpu, 1),
            "steps": step,
        }
        last = epoch == epochs or epoch >= planned_epochs or out_of_budget
        metrics = {}
        stop_now = False
        eval_cpu = 0.0
        if rank == 0 and evaluate is not None and (epoch % eval_every == 0 or last or planning):
            eval_started = time.process_time()
            metrics = evaluate(model)
            row.update(metrics)
            score, weights_used = metrics.get("ndcg@10"), "trained"
            if average is not None and score is not None:
                with average.applied():
                    averaged = evaluate(model)
                    metrics = {**metrics, **{f"averaged_{k}": v for k, v in averaged.items()}}
                    row.update(metrics)
                    if averaged.get("ndcg@10", float("-inf")) > score:
                        score, weights_used = averaged["ndcg@10"], "averaged"
                        best_candidate = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if score is not None and (report.best_metric is None or score > report.best_metric):
                report.best_metric, report.best_epoch, bad_evals = score, epoch, 0
                report.best_weights = weights_used
                best_state = (
                    best_candidate
                    if weights_used == "averaged"
                    else {k: v.detach().clone() for k, v in model.state_dict().items()}
                )
            else:
                bad_evals += 1
            stop_now = best_state is not None and bad_evals >= int(params["patience"])
            eval_cpu = time.process_time() - eval_started
        if planning:
            # the schedule's length, fixed once (rank 0's plan on every process): E whole epochs of
            # the first one's CPU cost c, with their evaluations of CPU cost v (this one's, the
            # averaged weights' included) every eval_every epochs, after the last, and this one:
            # c·E + v·(E / eval_every + 2) ≤ budget
            fit_epochs = (budget - 2 * eval_cpu) / max(cpu + eval_cpu / eval_every, 1e-6)
            planned_epochs = int(_agree(float(max(1, min(epochs, int(fit_epochs)))), world, "rank0"))
            planned_steps = max(1, planned_epochs * len(batches))
        report.planned_epochs = planned_epochs
        report.history.append(row)
        report.epochs = epoch
        report.steps = step
        if progress is not None and rank == 0:
            progress(epoch, planned_epochs, row["loss"], metrics, 100.0 * min(1.0, epoch / planned_epochs))
        if _agree(float(stop_now), world, "rank0"):
            report.stopped = f"early stop: no better ndcg@10 in {bad_evals} evaluations"
            break
        if out_of_budget:
            report.stopped = f"CPU budget of {budget:g} s reached in epoch {epoch}"
            break
        if epoch >= planned_epochs and planned_epochs < epochs:
            report.stopped = f"CPU budget of {budget:g} s: {planned_epochs} whole epochs planned"
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    report.seconds = time.monotonic() - started
    report.cpu_seconds = time.process_time() - cpu_started
    model.eval()
    return report


@torch.no_grad()
def user_states(model: SASRec, seqs: SequenceData, batch_size: int = 256, vectors=None) -> torch.Tensor:
    """``(len(seqs), hidden)``: the model's state after each whole sequence (score = state · item vector)."""
    model.eval()
    maxlen = model.maxlen
    if vectors is None:
        vectors = model.item_vectors()
    out = []
    order = np.argsort([len(s) for s in seqs.items], kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        items, events, channels, positions, _, _ = _pad(seqs, idx, maxlen, drop_last=False)
        device = vectors.device
        hidden = model.encode(items.to(device), events.to(device), channels.to(device), positions.to(device), vectors)
        out.append(hidden[torch.arange(len(idx)), (items > 0).sum(1).to(device) - 1].cpu())
    if not out:
        return torch.zeros((0, model.hidden))
    states = torch.cat(out)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.from_numpy(order)] = torch.arange(len(order))
    return states[inverse]


@torch.no_grad()
def score_last(model: SASRec, seqs: SequenceData, batch_size: int = 256, vectors=None) -> torch.Tensor:
    """Scores ``(len(seqs), n_items + 1)`` of the next item after each whole sequence.

    The dense matrix: for a few sequences only (tests, small hold-outs). Many users × a large
    catalogue go through ``user_states`` and ``ecom_ai.recommend.scoring`` (memory-bounded).
    """
    if vectors is None:
        vectors = model.item_vectors()
    scores = user_states(model, seqs, batch_size, vectors) @ vectors.cpu().T
    scores[:, 0] = float("-inf")
    return scores


# --------------------------------------------------------------------------- artifact and serving


def to_payload(
    model: SASRec,
    *,
    item_keys,
    event_types,
    channels,
    categories,
    params,
    encoder_name="",
    event_weights=None,
    extra=None,
) -> dict:
    """A payload ``ecom_ai.ml.artifacts`` can store (plain types and tensors only).

    A catalogue large enough for approximate serving (``ecom_ai.recommend.ann``) gets its
    item index built here and stored in ``extra["ann_index"]``, so web processes only load it.
    """
    from ecom_ai.recommend import ann

    extra = dict(extra or {})
    if "ann_index" not in extra and ann.wanted(model.n_items):
        with torch.no_grad():
            vectors = model.item_vectors().detach().cpu().numpy()
        extra["ann_index"] = torch.from_numpy(np.asarray(ann.ItemIndex.build(vectors).to_bytes()))
    return {
        "format": FORMAT,
        "params": {k: v for k, v in merged_params(params).items() if isinstance(v, (int, float, str, type(None)))},
        "dims": {
            "n_items": model.n_items,
            "n_event_types": model.event_type.num_embeddings - 1,
            "n_channels": model.channel.num_embeddings - 1,
            "n_categories": model.category.num_embeddings - 1,
            "text_dim": 0 if model.text is None else model.text.in_features,
        },
        "item_keys": list(item_keys),
        "event_types": list(event_types),
        "channels": list(channels),
        "categories": list(categories),
        "encoder": encoder_name,
        "event_weights": [
            float(w) for w in (event_weights if event_weights is not None else [0.0] + [1.0] * len(event_types))
        ],
        "extra": extra,
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
    }


def from_payload(payload: dict) -> SASRec:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"Not a recommender artifact of format {FORMAT!r}.")
    dims, params = payload["dims"], merged_params(payload["params"])
    model = SASRec(
        dims["n_items"],
        dims["n_event_types"],
        dims["n_channels"],
        dims["n_categories"],
        dims["text_dim"],
        hidden=int(params["hidden"]),
        blocks=int(params["blocks"]),
        heads=int(params["heads"]),
        maxlen=int(params["maxlen"]),
        dropout=float(params["dropout"]),
    )
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model


class SequentialRecommender:
    """What ``load_active("recommender")`` returns: the model with its item vectors in memory.

    ``recommend(history, k, exclude)``: ``history`` is ``[(item_key, event_type, channel),
    ...]`` oldest → newest; unknown item keys are ignored (unknown event types/channels
    count as none); returns up to ``k`` ``(item_key, score)`` best first, leaving out
    ``exclude``. An empty (or all-unknown) history gives ``[]`` (the caller falls back).
    ``similar_items(item_key, k, exclude)``: nearest items by cosine of item vectors.
    Top-k is exact and memory-bounded (``ecom_ai.recommend.scoring``) below
    ``ECOM_AI["RECOMMEND_ANN_MIN_ITEMS"]`` items, through a faiss index above
    (``ecom_ai.recommend.ann``; ``recommend()`` only).
    """

    def __init__(self, payload: dict):
        self.model = from_payload(payload)
        self.item_keys: list[str] = list(payload["item_keys"])
        self.event_types: list[str] = list(payload["event_types"])
        self.channels: list[str] = list(payload["channels"])
        self.categories: list[str] = list(payload["categories"])
        self.encoder = payload.get("encoder", "")
        self.params = merged_params(payload["params"])
        self._index = {key: i + 1 for i, key in enumerate(self.item_keys)}
        self._event_index = {name: i + 1 for i, name in enumerate(self.event_types)}
        self._channel_index = {name: i + 1 for i, name in enumerate(self.channels)}
        weights = list(payload.get("event_weights") or [])
        self._strength = (
            weights if len(weights) == len(self.event_types) + 1 else list(range(len(self.event_types) + 1))
        )
        with torch.no_grad():
            self.vectors = self.model.item_vectors().contiguous()
            norms = self.vectors.norm(dim=1, keepdim=True).clamp_min(1e-9)
            self.unit_vectors = (self.vectors / norms).contiguous()
        self.ann_index = self._load_index(payload)
        # repeat-aware scoring (ecom_ai.recommend.repeats): chosen at training, None or weight 0 when off
        self.repeat = RepeatPrior.from_dict((payload.get("extra") or {}).get("repeat"))

    def _load_index(self, payload: dict):
        """The stored item index (a large catalogue with faiss installed), built here when missing; else None."""
        from ecom_ai.recommend import ann

        if not ann.wanted(len(self.item_keys)):
            return None
        stored = (payload.get("extra") or {}).get("ann_index")
        if stored is not None:
            data = stored.numpy() if isinstance(stored, torch.Tensor) else np.asarray(stored)
            return ann.ItemIndex.from_bytes(data, self.vectors.shape[1])
        return ann.ItemIndex.build(self.vectors.numpy())

    def __len__(self):
        return len(self.item_keys)

    def _exclusions(self, exclude, skip=()) -> list[int]:
        return [i for i in (self._index.get(str(key)) for key in list(exclude or ()) + list(skip)) if i is not None]

    def _top(self, query: torch.Tensor, vectors: torch.Tensor, k: int, exclude, skip=()) -> list[tuple[str, float]]:
        """Exact top-k of ``query · vectors`` (``ecom_ai.recommend.scoring``, memory-bounded)."""
        k = max(0, min(int(k), len(self.item_keys)))
        if k == 0:
            return []
        values, indices = top_k(query.unsqueeze(0), vectors, k, exclude=[self._exclusions(exclude, skip)])
        return [
            (self.item_keys[i - 1], float(v))
            for v, i in zip(values[0].tolist(), indices[0].tolist())
            if v != float("-inf")
        ]

    def _ann_top(self, query: torch.Tensor, k: int, exclude) -> list[tuple[str, float]] | None:
        """Top-k through the item index (``ecom_ai.recommend.ann``); None when it cannot fill ``k``."""
        excluded = set(self._exclusions(exclude))
        k = max(0, min(int(k), len(self.item_keys)))
        ids, _ = self.ann_index.search(query.numpy()[None, :], k + len(excluded))
        codes = [int(i) for i in ids[0] if i > 0 and int(i) not in excluded][:k]
        if len(codes) < k:
            return None
        scores = (self.vectors[torch.as_tensor(codes)] @ query).tolist()
        pairs = sorted(zip(scores, codes), key=lambda p: -p[0])
        return [(self.item_keys[c - 1], float(v)) for v, c in pairs]

    def _fused_top(self, query: torch.Tensor, codes: list[int], k: int, exclude) -> list[tuple[str, float]]:
        """Top-k of the model's scores fused with the shopper's recent items (``repeats.fuse``).

        Exact below the index's catalogue size: the whole row is scored (one shopper). With an
        index, the softmax is normalised over the index's candidates and the shopper's recent
        items only (an approximation: it gives the model's part somewhat more weight).
        """
        k = max(0, min(int(k), len(self.item_keys)))
        if k == 0:
            return []
        excluded = self._exclusions(exclude)
        if self.ann_index is not None:
            ids, _ = self.ann_index.search(query.numpy()[None, :], k + len(excluded) + MAX_FUSED_EXTRA)
            recent, _ = self.repeat.recent(codes)
            candidates = sorted({int(i) for i in ids[0] if i > 0} | set(recent))
            cols = torch.as_tensor([0] + candidates, dtype=torch.long)
            local = {c: j + 1 for j, c in enumerate(candidates)}
            row = (self.vectors[cols] @ query).unsqueeze(0)
            history = [local[c] for c in codes if c in local]
            # items outside `local` are older than every recent one: leaving them out keeps the recency ranks
            fused = fuse(row, [history], self.repeat)[0]
            order = torch.argsort(fused, descending=True).tolist()
            out = []
            skip = set(excluded)
            for j in order:
                code = int(cols[j])
                if code == 0 or code in skip or fused[j] == float("-inf"):
                    continue
                out.append((self.item_keys[code - 1], float(fused[j])))
                if len(out) >= k:
                    break
            return out
        row = (self.vectors @ query).unsqueeze(0)
        fused = fuse(row, [codes], self.repeat)
        if excluded:
            fused[0, torch.as_tensor(excluded, dtype=torch.long)] = float("-inf")
        values, indices = torch.topk(fused[0], k)
        return [
            (self.item_keys[int(i) - 1], float(v))
            for v, i in zip(values.tolist(), indices.tolist())
            if v != float("-inf") and int(i) > 0
        ]

    @torch.inference_mode()
    def recommend(self, history, k: int, exclude=()) -> list[tuple[str, float]]:
        maxlen = self.model.maxlen
        tokens = []
        for entry in history or ():
            key, event_type, channel = (tuple(entry) + ("", ""))[:3]
            i = self._index.get(str(key))
            if i is None:
                continue
            event = self._event_index.get(event_type, 0)
            token = (i, event, self._channel_index.get(channel, 0))
            if tokens and tokens[-1][0] == i:  # view, cart, purchase of one item: one step, strongest type
                if self._strength[event] > self._strength[tokens[-1][1]]:
                    tokens[-1] = token
                continue
            tokens.append(token)
        tokens = tokens[-maxlen:]
        if not tokens:
            return []
        n = len(tokens)
        data = torch.tensor(tokens, dtype=torch.long).T.unsqueeze(1)  # (3, 1, n)
        positions = torch.arange(maxlen - n + 1, maxlen + 1).unsqueeze(0)
        hidden = self.model.encode(data[0], data[1], data[2], positions, self.vectors)
        query = hidden[0, -1]
        if self.repeat is not None and self.repeat.active:
            return self._fused_top(query, [t[0] for t in tokens], k, exclude)
        if self.ann_index is not None:
            pairs = self._ann_top(query, k, exclude)
            if pairs is not None:
                return pairs
        return self._top(query, self.vectors, k, exclude)

    @torch.inference_mode()
    def similar_items(self, item_key: str, k: int, exclude=()) -> list[tuple[str, float]]:
        i = self._index.get(str(item_key))
        if i is None:
            return []
        return self._top(self.unit_vectors[i], self.unit_vectors, k, exclude, skip=(str(item_key),))
