"""Item text embeddings: ``Item.embedding`` computed with the configured text encoder.

The recommender (and anything else reading item vectors) uses a stored embedding when its
``embedding_model`` names the current encoder, and encodes on the fly otherwise; the
``embed_items`` task fills them in ahead of time so training does not have to.
"""

from __future__ import annotations

import numpy as np
from django.db.models import Q

from ecom_ai.ml.text import get_text_encoder


def item_text(title: str, text: str) -> str:
    """The text an item is embedded from (also used by the recommender's features)."""
    return f"{title}. {text}"[:2000]


def embed_catalog(keys=None, force: bool = False, batch_size: int = 256) -> tuple[int, str]:
    """Embed items that need it; returns ``(how many were written, encoder name)``."""
    from ecom_ai.models import Item

    encoder = get_text_encoder()
    query = Item.objects.all()
    if keys is not None:
        query = query.filter(key__in=[str(k) for k in keys])
    if not force:
        query = query.filter(Q(embedding__isnull=True) | ~Q(embedding_model=encoder.name))
    written = 0
    pks = list(query.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(pks), batch_size):
        items = list(Item.objects.filter(pk__in=pks[start : start + batch_size]).only("pk", "title", "text"))
        vectors = encoder.encode([item_text(item.title, item.text) for item in items])
        for item, vector in zip(items, vectors):
            item.embedding = np.asarray(vector, dtype=np.float32).tobytes()
            item.embedding_model = encoder.name
        Item.objects.bulk_update(items, ["embedding", "embedding_model"])
        written += len(items)
    return written, encoder.name
