"""From the event log to training sequences for the sequential recommender.

* One sequence per shopper: the ``user_key`` when the event has one, otherwise the
  visitor (``"v:" + visitor_key``), ordered by ``occurred_at`` (then id).
* Only event types with a positive weight in ``ECOM_AI["RECOMMEND_EVENT_WEIGHTS"]`` count
  (impressions, searches, page views... are left out); the weight orders the types
  (``view`` < ``add_to_cart`` < ``purchase``) and weights the training loss of a target.
* Consecutive events on the same item become one token with the strongest type (view →
  add to cart → purchase of one product is one step of the sequence, not three).
* Items: every item seen in the events, plus every active catalogue item (``Item``) so that
  new products without events yet get a (content-only) vector.

``leave_last_out`` holds out the last token of every sequence (with at least
``min_length`` tokens): the evaluation gate scores the model on those held-out, later events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.utils import timezone

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.recommend.sasrec import ItemFeatures, SequenceData


@dataclass
class EventSequences:
    """Sequences with their vocabularies; codes are 1-based (0 = padding/unknown)."""

    item_keys: list
    event_types: list  # weakest first
    channels: list
    data: SequenceData
    shoppers: list = field(default_factory=list)
    n_events: int = 0
    skipped_events: int = 0  # events with neither a user nor a visitor key
    data_start: object = None
    data_end: object = None

    @property
    def n_items(self) -> int:
        return len(self.item_keys)


def event_weights() -> dict:
    """``{event type: weight}`` of the types used for training, weakest first."""
    weights = {str(k): float(v) for k, v in ecom_settings.RECOMMEND_EVENT_WEIGHTS.items() if float(v) > 0}
    return dict(sorted(weights.items(), key=lambda kv: (kv[1], kv[0])))


def load_event_sequences(
    *, since=None, max_events: int | None = None, item_keys=None, event_types=None, channels=None, catalog: bool = True
) -> EventSequences:
    """Read the event log into sequences.

    ``item_keys``/``event_types``/``channels``: vocabularies to extend (a refresh keeps the
    active model's codes and appends new ones). ``max_events`` keeps the newest events only.
    """
    from ecom_ai.models import Event, Item

    weights = event_weights()
    types = list(event_types or [])
    for name in weights:
        if name not in types:
            types.append(name)
    type_code = {name: i + 1 for i, name in enumerate(types)}
    # a type's strength is its weight (types of an old vocabulary no longer weighted rank lowest)
    strength = {type_code[name]: weights.get(name, 0.0) for name in types}
    chans = list(channels or [])
    chan_code = {name: i + 1 for i, name in enumerate(chans)}
    keys = list(item_keys or [])
    key_code = {key: i + 1 for i, key in enumerate(keys)}

    query = Event.objects.filter(event_type__in=list(weights)).exclude(item_key="")
    if since is not None:
        query = query.filter(occurred_at__gte=since)
    if max_events:
        newest = list(query.order_by("-occurred_at", "-pk").values_list("pk", flat=True)[max_events - 1 : max_events])
        if newest:
            cutoff = query.filter(pk=newest[0]).values_list("occurred_at", flat=True).first()
            query = query.filter(occurred_at__gte=cutoff)
    rows = query.order_by("occurred_at", "pk").values_list(
        "user_key", "visitor_key", "item_key", "event_type", "channel", "occurred_at"
    )
    per_shopper: dict[str, list] = {}
    n_events, skipped, first, last = 0, 0, None, None
    for user_key, visitor_key, item_key, event_type, channel, occurred_at in rows.iterator(chunk_size=5000):
        shopper = user_key or (f"v:{visitor_key}" if visitor_key else "")
        if not shopper:
            skipped += 1
            continue
        code = key_code.get(item_key)
        if code is None:
            keys.append(item_key)
            code = key_code[item_key] = len(keys)
        ch = chan_code.get(channel)
        if ch is None:
            chans.append(channel)
            ch = chan_code[channel] = len(chans)
        per_shopper.setdefault(shopper, []).append((code, type_code[event_type], ch))
        n_events += 1
        first = first or occurred_at
        last = occurred_at
    if catalog:
        for key in Item.objects.filter(is_active=True).order_by("key").values_list("key", flat=True).iterator():
            if key not in key_code:
                keys.append(key)
                key_code[key] = len(keys)
    shoppers, items, events, chs = [], [], [], []
    for shopper, tokens in per_shopper.items():
        merged = []
        for token in tokens:  # collapse by strength, not code order
            if merged and merged[-1][0] == token[0]:
                if strength[token[1]] > strength[merged[-1][1]]:
                    merged[-1] = token
            else:
                merged.append(token)
        shoppers.append(shopper)
        arr = np.asarray(merged, dtype=np.int64).reshape(-1, 3)
        items.append(arr[:, 0].copy())
        events.append(arr[:, 1].copy())
        chs.append(arr[:, 2].copy())
    return EventSequences(
        item_keys=keys,
        event_types=types,
        channels=chans,
        data=SequenceData(items, events, chs),
        shoppers=shoppers,
        n_events=n_events,
        skipped_events=skipped,
        data_start=first,
        data_end=last,
    )


def training_window_start():
    days = ecom_settings.RECOMMENDER_TRAINING_WINDOW_DAYS
    return timezone.now() - timedelta(days=days) if days else None


@dataclass
class Holdout:
    train: SequenceData  # every sequence, minus the held-out last token where there is one
    inputs: SequenceData  # the histories of the evaluation cases
    targets: np.ndarray  # the held-out item codes


def leave_last_out(data: SequenceData, min_length: int = 3, max_cases: int | None = None, seed: int = 0) -> Holdout:
    """Hold out the last token of sequences with ``min_length`` tokens or more.

    With ``max_cases``, that many of them are drawn (seeded) and only those lose their last
    token: every other shopper's whole sequence is training data.
    """
    cases = [u for u, seq in enumerate(data.items) if len(seq) >= min_length]
    if max_cases and len(cases) > max_cases:
        rng = np.random.default_rng(seed)
        cases = sorted(rng.choice(cases, max_cases, replace=False).tolist())
    held = set(cases)
    train_items, train_events, train_channels = [], [], []
    for u, seq in enumerate(data.items):
        cut = len(seq) - 1 if u in held else len(seq)
        train_items.append(seq[:cut])
        train_events.append(data.events[u][:cut])
        train_channels.append(data.channels[u][:cut])
    inputs = SequenceData(
        [train_items[u] for u in cases], [train_events[u] for u in cases], [train_channels[u] for u in cases]
    )
    targets = np.array([data.items[u][-1] for u in cases], dtype=np.int64)
    return Holdout(SequenceData(train_items, train_events, train_channels), inputs, targets)


def catalog_features(item_keys, encoder=None, old: ItemFeatures | None = None, old_categories=None):
    """Text vectors and category codes of ``item_keys`` from the ``Item`` mirror.

    Uses ``Item.embedding`` when it was computed by the same encoder (``embed_items``),
    encodes title + text otherwise. Returns ``(ItemFeatures, categories, encoder name)``.
    """
    from ecom_ai.ml.text import get_text_encoder
    from ecom_ai.models import Item
    from ecom_ai.recommend.embeddings import item_text

    encoder = encoder or get_text_encoder()
    rows = {
        key: (title, text, category, embedding, model)
        for key, title, text, category, embedding, model in Item.objects.filter(key__in=list(item_keys))
        .values_list("key", "title", "text", "category", "embedding", "embedding_model")
        .iterator(chunk_size=2000)
    }
    dim = int(encoder.dim)
    vectors = np.zeros((len(item_keys) + 1, dim), dtype=np.float32)
    categories = list(old_categories or [])
    cat_code = {name: i + 1 for i, name in enumerate(categories)}
    codes = np.zeros(len(item_keys) + 1, dtype=np.int64)
    to_encode = []
    for i, key in enumerate(item_keys, start=1):
        row = rows.get(key)
        if row is None:
            continue
        title, text, category, embedding, model = row
        stored = np.frombuffer(bytes(embedding), dtype=np.float32) if embedding else None
        if stored is not None and model == encoder.name and stored.shape == (dim,):
            vectors[i] = stored
        elif title or text:
            to_encode.append((i, item_text(title, text)))
        if category:
            if category not in cat_code:
                categories.append(category)
                cat_code[category] = len(categories)
            codes[i] = cat_code[category]
    for start in range(0, len(to_encode), 512):
        chunk = to_encode[start : start + 512]
        encoded = encoder.encode([text for _, text in chunk])
        for (i, _), vector in zip(chunk, encoded):
            vectors[i] = vector
    return ItemFeatures(text=vectors, category=codes, n_categories=len(categories)), categories, encoder.name
