"""The default intent pack (``data/default_pack.json``): e-commerce intents with English and
Chinese examples, plus sample knowledge-base articles.

``load_pack()`` is idempotent: intents are created when missing (an existing intent keeps
the staff's edits, missing examples are added; ``intent_translations`` add the answer
templates' translations an intent lacks); articles are loaded only on request
(``articles=True``) and only when no article with the same title exists, each with its
``translations`` (one article per language, ``translation_of`` the original) — they are
samples to edit, not the shop's real policies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

DEFAULT_PACK = Path(__file__).with_name("data") / "default_pack.json"


@dataclass
class PackResult:
    intents_created: int = 0
    examples_created: int = 0
    articles_created: int = 0


def read_pack(path=None) -> dict:
    with open(path or DEFAULT_PACK, encoding="utf-8") as fh:
        return json.load(fh)


@transaction.atomic
def load_pack(path=None, *, articles: bool = False) -> PackResult:
    from ecom_ai.models import Intent, IntentExample, KnowledgeArticle

    data = read_pack(path)
    result = PackResult()
    handlers = {choice for choice, _ in Intent.HANDLER_CHOICES}
    for spec in data.get("intents", []):
        if spec.get("handler", "template") not in handlers:
            raise ValueError(f"intent {spec.get('name')!r}: unknown handler {spec.get('handler')!r}")
        intent, created = Intent.objects.get_or_create(
            name=spec["name"],
            defaults={
                "description": spec.get("description", ""),
                "handler": spec.get("handler", "template"),
                "topic": spec.get("topic", ""),
                "answer_template": spec.get("answer_template", ""),
            },
        )
        result.intents_created += int(created)
        existing = set(intent.examples.values_list("text", flat=True))
        new = [
            IntentExample(intent=intent, text=text, language=language)
            for language, texts in spec.get("examples", {}).items()
            for text in texts
            if text not in existing
        ]
        IntentExample.objects.bulk_create(new)
        result.examples_created += len(new)
    for name, by_language in (data.get("intent_translations") or {}).items():
        intent = Intent.objects.filter(name=name).first()
        if intent is None or not isinstance(by_language, dict):
            continue
        current = intent.translations if isinstance(intent.translations, dict) else {}
        missing = {code: text for code, text in by_language.items() if code not in current and isinstance(text, str)}
        if missing:  # the staff's own translations are kept
            intent.translations = {**current, **missing}
            intent.save(update_fields=["translations", "updated_at"])
    if articles:
        titles = set(KnowledgeArticle.objects.values_list("title", flat=True))
        for spec in data.get("articles", []):
            article = KnowledgeArticle.objects.filter(title=spec["title"], translation_of=None).first()
            if article is None and spec["title"] not in titles:
                article = KnowledgeArticle.objects.create(
                    title=spec["title"],
                    body=spec["body"],
                    topic=spec.get("topic", "other"),
                    questions=spec.get("questions", ""),
                    url=spec.get("url", ""),
                    language=spec.get("language", ""),
                )
                result.articles_created += 1
            if article is None:
                continue
            for code, translation in (spec.get("translations") or {}).items():
                if article.translations.filter(language=code).exists() or translation["title"] in titles:
                    continue
                KnowledgeArticle.objects.create(
                    title=translation["title"],
                    body=translation["body"],
                    topic=article.topic,
                    questions=translation.get("questions", ""),
                    url=translation.get("url", article.url),
                    language=code,
                    translation_of=article,
                )
                result.articles_created += 1
    return result


def ensure_default_pack() -> bool:
    """Load the default intents when the shop has none yet; True when it loaded them."""
    from ecom_ai.models import Intent

    if Intent.objects.exists():
        return False
    load_pack()
    return True
