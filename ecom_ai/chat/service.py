"""The chat: ``ChatService().reply(conversation, text, user=request.user)``.

One shopper message in, one bot message out (or ``None`` while staff holds the
conversation). The message is redacted before it is stored; the intent classifier picks a
handler; every answer carries its sources (order, article, product):

* order status — only the shopper's own orders (through the adapter); an anonymous
  shopper proves ownership with order number *and* the order's e-mail address. A wrong
  guess gets the same answer whether the order exists or not; after
  ``CHAT_MAX_ORDER_LOOKUP_FAILURES`` failures the conversation stops looking orders up;
* returns, refunds, cancellation, shipping, payment — the closest knowledge-base article of
  the intent's topic;
* product questions — catalog search over the item texts;
* anything else or low confidence — a knowledge-base article if one is close enough,
  otherwise a hand-off to staff (``ecom_ai.signals.chat_handed_off``).
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from ecom_ai import signals
from ecom_ai.adapters import get_adapter
from ecom_ai.chat import lookup_limits, retrieval
from ecom_ai.chat.classifier import IntentClassifier, IntentPrediction, fit_intent_classifier
from ecom_ai.chat.encoders import configured_encoder_spec
from ecom_ai.chat.entities import extract_entities
from ecom_ai.chat.llm import phrase_answer
from ecom_ai.chat.redaction import redact
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.models import Conversation, Intent, Message
from ecom_ai.recommend.service import recommend  # the recommendation domain's documented service

logger = logging.getLogger(__name__)

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")  # lone surrogates cannot be stored (not valid UTF-8)

STATUS_WORDING = {
    "placed": "has been placed and is being prepared",
    "pending": "is pending",
    "paid": "is paid and being prepared for shipping",
    "processing": "is being prepared",
    "shipped": "has shipped",
    "delivered": "has been delivered",
    "cancelled": "has been cancelled",
    "canceled": "has been cancelled",
    "refunded": "has been refunded",
}

ORDER_INTENTS = {"order_status"}


class ChatInputError(ValueError):
    """The shopper's message is unusable (empty, too long...); the text says why."""


@dataclass
class Answer:
    text: str
    intent: str = ""
    confidence: float | None = None
    sources: list = field(default_factory=list)
    facts: list = field(default_factory=list)
    handoff: bool = False
    handoff_reason: str = ""


def clean_text(text) -> str:
    """Validate and normalise a message: a non-empty string within the length limit."""
    if not isinstance(text, str):
        raise ChatInputError("The message must be text.")
    text = _SURROGATE_RE.sub("\ufffd", _CONTROL_RE.sub(" ", text)).strip()
    if not text:
        raise ChatInputError("The message is empty.")
    limit = ecom_settings.CHAT_MAX_MESSAGE_LENGTH
    if len(text) > limit:
        raise ChatInputError(f"The message is too long ({len(text)} characters; at most {limit}).")
    return text


# --------------------------------------------------------------------------- classifier

_fallback_lock = threading.Lock()
_fallback: dict = {"signature": None, "classifier": None, "checked_at": 0.0}


def _examples_signature() -> tuple[str, list[str], list[str]]:
    from ecom_ai.chat.training import training_examples

    texts, labels = training_examples()
    digest = hashlib.sha1()
    digest.update(repr(configured_encoder_spec()).encode())
    for text, label in sorted(zip(texts, labels)):
        digest.update(f"{label}\x00{text}\x01".encode("utf-8"))
    return digest.hexdigest(), texts, labels


def fallback_classifier() -> IntentClassifier | None:
    """A classifier trained in this process on the current examples, while no version of
    kind ``intent`` is active in the registry (rechecked every ACTIVE_MODEL_CHECK_SECONDS)."""
    now = time.monotonic()
    interval = float(getattr(ecom_settings, "ACTIVE_MODEL_CHECK_SECONDS", 5))
    if _fallback["classifier"] is not None and now - _fallback["checked_at"] < interval:
        return _fallback["classifier"]
    with _fallback_lock:
        signature, texts, labels = _examples_signature()
        if signature != _fallback["signature"]:
            if len(set(labels)) < 2:
                _fallback.update(signature=signature, classifier=None)
            else:
                logger.info("Chat: no active intent model; training one in process on %d examples.", len(texts))
                _fallback.update(signature=signature, classifier=fit_intent_classifier(
                    texts, labels, encoder_spec=configured_encoder_spec()))
        _fallback["checked_at"] = now
        return _fallback["classifier"]


def install_fallback_classifier(classifier: IntentClassifier | None, signature: str | None = None) -> None:
    """Use ``classifier`` as the in-process fallback (tests, warm-up scripts)."""
    with _fallback_lock:
        _fallback.update(classifier=classifier, signature=signature, checked_at=time.monotonic() if classifier else 0.0)


def current_classifier() -> IntentClassifier | None:
    try:
        from ecom_ai.ml.registry import load_active

        active = load_active("intent")
    except Exception:  # registry not configured: the fallback still serves
        logger.exception("Chat: could not load the active intent model")
        active = None
    return active if active is not None else fallback_classifier()


# --------------------------------------------------------------------------- service

class ChatService:
    """Answers shoppers. ``classifier`` defaults to the registry's active ``intent`` model."""

    def __init__(self, classifier: IntentClassifier | None = None):
        self._classifier = classifier

    @property
    def classifier(self) -> IntentClassifier | None:
        return self._classifier or current_classifier()

    # --- conversations -----------------------------------------------------------------
    @staticmethod
    def start_conversation(*, visitor_key: str = "", user=None) -> Conversation:
        return Conversation.objects.create(visitor_key=visitor_key[:64], user_key=get_adapter().user_key(user))

    def reply(self, conversation: Conversation, text, *, user=None) -> Message | None:
        """Store the shopper's message and answer it; ``None`` while staff holds the chat.

        Raises ``ChatInputError`` for an unusable message (nothing is stored then).
        """
        text = clean_text(text)
        redaction = redact(text)
        stored_text = redaction.text
        user_key = get_adapter().user_key(user)
        use_llm = bool(ecom_settings.CHAT_LLM_BACKEND)
        # one transaction (one commit) per message; with an LLM, a second one after its reply so
        # that no transaction stays open while the LLM answers
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
            if user_key and not conversation.user_key:
                conversation.user_key = user_key
            if conversation.status != Conversation.STATUS_BOT:
                Message.objects.create(conversation=conversation, sender=Message.SENDER_SHOPPER, text=stored_text)
                Conversation.objects.filter(pk=conversation.pk).update(user_key=conversation.user_key,
                                                                        updated_at=timezone.now())
                return None  # staff holds the conversation (or it is closed): the bot stays quiet
            answer = self._safe_answer(conversation, stored_text, user)
            Message.objects.create(conversation=conversation, sender=Message.SENDER_SHOPPER, text=stored_text,
                                   intent=answer.intent, confidence=answer.confidence)
            if redaction.changed:
                answer.text = ("For your safety I removed payment or login details from your message — please "
                               "never share them in the chat.\n\n" + answer.text)
            Conversation.objects.filter(pk=conversation.pk).update(
                user_key=conversation.user_key, state=conversation.state, updated_at=timezone.now())
            if not use_llm:
                return self._store_answer(conversation, answer, answer.text, used_llm=False)
        text_out, used_llm = phrase_answer(question=stored_text, answer=answer.text, facts=answer.facts)
        with transaction.atomic():
            return self._store_answer(conversation, answer, text_out, used_llm=used_llm)

    def _safe_answer(self, conversation, text, user) -> Answer:
        try:
            with transaction.atomic():  # a savepoint: a failed query does not break the outer transaction
                return self.answer(conversation, text, user=user)
        except Exception as exc:  # a broken model or adapter must not leave the shopper without an answer
            logger.exception("Chat: answering a message of conversation %s failed", conversation.pk)
            return Answer("Sorry, something went wrong on our side. I've asked a member of our team to help; "
                          "they will reply here.", sources=[{"type": "handoff", "label": "customer service team"}],
                          handoff=True, handoff_reason=f"error: {type(exc).__name__}")

    def _store_answer(self, conversation, answer: Answer, text: str, *, used_llm: bool) -> Message:
        bot = Message.objects.create(
            conversation=conversation, sender=Message.SENDER_BOT, text=text, intent=answer.intent,
            confidence=answer.confidence, handed_off=answer.handoff,
            sources=answer.sources + ([{"type": "llm", "label": "phrased by a language model"}] if used_llm else []),
        )
        if answer.handoff:
            self.hand_off(conversation, answer.handoff_reason)
        return bot

    # --- answering ---------------------------------------------------------------------
    def answer(self, conversation: Conversation, text: str, *, user=None) -> Answer:
        """The grounded answer to ``text`` (already redacted) in ``conversation``."""
        classifier = self.classifier
        prediction = classifier.predict(text) if classifier is not None else None
        intent_name = prediction.intent if prediction else ""
        confidence = prediction.confidence if prediction else None
        state = conversation.state if isinstance(conversation.state, dict) else {}
        conversation.state = state
        entities = extract_entities(text, product_titles=retrieval.product_titles())
        intent = Intent.objects.filter(name=intent_name, enabled=True).first() if intent_name else None

        # an order number / e-mail following the bot's question, or an order question
        pending_order = state.get("pending") == "order_status"
        guess = Intent.objects.filter(name=prediction.best_guess).first() if (prediction and intent is None) else None
        if (intent is not None and intent.handler == Intent.HANDLER_ORDER_STATUS) or (
            # "order 4F3A2B9C1D" alone: unsure intent, but clearly about an order
            intent is None and entities.order_numbers and guess is not None
            and guess.handler == Intent.HANDLER_ORDER_STATUS
        ) or (
            pending_order and (entities.order_numbers or entities.emails)
            and (intent is None or intent.handler in (Intent.HANDLER_ORDER_STATUS, Intent.HANDLER_TEMPLATE))
        ):
            answer = self.order_answer(conversation, entities, user=user)
        else:
            state.pop("pending", None)
            if intent is None:
                answer = self.fallback_answer(prediction, text)
            elif intent.handler == Intent.HANDLER_KNOWLEDGE:
                answer = self.knowledge_answer(intent, prediction, text)
            elif intent.handler == Intent.HANDLER_PRODUCT:
                answer = self.product_answer(intent, prediction, text, entities, conversation=conversation, user=user)
            elif intent.handler == Intent.HANDLER_HANDOFF:
                answer = Answer(
                    intent.answer_template or "I'm passing this conversation to a member of our team; "
                                              "they will answer here shortly.",
                    sources=[{"type": "handoff", "label": "customer service team"}],
                    handoff=True, handoff_reason=f"intent {intent.name}",
                )
            else:
                answer = Answer(intent.answer_template or intent.description or intent.name,
                                sources=[{"type": "intent", "label": intent.name}])
        answer.intent = answer.intent or intent_name
        answer.confidence = confidence
        return answer

    def fallback_answer(self, prediction: IntentPrediction | None, text: str) -> Answer:
        """Out of scope / low confidence: a close knowledge-base article, else hand-off."""
        if prediction is not None:
            matches = retrieval.knowledge_matches(prediction.vector, self.classifier.encoder, limit=1)
            if matches and matches[0].score >= ecom_settings.CHAT_KB_MIN_SIMILARITY:
                return self._article_answer(matches[0])
        return Answer(
            "I'm not sure I can answer that, so I've asked a member of our team to help; they will reply here.",
            sources=[{"type": "handoff", "label": "customer service team"}],
            handoff=True, handoff_reason="no confident answer",
        )

    def _article_answer(self, match, intro: str = "") -> Answer:
        source = {"type": "article", "id": match.article_id, "label": match.title}
        if match.url:
            source["url"] = match.url
        text = f"{intro}\n\n{match.body}" if intro else match.body
        return Answer(text.strip(), sources=[source],
                      facts=[{"article": match.title, "text": match.body}])

    def knowledge_answer(self, intent: Intent, prediction: IntentPrediction, text: str) -> Answer:
        encoder = self.classifier.encoder
        matches = retrieval.knowledge_matches(prediction.vector, encoder, topic=intent.topic or None, limit=1)
        if not matches:  # nothing in the intent's topic: any close article
            matches = [m for m in retrieval.knowledge_matches(prediction.vector, encoder, limit=1)
                       if m.score >= ecom_settings.CHAT_KB_MIN_SIMILARITY]
        if matches:
            return self._article_answer(matches[0], intent.answer_template)
        return Answer(
            "I don't have that information at hand, so I've asked a member of our team; they will reply here.",
            sources=[{"type": "handoff", "label": "customer service team"}],
            handoff=True, handoff_reason=f"no knowledge-base article for {intent.name}",
        )

    def product_answer(self, intent: Intent, prediction: IntentPrediction, text: str, entities, *,
                       conversation: Conversation | None = None, user=None) -> Answer:
        matches = retrieval.catalog_matches(
            text, prediction.vector, self.classifier.encoder, mentioned_keys=entities.product_keys,
            limit=3, min_score=ecom_settings.CHAT_PRODUCT_MIN_SIMILARITY,
        )
        if not matches:
            return Answer("I couldn't find a product matching that in our catalog. Could you describe it "
                          "differently, or ask for a member of our team?",
                          sources=[{"type": "catalog", "label": "catalog search"}])
        lines, sources, facts = [], [], []
        for match in matches:
            price = f" — {match.price} {ecom_settings.DEFAULT_CURRENCY}" if match.price is not None else ""
            stock = "in stock" if match.in_stock else "out of stock"
            lines.append(f"• {match.title}{price} ({stock})")
            source = {"type": "product", "key": match.key, "label": match.title}
            if match.url:
                source["url"] = match.url
            sources.append(source)
            facts.append({"product": match.title, "price": str(match.price) if match.price is not None else None,
                          "in_stock": match.in_stock})
        intro = intent.answer_template or "Here is what I found in our catalog:"
        text_out = intro + "\n" + "\n".join(lines)
        extra = self._recommendations(matches[0].key, [m.key for m in matches], conversation, user)
        if extra:
            text_out += "\nCustomers also liked: " + ", ".join(title for _, title, _ in extra) + "."
            for key, title, rec_id in extra:
                sources.append({"type": "recommendation", "key": key, "label": title, "list": rec_id})
                facts.append({"also_liked": title})
        return Answer(text_out, sources=sources, facts=facts)

    @staticmethod
    def _recommendations(anchor_key: str, exclude: list[str], conversation, user, limit: int = 2):
        """``[(key, title, list id)]`` from the recommendation service's "product" placement
        for the found item; empty when it fails or has nothing."""
        from ecom_ai.models import Item

        who = {"visitor_key": getattr(conversation, "visitor_key", ""), "user_key": get_adapter().user_key(user),
               "channel": "web"}
        try:
            result = recommend(who, "product", item=anchor_key, limit=limit, exclude=exclude)
        except Exception:  # recommendations are a bonus: never break the answer
            logger.warning("Chat: recommendations failed", exc_info=True)
            return []
        keys = [entry[0] for entry in result.items][:limit]
        titles = dict(Item.objects.filter(key__in=keys, is_active=True).values_list("key", "title"))
        return [(key, titles[key], str(result.id)) for key in keys if key in titles]

    # --- orders ------------------------------------------------------------------------
    def order_answer(self, conversation: Conversation, entities, *, user=None) -> Answer:
        adapter = get_adapter()
        state = conversation.state
        user_key = adapter.user_key(user)
        failures = int(state.get("order_failures", 0))
        if failures >= ecom_settings.CHAT_MAX_ORDER_LOOKUP_FAILURES:
            state.pop("pending", None)
            return Answer("For your security I can't look up more orders in this conversation. I've asked a "
                          "member of our team to help you.",
                          sources=[{"type": "handoff", "label": "customer service team"}], intent="order_status",
                          handoff=True, handoff_reason="too many failed order look-ups")
        number = entities.order_number or state.get("order_number", "")
        email = entities.email or state.get("order_email", "")

        if not number and user_key:
            records = [adapter.order_record(order) for order in list(adapter.user_orders(user_key)[:3])]
            state.pop("pending", None)
            if not records:
                return Answer("I can't find any orders on your account. If you ordered as a guest, tell me the "
                              "order number and the e-mail address you used.",
                              sources=[{"type": "account", "label": "your orders"}], intent="order_status")
            return self._orders_answer(records, intro="Your most recent orders:")

        if not number or (not user_key and not email):
            state["pending"] = "order_status"
            if number:
                state["order_number"] = number
            if email:
                state["order_email"] = email
            if not number and not email:
                ask = "the order number and the e-mail address you used for the order"
            elif not number:
                ask = "the order number"
            else:
                ask = "the e-mail address you used for the order"
            return Answer(f"I can check that for you. Please tell me {ask}.",
                          sources=[{"type": "order_lookup", "label": "order look-up"}], intent="order_status")

        record = self._find_order_record(number)
        blocked = lookup_limits.is_blocked(number)  # per IP and per order number, across sessions
        allowed = record is not None and (
            (user_key and record.user_key == user_key)
            or (not blocked and email and record.email and record.email.strip().lower() == email.strip().lower())
        )
        state.pop("order_number", None)
        state.pop("order_email", None)
        state.pop("pending", None)
        if not allowed:
            state["order_failures"] = failures + 1
            lookup_limits.record_failure(number)
            if user_key:
                text = ("I couldn't find that order on your account. Please check the number; if you ordered as "
                        "a guest, also tell me the e-mail address used for the order.")
            else:
                text = ("I couldn't find an order with that number and e-mail address. Please check both and "
                        "try again.")
            return Answer(text, sources=[{"type": "order_lookup", "label": "order look-up"}], intent="order_status")
        return self._orders_answer([record])

    @staticmethod
    def _find_order_record(number: str):
        adapter = get_adapter()
        for candidate in dict.fromkeys((number, number.upper(), number.lstrip("#"))):
            order = adapter.find_order(candidate)
            if order is not None:
                return adapter.order_record(order)
        return None

    @staticmethod
    def _orders_answer(records, intro: str = "") -> Answer:
        lines, sources, facts = [], [], []
        for record in records:
            wording = STATUS_WORDING.get(record.status.lower(), f"has the status “{record.status}”")
            line = f"Order {record.number} {wording}."
            if record.created_at:
                line += f" Placed on {record.created_at:%Y-%m-%d}."
            if record.total is not None:
                line += f" Total: {record.total} {record.currency}."
            tracking = str((record.extra or {}).get("tracking_number") or "")
            if tracking:
                line += f" Tracking number: {tracking}."
            lines.append(line)
            sources.append({"type": "order", "number": record.number, "label": f"Order {record.number}"})
            facts.append({"order": record.number, "status": record.status, "tracking_number": tracking or None,
                          "placed": f"{record.created_at:%Y-%m-%d}" if record.created_at else None,
                          "total": str(record.total) if record.total is not None else None,
                          "currency": record.currency})
        text = "\n".join(([intro] if intro else []) + lines)
        return Answer(text, sources=sources, facts=facts, intent="order_status")

    # --- staff -------------------------------------------------------------------------
    @staticmethod
    def hand_off(conversation: Conversation, reason: str = "") -> None:
        updated = Conversation.objects.filter(pk=conversation.pk, status=Conversation.STATUS_BOT).update(
            status=Conversation.STATUS_HANDED_OFF, handoff_reason=reason[:200], handed_off_at=timezone.now(),
            updated_at=timezone.now())
        conversation.refresh_from_db()
        if updated:  # after commit: receivers (notifications...) see the stored conversation
            transaction.on_commit(lambda: signals.chat_handed_off.send(sender=Conversation, conversation=conversation),
                                  robust=True)

    @staticmethod
    def staff_reply(conversation: Conversation, staff_user, text) -> Message:
        """A staff member answers; the conversation stays with staff (the bot is quiet)."""
        text = redact(clean_text(text)).text
        with transaction.atomic():
            message = Message.objects.create(conversation=conversation, sender=Message.SENDER_STAFF, text=text,
                                             staff_user=staff_user)
            changes = {"status": Conversation.STATUS_HANDED_OFF, "updated_at": timezone.now()}
            if conversation.assigned_to_id is None:
                changes["assigned_to"] = staff_user
            if conversation.handed_off_at is None:
                changes["handed_off_at"] = timezone.now()
            Conversation.objects.filter(pk=conversation.pk).update(**changes)
        conversation.refresh_from_db()
        return message

    @staticmethod
    def take_over(conversation: Conversation, staff_user) -> None:
        Conversation.objects.filter(pk=conversation.pk).update(
            status=Conversation.STATUS_HANDED_OFF, assigned_to=staff_user,
            handed_off_at=conversation.handed_off_at or timezone.now(), updated_at=timezone.now())
        conversation.refresh_from_db()

    @staticmethod
    def return_to_bot(conversation: Conversation) -> None:
        Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.STATUS_BOT, updated_at=timezone.now())
        conversation.refresh_from_db()

    @staticmethod
    def close(conversation: Conversation) -> None:
        Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.STATUS_CLOSED, updated_at=timezone.now())
        conversation.refresh_from_db()
