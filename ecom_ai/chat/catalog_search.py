"""The chat's catalog search: ``search(text, language=None, limit=3)`` -> ``SearchResult``.

A thin wrapper over ``ecom_ai.catalog.search`` (the shop's own search view can call that
directly) that embeds with the chat's encoder — its sentence half when the chat uses a
hybrid encoder, so that a Chinese query finds an English item — and answers "customers also
liked" only from items related to the results (bought together, same category).
``SearchResult.items``/``.related`` are ``SearchHit`` (key, title, price, in_stock, url,
category, score); ``.price_range`` is the parsed price limit (``None`` when the message
names none), already applied to both lists.
"""

from __future__ import annotations

import numpy as np

from ecom_ai.catalog.search import PriceRange, SearchHit, SearchResult, parse_query
from ecom_ai.catalog.search import search as catalog_search

__all__ = ["PriceRange", "SearchHit", "SearchResult", "parse_query", "search", "search_encoder"]


def search_encoder(encoder=None):
    """The encoder catalog search embeds with: the sentence model of a hybrid encoder, else
    the given encoder, else the chat's configured one (``None`` when none loads)."""
    if encoder is None:
        from ecom_ai.chat.encoders import configured_encoder_spec, encoder_from_spec

        try:
            encoder = encoder_from_spec(configured_encoder_spec())
        except Exception:  # no encoder: words only
            return None
    return getattr(encoder, "sentence", None) or encoder


def search(
    text: str,
    language: str | None = None,
    limit: int = 3,
    *,
    encoder=None,
    vector: np.ndarray | None = None,
    related_limit: int = 2,
) -> SearchResult:
    """Catalog items for a shopper's message (price limits applied strictly).

    ``encoder``: the chat's encoder (default: the configured one); ``vector``: the message's
    embedding by that same encoder when the caller has it (used only when the search
    embeds with that encoder, i.e. not a hybrid one).
    """
    from ecom_ai.conf import settings as ecom_settings

    chosen = search_encoder(encoder)
    if vector is not None and chosen is not encoder:
        vector = None
    synonyms = getattr(ecom_settings, "CATALOG_SEARCH_SYNONYMS", None) or None
    return catalog_search(
        text,
        encoder=chosen,
        vector=vector,
        language=language,
        limit=limit,
        related_limit=related_limit,
        synonyms=synonyms,
    )


def describe_hit(hit: SearchHit, currency: str, language: str = "en") -> str:
    price = f" — {hit.price} {currency}" if hit.price is not None else ""
    if language.startswith("zh"):
        return f"• {hit.title}{price}（{'有货' if hit.in_stock else '缺货'}）"
    return f"• {hit.title}{price} ({'in stock' if hit.in_stock else 'out of stock'})"


def answer_parts(result: SearchResult, *, currency: str = "", intro: str = "") -> tuple[str, list, list]:
    """``(text, sources, facts)`` of a catalog answer in the query's language: the found items,
    the price limit applied, and "customers also liked" from related items only. When the
    price limit left nothing, says so and names the closest item outside it."""
    zh = result.language.startswith("zh")
    limit = result.price_range.describe(result.language, currency) if result.price_range else ""
    sources: list = []
    facts: list = []
    if not result.items:
        if result.cheapest_excluded is not None:
            hit = result.cheapest_excluded
            text = (
                f"没有找到{limit}的相关商品。最接近的是：\n"
                if zh
                else f"I couldn't find a matching product {limit} in our catalog. The closest is:\n"
            )
            text += describe_hit(hit, currency, result.language)
            sources.append(_source(hit))
            facts.append(
                {"product": hit.title, "price": _price(hit), "in_stock": hit.in_stock, "outside_price_limit": limit}
            )
        else:
            text = (
                "抱歉，我们的商品目录里没有找到符合的商品。可以换个说法描述一下吗？"
                if zh
                else "I couldn't find a product matching that in our catalog. Could you describe it differently, "
                "or ask for a member of our team?"
            )
            sources.append({"type": "catalog", "label": "catalog search"})
        if limit:
            facts.append({"price_limit": limit})
        return text, sources, facts
    if not intro:
        intro = "我们的商品目录里找到了这些" if zh else "Here is what I found in our catalog"
        if limit:
            intro += f"（{limit}）" if zh else f" ({limit})"
        intro += "：" if zh else ":"
    lines = [intro]
    for hit in result.items:
        lines.append(describe_hit(hit, currency, result.language))
        sources.append(_source(hit))
        facts.append({"product": hit.title, "price": _price(hit), "in_stock": hit.in_stock})
    if limit:
        facts.append({"price_limit": limit})
    if result.related:
        titles = ("、" if zh else ", ").join(hit.title for hit in result.related)
        lines.append(f"顾客还喜欢：{titles}。" if zh else f"Customers also liked: {titles}.")
        for hit in result.related:
            source = _source(hit)
            source.update(type="recommendation", reason=hit.reason)
            sources.append(source)
            facts.append({"also_liked": hit.title, "reason": hit.reason})
    return "\n".join(lines), sources, facts


def _price(hit: SearchHit):
    return str(hit.price) if hit.price is not None else None


def _source(hit: SearchHit) -> dict:
    source = {"type": "product", "key": hit.key, "label": hit.title}
    if hit.url:
        source["url"] = hit.url
    return source
