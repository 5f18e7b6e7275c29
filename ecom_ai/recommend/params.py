"""Training parameters of the sequential recommender derived from the shape of the data.

A shop's own event log, ML-1M and a file of six purchases per customer need different batch
sizes, sequence lengths and numbers of epochs; nothing here looks at a dataset's *name*.
``derive_params(DataShape.of(sequences, n_items))`` gives the parameters both the product's
trainer (``ecom_ai.recommend.training``) and ``benchmarks/recommend.py`` start from; explicit
parameters (``ECOM_AI["RECOMMENDER_PARAMS"]``, ``--params``, ``--param``) override them one by
one. The rules (documented in docs/recommendations-model.md):

* ``maxlen``: the 90th percentile of sequence lengths, rounded up to a multiple of 10,
  between 20 and 200 (longer histories are cut to their newest ``maxlen`` events);
  ``long_windows`` when more than 10 % of the sequences are longer than that (their older
  parts become training windows of their own).
* ``batch_tokens``: about 250 optimizer steps per epoch (SASRec's reference code takes
  ~240 on ML-1M): the tokens of an epoch / 250, rounded to a power of two, between 2,048
  and 16,384. Short sequences get small batches and so enough steps to learn.
* ``lr``: 2e-3 at 4,096 tokens per batch, scaled by the square root of the batch size
  (1.5e-3 at 2,048, 3e-3 at 8,192 and more).
* ``epochs``: enough for about 40,000 optimizer steps, between 20 and 200 (early stopping
  on the validation shoppers usually ends sooner); ``eval_every`` so that about 25
  evaluations fit, 1 to 5.
* ``hidden``: 64, 128 from 500,000 training events on catalogues up to 100,000 items.
* ``dropout``: 0.2 when items have 30 or more events on average, 0.3 from 10, 0.4 below
  (sparser data overfits sooner).
* ``loss``: the full softmax up to ``sampled_above`` items (50,000), sampled above; the
  choice and its reason are recorded with the model version (``loss_reason``).

``check_param_names`` refuses unknown parameter names with a "did you mean".
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

TARGET_STEPS_PER_EPOCH = 250
TARGET_TOTAL_STEPS = 40_000


@dataclass(frozen=True)
class DataShape:
    """What the defaults are derived from."""

    users: int
    items: int
    events: int  # tokens (after merging consecutive events on one item)
    median_length: float
    p90_length: float
    max_length: int
    repeat_rate: float  # share of events on an item the user already had (not just before)

    @property
    def events_per_user(self) -> float:
        return self.events / max(1, self.users)

    @property
    def events_per_item(self) -> float:
        return self.events / max(1, self.items)

    @classmethod
    def of(cls, sequences: Sequence, n_items: int) -> DataShape:
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        if not len(lengths):
            return cls(0, int(n_items), 0, 0.0, 0.0, 0, 0.0)
        return cls(
            users=int(len(lengths)),
            items=int(n_items),
            events=int(lengths.sum()),
            median_length=float(np.median(lengths)),
            p90_length=float(np.percentile(lengths, 90)),
            max_length=int(lengths.max()),
            repeat_rate=repeat_rate(sequences),
        )

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "events_per_user": round(self.events_per_user, 2),
            "events_per_item": round(self.events_per_item, 2),
        }

    def describe(self) -> str:
        return (
            f"{self.users:,} users, {self.items:,} items, {self.events:,} events (median {self.median_length:g}, "
            f"p90 {self.p90_length:g}, max {self.max_length} per user; {self.events_per_item:.1f} per item; "
            f"{100 * self.repeat_rate:.1f}% repeats)"
        )


def repeat_rate(sequences: Iterable, sample: int = 20_000) -> float:
    """Share of events on an item the same user already had (the first ``sample`` users)."""
    repeats = total = 0
    for i, seq in enumerate(sequences):
        if i >= sample:
            break
        n = len(seq)
        total += n
        repeats += n - len(np.unique(np.asarray(seq)))
    return repeats / total if total else 0.0


def exclude_seen_default(shape: DataShape) -> tuple[bool, str]:
    """Whether a full ranking should leave out the user's own history, and why.

    Data that never (or almost never: < 1 % of events) repeats an item of the same user
    cannot have a seen item as the next one: leaving them out is the honest ranking. Data
    with repeats (shoppers buy the same product again) keeps them.
    """
    if shape.repeat_rate < 0.01:
        return True, f"the data repeats items in {100 * shape.repeat_rate:.2f}% of events (< 1%): seen items excluded"
    return False, f"the data repeats items in {100 * shape.repeat_rate:.1f}% of events: seen items kept in the ranking"


def _power_of_two(x: float) -> int:
    return int(2 ** round(math.log2(max(1.0, x))))


def derive_params(shape: DataShape) -> dict:
    """Training parameters for data of this shape (see the module's docstring for the rules)."""
    maxlen = int(min(200, max(20, math.ceil(shape.p90_length / 10) * 10)))
    tokens = max(1, shape.events - shape.users)  # every position but the first is a target
    batch_tokens = int(min(16_384, max(2_048, _power_of_two(tokens / TARGET_STEPS_PER_EPOCH))))
    batch_tokens = max(batch_tokens, maxlen)
    lr = round(float(min(3e-3, max(1e-3, 2e-3 * math.sqrt(batch_tokens / 4096)))), 5)
    steps_per_epoch = max(1, math.ceil(tokens / batch_tokens))
    epochs = int(min(200, max(20, math.ceil(TARGET_TOTAL_STEPS / steps_per_epoch))))
    eval_every = int(min(5, max(1, epochs // 25)))
    hidden = 128 if shape.events >= 500_000 and shape.items <= 100_000 else 64
    per_item = shape.events_per_item
    dropout = 0.2 if per_item >= 30 else 0.3 if per_item >= 10 else 0.4
    long_windows = bool(shape.p90_length > maxlen)  # more than 10 % of the sequences are longer than maxlen
    return {
        "maxlen": maxlen,
        "batch_tokens": batch_tokens,
        "lr": lr,
        "epochs": epochs,
        "eval_every": eval_every,
        "hidden": hidden,
        "dropout": dropout,
        "long_windows": long_windows,
    }


def loss_choice(params: dict, n_items: int) -> tuple[str, str]:
    """``(loss, reason)``: ``"full"`` or ``"sampled"``, and why (for the logs and the model version)."""
    asked = str(params.get("loss", "auto"))
    if asked in ("full", "sampled"):
        return asked, f"loss={asked} was asked for"
    above = int(params.get("sampled_above", 50_000))
    if n_items > above:
        return "sampled", (
            f"sampled softmax ({params.get('negatives', 2048)} negatives): the catalogue's {n_items:,} "
            f"items are more than sampled_above={above:,}"
        )
    return "full", f"full softmax: the catalogue's {n_items:,} items are at most sampled_above={above:,}"


class UnknownParameter(ValueError):
    pass


def check_param_names(params: dict, known: Iterable[str], where: str = "parameter") -> None:
    """``UnknownParameter`` naming the first unknown key, with the closest known names."""
    known = sorted(set(known))
    for key in params:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=3, cutoff=0.6)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownParameter(f"Unknown {where} {key!r}.{hint} Known: {', '.join(known)}.")
