"""The chat: ``ChatService().reply(conversation, text, user=request.user)``.

One shopper message in, one bot message out — always, unless a member of staff holds the
conversation (then ``None``). The message is redacted before it is stored; its language is
detected (``language.py``) and the answer is given in it. Every answer carries its sources
(order, article, product) and may offer buttons (``suggestions``).

How the answer is chosen (docs/chat.md, "How a message is answered"):

1. a button the bot offered in its previous answer answers exactly what it said;
2. entities decide first: an order number (or the order details the bot asked for) goes to
   the order look-up, unless the classifier is sure the message is about a knowledge topic
   ("cancel order 5521" is a cancellation question); a product title or a price limit goes to
   the catalog search;
3. everything else is ranked together (``ranker.py``): knowledge-base articles, intent handlers
   (order status, catalog search, hand-off, small talk) — the best answer wins, two close
   answers make a clarifying question with buttons;
4. nothing close enough: the off-topic answer with suggestions (not a hand-off). Hand-off
   happens on an explicit request or after ``CHAT_HANDOFF_AFTER_MISSES`` misses in a row.

Orders: a logged-in shopper sees only their own orders; the number + e-mail look-up is for
anonymous shoppers (limited per conversation, and per IP / per order number through
``lookup_limits`` when that module is installed).

While a hand-off waits for staff the bot keeps answering, with a notice; once staff took
over or replied the bot is quiet; without staff action for ``CHAT_HANDOFF_EXPIRY_MINUTES``
the conversation returns to the bot.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ecom_ai import signals
from ecom_ai.adapters import get_adapter
from ecom_ai.catalog.search import parse_price
from ecom_ai.chat import catalog_search, phrases, ranker, retrieval
from ecom_ai.chat.classifier import IntentClassifier, IntentPrediction, fit_intent_classifier
from ecom_ai.chat.encoders import configured_encoder_spec
from ecom_ai.chat.entities import extract_entities
from ecom_ai.chat.language import answer_language, default_language, detect_language, normalise_code
from ecom_ai.chat.llm import phrase_answer
from ecom_ai.chat.redaction import redact
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.models import Conversation, Intent, Message

try:  # per-IP / per-order-number failure limits (issue 12b); optional
    from ecom_ai.chat import lookup_limits  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the installed version
    lookup_limits = None

logger = logging.getLogger(__name__)

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")  # lone surrogates cannot be stored (not valid UTF-8)

HANDOFF_SOURCE = {"type": "handoff", "label": "customer service team"}
# a message nothing else answers is a catalog question when an item has this share of its words
CATALOG_FALLBACK_RELEVANCE = 0.6


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
    suggestions: list = field(default_factory=list)  # button labels
    language: str = ""
    miss: bool = False  # the bot had no answer (off-topic / unknown)
    offered: dict = field(default_factory=dict)  # button label (lower case) -> what it answers


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


def _button_key(text: str) -> str:
    return " ".join((text or "").lower().split()).strip(" ?？!！.。")


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
                _fallback.update(
                    signature=signature,
                    classifier=fit_intent_classifier(texts, labels, encoder_spec=configured_encoder_spec()),
                )
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


@dataclass
class Turn:
    """What is known about one shopper message while answering it."""

    conversation: Conversation
    text: str
    user: object
    language: str
    prediction: IntentPrediction | None
    intents: dict
    entities: object
    waiting: bool = False  # handed off, waiting for staff: no second hand-off, a notice instead
    client_ip: str = ""

    @property
    def state(self) -> dict:
        return self.conversation.state

    @property
    def guess(self) -> Intent | None:
        """The classifier's top intent when it is in scope (probability and similarity high enough)."""
        if self.prediction is None or not self.prediction.intent:
            return None
        return self.intents.get(self.prediction.intent)

    @property
    def confidence(self) -> float:
        return self.prediction.confidence if self.prediction is not None else 0.0


def staff_holds(conversation: Conversation) -> bool:
    """Staff took over or replied since the (latest) hand-off: the bot is quiet."""
    return (
        conversation.status == Conversation.STATUS_HANDED_OFF
        and conversation.staff_active_at is not None
        and (conversation.handed_off_at is None or conversation.staff_active_at >= conversation.handed_off_at)
    )


def handoff_expired(conversation: Conversation, now=None) -> bool:
    """Handed off, and no staff action for ``CHAT_HANDOFF_EXPIRY_MINUTES`` since the hand-off."""
    if conversation.status != Conversation.STATUS_HANDED_OFF:
        return False
    moments = [t for t in (conversation.handed_off_at, conversation.staff_active_at) if t is not None]
    if not moments:
        return False
    expiry = timedelta(minutes=float(ecom_settings.CHAT_HANDOFF_EXPIRY_MINUTES))
    return (now or timezone.now()) - max(moments) > expiry


_article_intents_lock = threading.Lock()
_article_intents: dict = {"key": None, "map": {}}


def article_intents(classifier: IntentClassifier) -> dict[int, str]:
    """``{article root id: intent name}``: which intent each published article answers — the
    intent its title and question variants (all languages) are classified as, by votes weighted
    with the probability. Cached until the knowledge base or the classifier changes."""
    snapshot, articles = retrieval.knowledge_snapshot()
    key = (snapshot, id(classifier))
    if _article_intents["key"] == key:
        return _article_intents["map"]
    with _article_intents_lock:
        if _article_intents["key"] == key:
            return _article_intents["map"]
        docs, roots = [], []
        for article in articles.values():
            for doc in retrieval.article_documents(article):
                docs.append(doc)
                roots.append(article.translation_of_id or article.pk)
        votes: dict[int, dict[str, float]] = {}
        counts: dict[int, int] = {}
        if docs:
            for root, prediction in zip(roots, classifier.predict_many(docs, threshold=0.0, min_similarity=-1.0)):
                tally = votes.setdefault(root, {})
                tally[prediction.best_guess] = tally.get(prediction.best_guess, 0.0) + prediction.confidence
                counts[root] = counts.get(root, 0) + 1
        # an article belongs to an intent only when its texts are, on average, in that intent's scope
        threshold = float(ecom_settings.CHAT_INTENT_THRESHOLD)
        mapping = {}
        for root, tally in votes.items():
            name = max(tally, key=lambda n: tally[n])
            if tally[name] / counts[root] >= threshold:
                mapping[root] = name
        _article_intents.update(key=key, map=mapping)
        return mapping


def _knowledge_scale(encoder) -> retrieval.KnowledgeCalibration:
    """The knowledge base's calibration for ``encoder``; ``CHAT_KB_MIN_SIMILARITY``, when set,
    replaces the fitted floor (a cosine similarity of that encoder)."""
    scale = retrieval.knowledge_calibration(encoder)
    fixed = ecom_settings.CHAT_KB_MIN_SIMILARITY
    if fixed is None:
        return scale
    return retrieval.KnowledgeCalibration(
        floor=float(fixed), high=max(scale.high, float(fixed) + retrieval.MIN_CALIBRATION_SPAN), fitted=scale.fitted
    )


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

    def reply(self, conversation: Conversation, text, *, user=None, client_ip: str = "") -> Message | None:
        """Store the shopper's message and answer it; ``None`` only while staff holds the chat
        (or it is closed).

        Raises ``ChatInputError`` for an unusable message (nothing is stored then).
        """
        text = clean_text(text)
        redaction = redact(text)
        stored_text = redaction.text
        language = answer_language(detect_language(stored_text))
        user_key = get_adapter().user_key(user)
        use_llm = bool(ecom_settings.CHAT_LLM_BACKEND)
        # one transaction (one commit) per message; with an LLM, a second one after its reply so
        # that no transaction stays open while the LLM answers
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
            if user_key and not conversation.user_key:
                conversation.user_key = user_key
            came_back = False
            if handoff_expired(conversation):
                self.return_to_bot(conversation)
                came_back = True
            if conversation.status == Conversation.STATUS_CLOSED or staff_holds(conversation):
                Message.objects.create(
                    conversation=conversation, sender=Message.SENDER_SHOPPER, text=stored_text, language=language
                )
                Conversation.objects.filter(pk=conversation.pk).update(
                    user_key=conversation.user_key, updated_at=timezone.now()
                )
                return None  # staff holds the conversation (or it is closed): the bot stays quiet
            waiting = conversation.status == Conversation.STATUS_HANDED_OFF
            answer = self._safe_answer(
                conversation, stored_text, user, language=language, waiting=waiting, client_ip=client_ip
            )
            Message.objects.create(
                conversation=conversation,
                sender=Message.SENDER_SHOPPER,
                text=stored_text,
                intent=answer.intent,
                confidence=answer.confidence,
                language=language,
            )
            notes_before = []
            if came_back:
                notes_before.append(phrases.phrase("handoff_expired", answer.language))
            if redaction.changed:
                notes_before.append(phrases.phrase("redacted", answer.language))
            if notes_before:
                answer.text = "\n\n".join([*notes_before, answer.text])
            if waiting and not answer.handoff and not answer.miss:
                answer.text += "\n\n" + phrases.phrase("waiting_note", answer.language)
            Conversation.objects.filter(pk=conversation.pk).update(
                user_key=conversation.user_key, state=conversation.state, updated_at=timezone.now()
            )
            if not use_llm:
                return self._store_answer(conversation, answer, answer.text, used_llm=False)
        text_out, used_llm = phrase_answer(question=stored_text, answer=answer.text, facts=answer.facts)
        with transaction.atomic():
            return self._store_answer(conversation, answer, text_out, used_llm=used_llm)

    def _safe_answer(
        self, conversation, text, user, *, language: str, waiting: bool = False, client_ip: str = ""
    ) -> Answer:
        try:
            with transaction.atomic():  # a savepoint: a failed query does not break the outer transaction
                return self.answer(
                    conversation, text, user=user, language=language, waiting=waiting, client_ip=client_ip
                )
        except Exception as exc:  # a broken model or adapter must not leave the shopper without an answer
            logger.exception("Chat: answering a message of conversation %s failed", conversation.pk)
            return Answer(
                phrases.phrase("error", language),
                sources=[dict(HANDOFF_SOURCE)],
                language=language,
                handoff=not waiting,
                handoff_reason=f"error: {type(exc).__name__}",
            )

    def _store_answer(self, conversation, answer: Answer, text: str, *, used_llm: bool) -> Message:
        bot = Message.objects.create(
            conversation=conversation,
            sender=Message.SENDER_BOT,
            text=text,
            intent=answer.intent,
            confidence=answer.confidence,
            handed_off=answer.handoff,
            suggestions=answer.suggestions,
            language=answer.language,
            sources=answer.sources + ([{"type": "llm", "label": "phrased by a language model"}] if used_llm else []),
        )
        if answer.handoff:
            self.hand_off(conversation, answer.handoff_reason)
        return bot

    # --- answering ---------------------------------------------------------------------
    def answer(
        self,
        conversation: Conversation,
        text: str,
        *,
        user=None,
        language: str | None = None,
        waiting: bool = False,
        client_ip: str = "",
    ) -> Answer:
        """The grounded answer to ``text`` (already redacted) in ``conversation``; updates its state."""
        language = language or answer_language(detect_language(text))
        state = conversation.state if isinstance(conversation.state, dict) else {}
        conversation.state = state
        offered = state.pop("offered", None) or {}
        classifier = self.classifier
        prediction = classifier.predict(text) if classifier is not None else None
        turn = Turn(
            conversation=conversation,
            text=text,
            user=user,
            language=language,
            prediction=prediction,
            intents={i.name: i for i in Intent.objects.filter(enabled=True)},
            entities=extract_entities(text, product_titles=retrieval.product_titles()),
            waiting=waiting,
            client_ip=client_ip,
        )
        answer = self._choose(turn, offered if isinstance(offered, dict) else {})
        if answer.miss:
            misses = int(state.get("misses", 0)) + 1
            state["misses"] = misses
            if not waiting and misses >= ecom_settings.CHAT_HANDOFF_AFTER_MISSES:
                state.pop("misses", None)
                answer = Answer(
                    phrases.phrase("handoff_after_misses", language),
                    sources=[dict(HANDOFF_SOURCE)],
                    handoff=True,
                    handoff_reason=f"{misses} messages in a row without an answer",
                )
        else:
            state.pop("misses", None)
        if answer.offered:
            state["offered"] = answer.offered
        answer.intent = answer.intent or (prediction.intent if prediction else "")
        answer.confidence = prediction.confidence if prediction else None
        answer.language = answer.language or language
        return answer

    def _choose(self, turn: Turn, offered: dict) -> Answer:
        """Buttons, then entities, then the ranking of every source (see the module docstring)."""
        target = offered.get(_button_key(turn.text))
        if isinstance(target, str):
            answer = self._offered_answer(turn, target)
            if answer is not None:
                return answer

        state, entities, guess = turn.state, turn.entities, turn.guess
        # an order number, or the order details the bot asked for: the order look-up — unless the
        # classifier is sure the message is about something else ("cancel order 5521")
        elsewhere = guess is not None and guess.handler not in (Intent.HANDLER_ORDER_STATUS, Intent.HANDLER_TEMPLATE)
        pending = state.get("pending") == "order_status"
        if (entities.order_numbers and not elsewhere) or (
            pending and (entities.order_numbers or entities.emails) and not elsewhere
        ):
            return self.order_answer(
                turn.conversation, entities, user=turn.user, language=turn.language, client_ip=turn.client_ip
            )
        state.pop("pending", None)
        state.pop("order_number", None)
        state.pop("order_email", None)

        # a product named by its title, or a price limit: the catalog
        product_intent = self._intent_with_handler(turn, Intent.HANDLER_PRODUCT)
        if (
            product_intent is not None
            and (entities.product_keys or parse_price(turn.text)[0] is not None)
            and (guess is None or guess.handler == Intent.HANDLER_PRODUCT)
        ):
            return self.product_answer(
                product_intent,
                turn.prediction,
                turn.text,
                entities,
                conversation=turn.conversation,
                user=turn.user,
                language=turn.language,
            )

        ranking = self.rank(turn)
        if ranking.best is None:
            # nothing ranked: the catalog is the last source ("有没有瑜伽垫" names a product the
            # classifier has never seen) — answered only when an item matches the message's words well
            if product_intent is not None and (guess is None or guess.handler == Intent.HANDLER_PRODUCT):
                answer = self.product_answer(
                    product_intent,
                    turn.prediction,
                    turn.text,
                    entities,
                    conversation=turn.conversation,
                    user=turn.user,
                    language=turn.language,
                    min_relevance=CATALOG_FALLBACK_RELEVANCE,
                )
                if answer is not None:
                    return answer
            return self.miss_answer(turn)
        if ranking.ask:
            return self.clarify_answer(turn, [ranking.best, *ranking.alternatives])
        best = ranking.best
        if (
            best.kind == "intent"
            and best.payload.handler == Intent.HANDLER_ORDER_STATUS
            and not turn.entities.order_numbers
            and not get_adapter().user_key(turn.user)
        ):
            # an anonymous shopper without an order number whose question an article answers clearly
            # ("is there a way to follow where my package is"): the article, and the look-up as a button
            article = next((c for c in ranking.ranked if c.kind == "article"), None)
            if article is not None and article.score >= ranker.CLEAR_MATCH:
                answer = self._candidate_answer(turn, article)
                label = phrases.pick(phrases.INTENT_LABELS["order_status"], turn.language)
                answer.suggestions = [*answer.suggestions, label]
                answer.offered = {**answer.offered, _button_key(label): f"intent:{best.payload.name}"}
                return answer
        answer = self._candidate_answer(turn, ranking.best)
        if (
            ranking.best.kind == "intent"
            and ranking.best.payload.handler == Intent.HANDLER_PRODUCT
            and not any(s.get("type") == "product" for s in answer.sources)
        ):
            # the catalog has nothing for it: an article above the floor answers instead ("these trousers
            # are too tight, can I swap them" is an exchange question, not a product search)
            article = next((c for c in ranking.ranked if c.kind == "article" and c.score >= ranker.FLOOR), None)
            if article is not None:
                return self._candidate_answer(turn, article)
        return answer

    def rank(self, turn: Turn) -> ranker.Ranking:
        """Articles and intent handlers for this message, scored together (``ranker.py``)."""
        prediction, guess = turn.prediction, turn.guess
        if prediction is None or prediction.vector is None:
            return ranker.Ranking(best=None)
        classifier = self.classifier
        encoder = classifier.encoder
        matches = retrieval.knowledge_matches(prediction.vector, encoder, limit=8)
        scale = _knowledge_scale(encoder)  # cosine similarity -> the ranker's calibrated scale
        for match in matches:
            match.score = scale.normalise(match.score)
        answers = article_intents(classifier)  # article root id -> the intent its questions are classified as
        # the classifier's top intent lends its probability to the articles that answer it — unless the
        # message is unlike every training example (then the guess says little: "今天天气怎么样")
        oos_floor = ecom_settings.CHAT_OOS_MIN_SIMILARITY
        if oos_floor is None:
            oos_floor = getattr(classifier, "calibrated_min_similarity", 0.0)
        top = prediction.best_guess if (prediction.intent or prediction.similarity >= oos_floor) else ""
        candidates = []
        for match in matches:
            bonus = ranker.INTENT_BONUS * turn.confidence if top and answers.get(match.root_id) == top else 0.0
            candidates.append(
                ranker.Candidate(
                    "article", f"article:{match.root_id}", match.score + bonus, label=match.title, payload=match
                )
            )
        if guess is not None:
            threshold = float(ecom_settings.CHAT_INTENT_THRESHOLD)
            if guess.handler == Intent.HANDLER_KNOWLEDGE:  # the intent's own article, at the intent's score
                # (an article among articles: certainty lands on a clear article match, not above it)
                score = ranker.intent_score(turn.confidence, threshold=threshold, top=ranker.KNOWLEDGE_INTENT_TOP)
                own = [m for m in matches if answers.get(m.root_id) == guess.name]
                if not own:
                    roots = [root for root, name in answers.items() if name == guess.name]
                    own = [v for root in roots[:1] for v in retrieval.article_versions(root)[:1]]
                if not own and guess.topic:
                    own = retrieval.knowledge_matches(prediction.vector, encoder, topic=guess.topic, limit=1)
                    for match in own:
                        match.score = scale.normalise(match.score)
                if own:
                    candidates.append(
                        ranker.Candidate(
                            "article", f"article:{own[0].root_id}", score, label=own[0].title, payload=own[0]
                        )
                    )
            else:
                score = ranker.intent_score(turn.confidence, threshold=threshold)
                confident = turn.confidence >= float(ecom_settings.CHAT_HANDLER_MIN_CONFIDENCE)
                candidates.append(
                    ranker.Candidate(
                        "intent", f"intent:{guess.name}", score, confident=confident, label=guess.name, payload=guess
                    )
                )
        return ranker.rank(candidates, floor=ranker.FLOOR, margin=float(ecom_settings.CHAT_CLARIFY_MARGIN))

    @staticmethod
    def _intent_with_handler(turn: Turn, handler: str) -> Intent | None:
        guess = turn.guess
        if guess is not None and guess.handler == handler:
            return guess
        return next((i for i in turn.intents.values() if i.handler == handler), None)

    def _candidate_answer(self, turn: Turn, candidate: ranker.Candidate, *, explicit: bool = False) -> Answer:
        if candidate.kind == "article":
            return self._article_answer(candidate.payload, turn.language)
        return self._intent_answer(turn, candidate.payload, confident=candidate.confident or explicit)

    def _offered_answer(self, turn: Turn, target: str) -> Answer | None:
        """The answer behind a button the bot offered (``"article:<id>"``, ``"intent:<name>"``)."""
        kind, _, ident = target.partition(":")
        if kind == "article" and ident.isdigit():
            versions = retrieval.article_versions(int(ident))
            if versions:
                return self._article_answer(versions[0], turn.language)
        if kind == "intent" and ident in turn.intents:
            return self._intent_answer(turn, turn.intents[ident], confident=True, explicit=True)
        return None

    def _intent_answer(self, turn: Turn, intent: Intent, *, confident: bool, explicit: bool = False) -> Answer:
        language = turn.language
        if intent.handler == Intent.HANDLER_ORDER_STATUS:
            return self.order_answer(
                turn.conversation, turn.entities, user=turn.user, language=language, client_ip=turn.client_ip
            )
        if intent.handler == Intent.HANDLER_PRODUCT:
            return self.product_answer(
                intent,
                turn.prediction,
                turn.text,
                turn.entities,
                conversation=turn.conversation,
                user=turn.user,
                language=language,
            )
        if intent.handler == Intent.HANDLER_HANDOFF and intent.name in phrases.APOLOGY_INTENTS and not explicit:
            if confident:  # a sure complaint: apology and options; an unsure one gets the offer below (a miss)
                return self.apology_answer(turn, intent)
        if intent.handler == Intent.HANDLER_HANDOFF:
            if turn.waiting:
                return Answer(
                    phrases.phrase("waiting_no_answer", language),
                    sources=[dict(HANDOFF_SOURCE)],
                    intent=intent.name,
                    miss=False,
                )
            if confident or explicit:
                text, note = self._template_text(intent, language)
                return Answer(
                    self._with_note(text or phrases.phrase("handoff", language), note, language),
                    sources=[dict(HANDOFF_SOURCE)],
                    handoff=True,
                    handoff_reason=f"intent {intent.name}",
                    intent=intent.name,
                )
            label = phrases.pick(phrases.INTENT_LABELS["human_agent"], language)
            # an offer is not an answer: it counts towards CHAT_HANDOFF_AFTER_MISSES
            return Answer(
                phrases.phrase("handoff_offer", language),
                intent=intent.name,
                suggestions=[label],
                offered={_button_key(label): f"intent:{intent.name}"},
                miss=True,
            )
        if intent.handler == Intent.HANDLER_KNOWLEDGE:
            vector = turn.prediction.vector if turn.prediction is not None else None
            matches = (
                retrieval.knowledge_matches(vector, self.classifier.encoder, topic=intent.topic or None, limit=1)
                if vector is not None
                else []
            )
            if matches:
                return self._article_answer(matches[0], language, intent=intent.name)
            return self.miss_answer(turn)
        text, note = self._template_text(intent, language)
        return Answer(
            self._with_note(text or intent.description or intent.name, note, language),
            sources=[{"type": "intent", "label": intent.name}],
            intent=intent.name,
        )

    def apology_answer(self, turn: Turn, intent: Intent) -> Answer:
        """A complaint: an apology, what the bot can do at once, and a button to reach a person —
        no automatic hand-off (a button, an explicit request or repeated misses hand off)."""
        language = turn.language
        labels, offered = [], {}
        for name in phrases.APOLOGY_OPTIONS:
            target = turn.intents.get(name)
            if target is None:
                continue
            label = phrases.pick(phrases.INTENT_LABELS.get(name) or {"en": target.description or name}, language)
            labels.append(label)
            offered[_button_key(label)] = f"intent:{name}"
        if "human_agent" not in turn.intents and not turn.waiting:  # no hand-off intent: this one's button
            label = phrases.pick(phrases.INTENT_LABELS["human_agent"], language)
            labels.append(label)
            offered[_button_key(label)] = f"intent:{intent.name}"
        text = phrases.phrase("complaint", language)
        return Answer(text, intent=intent.name, suggestions=labels, offered=offered, language=language)

    @staticmethod
    def _template_text(intent: Intent, language: str) -> tuple[str, str]:
        """``(text, language it is in)`` of an intent's answer template for ``language``."""
        translations = intent.translations if isinstance(intent.translations, dict) else {}
        for code, text in translations.items():
            if normalise_code(code) == language and isinstance(text, str) and text.strip():
                return text.strip(), language
        return intent.answer_template.strip(), default_language()

    @staticmethod
    def _with_note(text: str, text_language: str, language: str) -> str:
        if not text or text_language == language:
            return text
        note = phrases.phrase("language_fallback", language, language=phrases.language_name(text_language, language))
        return f"{note}\n\n{text}"

    def miss_answer(self, turn: Turn) -> Answer:
        """Nothing close enough: waiting for staff → a notice; else the off-topic answer with buttons."""
        language = turn.language
        if turn.waiting:
            return Answer(phrases.phrase("waiting_no_answer", language), sources=[dict(HANDOFF_SOURCE)], miss=True)
        labels, offered = [], {}
        for texts, intent_name in phrases.SUGGESTIONS:
            if intent_name in turn.intents:
                label = phrases.pick(texts, language)
                labels.append(label)
                offered[_button_key(label)] = f"intent:{intent_name}"
        return Answer(phrases.phrase("off_topic", language), suggestions=labels, offered=offered, miss=True)

    def clarify_answer(self, turn: Turn, candidates: list[ranker.Candidate]) -> Answer:
        """Two (or three) close answers: ask which one, a button each."""
        labels, offered = [], {}
        for candidate in candidates:
            label = self._candidate_label(candidate, turn.language)
            if label and _button_key(label) not in offered:
                labels.append(label)
                offered[_button_key(label)] = candidate.key
        if len(labels) < 2:
            return self._candidate_answer(turn, candidates[0])
        return Answer(phrases.phrase("clarify", turn.language), suggestions=labels, offered=offered)

    def _candidate_label(self, candidate: ranker.Candidate, language: str) -> str:
        if candidate.kind == "article":
            chosen, _ = self._article_version(candidate.payload, language)
            return chosen.title
        intent = candidate.payload
        labels = phrases.INTENT_LABELS.get(intent.name)
        if labels:
            return phrases.pick(labels, language)
        return intent.description or intent.name

    @staticmethod
    def _article_version(match, language: str):
        """``(version, its language)``: the article in ``language`` if it has one, else the default
        language's version, else the matched one."""
        versions = retrieval.article_versions(match.root_id) or [match]
        by_language = {}
        for version in versions:
            by_language.setdefault(normalise_code(version.language), version)
        code = language if language in by_language else default_language()
        chosen = by_language.get(code) or match
        return chosen, normalise_code(chosen.language)

    def _article_answer(self, match, language: str = "", *, intent: str = "") -> Answer:
        language = language or default_language()
        chosen, chosen_language = self._article_version(match, language)
        source = {"type": "article", "id": chosen.article_id, "label": chosen.title}
        if chosen.url:
            source["url"] = chosen.url
        text = self._with_note(chosen.body.strip(), chosen_language, language)
        return Answer(
            text,
            sources=[source],
            facts=[{"article": chosen.title, "text": chosen.body}],
            intent=intent,
            language=language,
        )

    # --- catalog -----------------------------------------------------------------------
    def product_answer(
        self,
        intent: Intent,
        prediction: IntentPrediction | None,
        text: str,
        entities,
        *,
        conversation: Conversation | None = None,
        user=None,
        language: str = "",
        min_relevance: float | None = None,
    ):
        """Catalog search (``catalog_search``): price limits in English and Chinese applied strictly,
        "customers also liked" from related items only, answered in the shopper's language.
        With ``min_relevance``: ``None`` unless the best item has at least that text relevance."""
        language = language or default_language()
        vector = prediction.vector if prediction is not None else None
        result = catalog_search.search(text, language, limit=3, encoder=self.classifier.encoder, vector=vector)
        if min_relevance is not None and not (result.items and result.items[0].relevance >= min_relevance):
            return None
        intro = ""
        if result.items:
            template, template_language = self._template_text(intent, language)
            intro = template if template_language == language else ""
        text_out, sources, facts = catalog_search.answer_parts(
            result, currency=ecom_settings.DEFAULT_CURRENCY, intro=intro
        )
        return Answer(text_out, sources=sources, facts=facts, intent=intent.name, language=language)

    # --- orders ------------------------------------------------------------------------
    def order_answer(
        self, conversation: Conversation, entities, *, user=None, language: str = "", client_ip: str = ""
    ) -> Answer:
        """Order status. Logged in: only the shopper's own orders (an e-mail address changes
        nothing). Anonymous: order number *and* the order's e-mail address, with failure limits."""
        language = language or default_language()
        adapter = get_adapter()
        state = conversation.state
        user_key = adapter.user_key(user)
        lookup_source = {"type": "order_lookup", "label": "order look-up"}
        number = entities.order_number or state.get("order_number", "")

        if user_key:
            for key in ("pending", "order_number", "order_email"):
                state.pop(key, None)
            if not number:
                records = [adapter.order_record(order) for order in list(adapter.user_orders(user_key)[:3])]
                if not records:
                    return Answer(
                        phrases.phrase("order_none_on_account", language),
                        sources=[{"type": "account", "label": "your orders"}],
                        intent="order_status",
                    )
                return self._orders_answer(records, language, intro=phrases.phrase("orders_recent", language))
            record = self._find_order_record(number)
            if record is None or record.user_key != user_key:  # the same answer whether it exists or not
                return Answer(
                    phrases.phrase("order_not_on_account", language), sources=[lookup_source], intent="order_status"
                )
            return self._orders_answer([record], language)

        failures = int(state.get("order_failures", 0))
        if failures >= ecom_settings.CHAT_MAX_ORDER_LOOKUP_FAILURES:
            state.pop("pending", None)
            return Answer(
                phrases.phrase("order_lookup_blocked", language),
                sources=[dict(HANDOFF_SOURCE)],
                intent="order_status",
                handoff=True,
                handoff_reason="too many failed order look-ups",
            )
        email = entities.email or state.get("order_email", "")
        if not number or not email:
            state["pending"] = "order_status"
            if number:
                state["order_number"] = number
            if email:
                state["order_email"] = email
            key = (
                "order_ask_both"
                if not number and not email
                else ("order_ask_number" if not number else "order_ask_email")
            )
            return Answer(phrases.phrase(key, language), sources=[lookup_source], intent="order_status")
        for key in ("pending", "order_number", "order_email"):
            state.pop(key, None)
        if _lookup_blocked(client_ip, number):
            return Answer(
                phrases.phrase("order_lookup_blocked", language),
                sources=[dict(HANDOFF_SOURCE)],
                intent="order_status",
                handoff=True,
                handoff_reason="order look-up limit reached",
            )
        record = self._find_order_record(number)
        allowed = record is not None and bool(record.email) and record.email.strip().lower() == email.strip().lower()
        if not allowed:
            state["order_failures"] = failures + 1
            _lookup_failed(client_ip, number)
            return Answer(phrases.phrase("order_not_found", language), sources=[lookup_source], intent="order_status")
        return self._orders_answer([record], language)

    @staticmethod
    def _find_order_record(number: str):
        adapter = get_adapter()
        for candidate in dict.fromkeys((number, number.upper(), number.lstrip("#"))):
            order = adapter.find_order(candidate)
            if order is not None:
                return adapter.order_record(order)
        return None

    @staticmethod
    def _orders_answer(records, language: str = "en", intro: str = "") -> Answer:
        lines, sources, facts = [], [], []
        for record in records:
            line = phrases.phrase(
                "order_line", language, number=record.number, status=phrases.status_wording(record.status, language)
            )
            if record.created_at:
                line += phrases.phrase("order_placed", language, date=f"{record.created_at:%Y-%m-%d}")
            if record.total is not None:
                line += phrases.phrase("order_total", language, total=record.total, currency=record.currency)
            tracking = str((record.extra or {}).get("tracking_number") or "")
            if tracking:
                line += phrases.phrase("order_tracking", language, tracking=tracking)
            lines.append(line)
            sources.append({"type": "order", "number": record.number, "label": f"Order {record.number}"})
            facts.append(
                {
                    "order": record.number,
                    "status": record.status,
                    "tracking_number": tracking or None,
                    "placed": f"{record.created_at:%Y-%m-%d}" if record.created_at else None,
                    "total": str(record.total) if record.total is not None else None,
                    "currency": record.currency,
                }
            )
        text = "\n".join(([intro] if intro else []) + lines)
        return Answer(text, sources=sources, facts=facts, intent="order_status", language=language)

    # --- staff -------------------------------------------------------------------------
    @staticmethod
    def hand_off(conversation: Conversation, reason: str = "") -> None:
        updated = Conversation.objects.filter(pk=conversation.pk, status=Conversation.STATUS_BOT).update(
            status=Conversation.STATUS_HANDED_OFF,
            handoff_reason=reason[:200],
            handed_off_at=timezone.now(),
            staff_active_at=None,
            assigned_to=None,
            updated_at=timezone.now(),
        )
        conversation.refresh_from_db()
        if updated:  # after commit: receivers (notifications...) see the stored conversation
            transaction.on_commit(
                lambda: signals.chat_handed_off.send(sender=Conversation, conversation=conversation), robust=True
            )

    @staticmethod
    def staff_reply(conversation: Conversation, staff_user, text) -> Message:
        """A staff member answers; the conversation stays with staff (the bot is quiet)."""
        text = redact(clean_text(text)).text
        with transaction.atomic():
            message = Message.objects.create(
                conversation=conversation, sender=Message.SENDER_STAFF, text=text, staff_user=staff_user
            )
            now = timezone.now()
            changes = {"status": Conversation.STATUS_HANDED_OFF, "updated_at": now, "staff_active_at": now}
            if conversation.assigned_to_id is None:
                changes["assigned_to"] = staff_user
            if conversation.handed_off_at is None or conversation.status != Conversation.STATUS_HANDED_OFF:
                changes["handed_off_at"] = now
            Conversation.objects.filter(pk=conversation.pk).update(**changes)
        conversation.refresh_from_db()
        return message

    @staticmethod
    def take_over(conversation: Conversation, staff_user) -> None:
        now = timezone.now()
        handed_off_at = conversation.handed_off_at
        if handed_off_at is None or conversation.status != Conversation.STATUS_HANDED_OFF:
            handed_off_at = now
        Conversation.objects.filter(pk=conversation.pk).update(
            status=Conversation.STATUS_HANDED_OFF,
            assigned_to=staff_user,
            handed_off_at=handed_off_at,
            staff_active_at=now,
            updated_at=now,
        )
        conversation.refresh_from_db()

    @staticmethod
    def return_to_bot(conversation: Conversation) -> None:
        Conversation.objects.filter(pk=conversation.pk).update(
            status=Conversation.STATUS_BOT, staff_active_at=None, updated_at=timezone.now()
        )
        conversation.refresh_from_db()

    @staticmethod
    def close(conversation: Conversation) -> None:
        Conversation.objects.filter(pk=conversation.pk).update(
            status=Conversation.STATUS_CLOSED, updated_at=timezone.now()
        )
        conversation.refresh_from_db()


# --------------------------------------------------------------------------- look-up limits


def _lookup_blocked(client_ip: str, number: str) -> bool:
    """Per-IP / per-order-number limit of anonymous look-ups (``lookup_limits``, when installed)."""
    check = getattr(lookup_limits, "blocked", None) if lookup_limits is not None else None
    if check is None:
        return False
    try:
        return bool(check(ip=client_ip, number=number))
    except Exception:  # a limit store that is down must not take the chat down
        logger.warning("Chat: order look-up limits unavailable", exc_info=True)
        return False


def _lookup_failed(client_ip: str, number: str) -> None:
    record = getattr(lookup_limits, "record_failure", None) if lookup_limits is not None else None
    if record is None:
        return
    try:
        record(ip=client_ip, number=number)
    except Exception:
        logger.warning("Chat: could not record a failed order look-up", exc_info=True)
