"""Scoring orders: ``assess_order(order)`` → a stored ``FraudAssessment``.

The score (0–100) comes from the active ``fraud`` model version when there is one (a
calibrated probability × 100) and from a transparent heuristic otherwise. Then:

1. the allow/block lists (email, IP, device, payment fingerprint): a block-list hit makes
   the order high risk (cancel), an allow-list hit low risk (accept), whatever else says;
2. the enabled rules in priority order: the first one that fires decides (block → high,
   review → at least medium, allow → low); every rule that fired is listed;
3. otherwise the thresholds (admin "fraud thresholds") give the level: low → accept,
   medium → review, high → cancel.

Reasons list the features that pushed the score, the rules and list entries that fired and
any gaps in the order's data. Scoring never raises into the caller: on an unexpected error
an assessment is still stored, scored by "error", sent to review with the error listed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction

from ecom_ai import signals
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.fraud.features import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    FeatureResult,
    OrderFacts,
    compute_features,
)
from ecom_ai.fraud.rules import evaluate_rules
from ecom_ai.ttl_cache import TTLCache

logger = logging.getLogger("ecom_ai.fraud")

MODEL_KIND = "fraud"

# Heuristic (no model active yet): (feature, test, points, message). Points add up, capped at 100.
HEURISTIC_SIGNALS = [
    ("minutes_since_signup", lambda v: v is not None and v < 1, 45, "ordered within a minute of signing up"),
    ("minutes_since_signup", lambda v: v is not None and 1 <= v < 10, 15, "ordered within 10 minutes of signing up"),
    ("accounts_on_device", lambda v: (v or 0) >= 1, 20, "device used by other accounts"),
    ("accounts_on_ip", lambda v: (v or 0) >= 2, 15, "IP used by several other accounts"),
    ("accounts_on_payment", lambda v: (v or 0) >= 1, 25, "payment method used by other accounts"),
    ("orders_ip_1h", lambda v: (v or 0) >= 3, 15, "many orders from this IP in the last hour"),
    ("orders_device_24h", lambda v: (v or 0) >= 3, 15, "many orders from this device in 24 hours"),
    ("orders_payment_24h", lambda v: (v or 0) >= 3, 15, "many orders with this payment method in 24 hours"),
    ("orders_email_24h", lambda v: (v or 0) >= 3, 10, "many orders with this email in 24 hours"),
    ("ip_country_mismatch_shipping", lambda v: v == 1, 15, "IP country differs from the shipping country"),
    ("ip_country_mismatch_billing", lambda v: v == 1, 10, "IP country differs from the billing country"),
    ("shipping_billing_mismatch", lambda v: v == 1, 10, "shipping and billing countries differ"),
    ("amount_vs_user_mean", lambda v: (v or 0) >= 5, 15, "amount far above this customer's usual"),
    ("amount_vs_shop_median", lambda v: (v or 0) >= 10, 15, "amount far above the shop's usual"),
    ("quantity_anomaly", lambda v: v == 1, 10, "unusually large quantity of one item"),
    ("amount_absurd", lambda v: v == 1, 30, "implausible amount"),
    ("ip_malformed", lambda v: v == 1, 10, "malformed IP address"),
    ("currency_unknown", lambda v: v == 1, 10, "unknown currency"),
    ("missing_fields", lambda v: (v or 0) >= 4, 10, "most identifying fields are missing"),
]

LEVEL_ACTIONS = {"low": "accept", "medium": "review", "high": "cancel"}


@dataclass
class ScoreResult:
    """Everything an assessment stores, before it is saved."""

    facts: OrderFacts
    features: FeatureResult
    score: int
    probability: float | None
    level: str
    action: str
    scorer: str
    reasons: list = field(default_factory=list)
    rules_fired: list = field(default_factory=list)
    model_version_id: int | None = None


def _describe(name: str) -> str:
    from ecom_ai.fraud.extras import describe

    return NUMERIC_FEATURES.get(name) or CATEGORICAL_FEATURES.get(name) or describe(name) or name


def _fmt(value):
    if isinstance(value, float):
        return round(value, 3)
    return value


def heuristic_score(features: dict) -> tuple[int, list]:
    points, reasons = 0, []
    for name, test, weight, message in HEURISTIC_SIGNALS:
        try:
            hit = test(features.get(name))
        except TypeError:
            hit = False
        if hit:
            points += weight
            reasons.append(
                {
                    "kind": "feature",
                    "code": name,
                    "value": _fmt(features.get(name)),
                    "points": weight,
                    "message": message,
                }
            )
    return min(100, points), reasons


def model_score(model, features: dict) -> tuple[float, list]:
    probability, pushed = model.explain(features)
    reasons = [
        {
            "kind": "feature",
            "code": name,
            "value": _fmt(features.get(name)),
            "points": round(points, 1),
            "impact": round(impact, 3),
            "message": _describe(name),
        }
        for name, points, impact in pushed
    ]
    return probability, reasons


# Rules, lists and thresholds are read once per CONFIG_TTL seconds per process (and at once
# after a change saved in this process): admin edits reach every worker within CONFIG_TTL.
CONFIG_TTL = 5.0
MAX_CACHED_LIST_ENTRIES = 50_000
_config = TTLCache("fraud.config", ttl=lambda: CONFIG_TTL)  # fraud.receivers clears it on saves


def clear_config_cache(**kwargs) -> None:
    _config.clear()


def _cached(name: str, loader):
    return _config.get_or_set(name, loader)


def _load_thresholds():
    from ecom_ai.models.fraud import FraudSettings

    obj = FraudSettings.load()
    return obj.medium_threshold, obj.high_threshold


def _thresholds():
    return _cached("thresholds", _load_thresholds)


def level_for(score: int, medium: int, high: int) -> str:
    return "high" if score >= high else "medium" if score >= medium else "low"


def _load_lists():
    """All list entries as {(kind, value): [entry...]}, or None when there are too many to cache."""
    from ecom_ai.models.fraud import FraudListEntry

    rows = list(FraudListEntry.objects.values("pk", "kind", "value", "list", "note")[: MAX_CACHED_LIST_ENTRIES + 1])
    if len(rows) > MAX_CACHED_LIST_ENTRIES:
        return None
    table: dict = {}
    for row in rows:
        table.setdefault((row["kind"], row["value"]), []).append(row)
    return table


def _list_hits(identifiers: dict) -> list:
    from ecom_ai.models.fraud import FraudListEntry

    wanted = {
        ("email", identifiers.get("email")),
        ("ip", identifiers.get("ip")),
        ("device", identifiers.get("device")),
        ("payment_fingerprint", identifiers.get("payment")),
    }
    wanted = {(k, FraudListEntry.normalize(k, v)) for k, v in wanted if v}
    if not wanted:
        return []
    table = _cached("lists", _load_lists)
    if table is not None:
        return [entry for key in sorted(wanted) for entry in table.get(key, ())]
    from django.db.models import Q

    query = Q()
    for kind, value in wanted:
        query |= Q(kind=kind, value=value)
    return list(FraudListEntry.objects.filter(query).values("pk", "kind", "value", "list", "note"))


def _load_rules():
    from ecom_ai.models.fraud import FraudRule

    return list(
        FraudRule.objects.filter(enabled=True)
        .order_by("priority", "name")
        .only("pk", "name", "condition", "action", "priority")
    )


def _active_rules():
    return _cached("rules", _load_rules)


def score_order(facts: OrderFacts, *, model=None, use_active_model: bool = False) -> ScoreResult:
    """Compute features, score, lists, rules and reasons for ``facts`` (nothing is saved).

    The parts, in order: the model to use, the features, the score (model or heuristic),
    the level from the thresholds, then the lists and rules that can override it, and the
    data gaps as reasons.
    """
    model, version_id = _serving_model(model, use_active_model)
    result = compute_features(facts)
    score, probability, scorer, reasons, version_id = _score(model, version_id, result.features, facts.order_key)
    medium, high = _thresholds()
    level = level_for(score, medium, high)
    hits = _list_hits(result.identifiers)
    fired = evaluate_rules(_active_rules(), result.features)
    reasons += _rule_reasons(fired) + _list_reasons(hits)
    level, score = _override_level(level, score, hits, fired, medium, high)
    reasons += [{"kind": "data", "code": code, "message": message} for code, message in result.gaps]
    rules_fired = [{"id": r.id, "name": r.name, "action": r.action} for r in fired]
    return ScoreResult(
        facts=facts,
        features=result,
        score=score,
        probability=probability,
        level=level,
        action=LEVEL_ACTIONS[level],
        scorer=scorer,
        reasons=reasons,
        rules_fired=rules_fired,
        model_version_id=version_id,
    )


def _serving_model(model, use_active_model: bool):
    """``(model, version id)``: the given model, or the registry's active ``fraud`` model."""
    if model is not None or not use_active_model:
        return model, None
    from ecom_ai.ml import registry

    model = registry.load_active(MODEL_KIND)
    if model is None:
        return None, None
    # the version the in-memory model was loaded from (no query); else ask the database
    entry = getattr(registry, "_loaded", {}).get(MODEL_KIND)
    if entry is not None and entry.servable is model:
        return model, entry.version_id
    active = registry.active_version(MODEL_KIND)
    return model, (active.pk if active else None)


def _score(model, version_id, features: dict, order_key):
    """``(score, probability, scorer, reasons, version id)`` from the model, or the heuristic
    when there is none or it fails (a broken artifact never stops scoring)."""
    if model is not None:
        try:
            probability, reasons = model_score(model, features)
            if not math.isfinite(probability):
                raise ValueError("the model returned a non-finite probability")
            return max(0, min(100, int(round(100 * probability)))), probability, "model", reasons, version_id
        except Exception as exc:
            logger.exception("ecom_ai: the fraud model failed on order %r; using the heuristic", order_key)
            score, reasons = heuristic_score(features)
            reasons.append(
                {
                    "kind": "error",
                    "code": "model_failed",
                    "message": f"the active model failed ({type(exc).__name__}); heuristic used",
                }
            )
            return max(0, min(100, score)), None, "heuristic", reasons, None
    score, reasons = heuristic_score(features)
    return max(0, min(100, score)), None, "heuristic", reasons, None


def _rule_reasons(fired) -> list:
    return [
        {
            "kind": "rule",
            "code": rule.name,
            "action": rule.action,
            "message": f"rule {rule.name!r} fired ({rule.action})",
        }
        for rule in fired
    ]


def _list_reasons(hits) -> list:
    return [
        {
            "kind": "list",
            "code": f"{hit['list']}:{hit['kind']}",
            "value": hit["value"],
            "message": f"{hit['kind'].replace('_', ' ')} {hit['value']} is on the {hit['list']} list",
        }
        for hit in hits
    ]


def _override_level(level: str, score: int, hits, fired, medium: int, high: int) -> tuple[str, int]:
    """Lists beat everything, then the first rule that fired decides; else the thresholds' level."""
    if any(h["list"] == "block" for h in hits):
        return "high", max(score, high)
    if any(h["list"] == "allow" for h in hits):
        return "low", score
    if fired:
        decisive = fired[0].action
        if decisive == "block":
            return "high", max(score, high)
        if decisive == "review" and level == "low":
            return "medium", max(score, medium)
        if decisive == "allow":
            return "low", score
    return level, score


def _json_features(features: dict) -> dict:
    out = {}
    for key, value in features.items():
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[key] = value
    return out


def save_assessment(result: ScoreResult):
    """Store (or update, for an order scored before) the assessment; a decision already
    taken by a reviewer is kept. Sends ``fraud_flagged`` for medium/high orders."""
    from ecom_ai.models.fraud import FraudAssessment

    facts, feat = result.facts, result.features
    ids = feat.identifiers
    values = dict(
        order_number=str(facts.number or "")[:191],
        user_key=ids["user"][:64],
        email=ids["email"][:254],
        ip=ids["ip"][:64],
        device=ids["device"][:128],
        payment_fingerprint=ids["payment"][:128],
        amount=feat.amount if feat.amount is not None and abs(feat.amount) < 10**12 else None,
        currency=feat.features.get("currency", "")[:8],
        placed_at=feat.placed_at,
        score=result.score,
        probability=result.probability,
        level=result.level,
        recommended_action=result.action,
        scorer=result.scorer,
        reasons=result.reasons,
        features=_json_features(feat.features),
        rules_fired=result.rules_fired,
        model_version_id=result.model_version_id,
        report_attributes=_json_features(feat.report),
    )
    key = str(facts.order_key)[:191]
    for attempt in range(2):
        try:
            with transaction.atomic():
                obj = FraudAssessment.objects.select_for_update().filter(order_key=key).first()
                if obj is None:
                    status = FraudAssessment.STATUS_AUTO if result.level == "low" else FraudAssessment.STATUS_PENDING
                    obj = FraudAssessment.objects.create(order_key=key, status=status, **values)
                else:
                    for name, value in values.items():
                        setattr(obj, name, value)
                    if obj.status in (FraudAssessment.STATUS_AUTO, FraudAssessment.STATUS_PENDING):
                        obj.status = (
                            FraudAssessment.STATUS_AUTO if result.level == "low" else FraudAssessment.STATUS_PENDING
                        )
                    obj.save()
            break
        except IntegrityError:  # a concurrent first assessment of the same order won: update it
            if attempt:
                raise
    if obj.level != "low":
        signals.fraud_flagged.send(sender=FraudAssessment, assessment=obj)
    return obj


#: database errors worth another try later (a dropped connection, a restarting server, a deadlock)
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


class TransientScoringError(Exception):
    """Scoring an order failed on a transient database error; try again later (the task retries)."""

    def __init__(self, order_key, cause: BaseException):
        super().__init__(f"order {order_key!r}: {type(cause).__name__}: {cause}")
        self.order_key, self.cause = order_key, cause


def _drop_broken_connection() -> None:
    """Close this thread's database connection if it is broken, so the next query opens a new
    one (not possible inside a transaction: the caller's block is broken either way)."""
    try:
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
    except Exception:  # noqa: BLE001 - closing a dead connection may fail too
        logger.debug("ecom_ai: closing a broken database connection failed", exc_info=True)


def assess_facts(facts: OrderFacts, *, model=None, retry_transient: bool = False):
    """Score ``facts`` and store the assessment. Never raises: an error gives an 'error'
    assessment — except, with ``retry_transient``, a transient database error, raised as
    ``TransientScoringError`` so that the caller (the Celery task) tries again later."""
    try:
        result = score_order(facts, model=model, use_active_model=model is None)
        return save_assessment(result)
    except TRANSIENT_DB_ERRORS as exc:
        _drop_broken_connection()
        if retry_transient:
            logger.warning(
                "ecom_ai: fraud scoring of order %r hit a database error (%s); retrying later",
                getattr(facts, "order_key", None),
                exc,
            )
            raise TransientScoringError(getattr(facts, "order_key", None), exc) from exc
        logger.exception("ecom_ai: fraud scoring of order %r failed", getattr(facts, "order_key", None))
        return _error_assessment(facts, exc)
    except Exception as exc:
        logger.exception("ecom_ai: fraud scoring of order %r failed", getattr(facts, "order_key", None))
        return _error_assessment(facts, exc)


def _error_assessment(facts: OrderFacts, exc: BaseException):
    """Store an ``error`` assessment (→ review) for the order; tried twice, on a fresh
    connection the second time (the first error may have broken this one)."""
    for attempt in range(2):
        try:
            return _store_error_assessment(facts, exc)
        except TRANSIENT_DB_ERRORS:
            _drop_broken_connection()
            if attempt:
                logger.exception(
                    "ecom_ai: could not store the error assessment of order %r; "
                    "`ecom_ai_assess_orders --missing` will assess it",
                    getattr(facts, "order_key", None),
                )
        except Exception:
            logger.exception(
                "ecom_ai: could not store the error assessment of order %r", getattr(facts, "order_key", None)
            )
            return None
    return None


def _store_error_assessment(facts: OrderFacts, exc: BaseException):
    """The ``error`` assessment of the order (an existing scored assessment is kept as it is)."""
    from ecom_ai.models.fraud import FraudAssessment

    key = str(getattr(facts, "order_key", "") or "")[:191]
    if not key:
        return None
    existing = FraudAssessment.objects.filter(order_key=key).exclude(scorer="error").first()
    if existing is not None:  # scored meanwhile (a retry, the sweep): better than an error
        return existing
    obj, _ = FraudAssessment.objects.update_or_create(
        order_key=key,
        defaults=dict(
            order_number=str(getattr(facts, "number", "") or "")[:191],
            user_key=str(getattr(facts, "user_key", "") or "")[:64],
            email=str(getattr(facts, "email", "") or "")[:254],
            score=0,
            probability=None,
            level="medium",
            recommended_action="review",
            scorer="error",
            status=FraudAssessment.STATUS_PENDING,
            reasons=[
                {
                    "kind": "error",
                    "code": type(exc).__name__,
                    "message": f"scoring failed ({type(exc).__name__}: {str(exc)[:300]}); review by hand",
                }
            ],
        ),
    )
    return obj


# --- the public service --------------------------------------------------------------


def request_context(request) -> dict:
    """The facts a request adds to an order: IP, visitor key, IP country header (JSON-safe)."""
    if request is None:
        return {}
    context = {}
    try:
        meta = getattr(request, "META", {}) or {}
        ip = meta.get("REMOTE_ADDR") or ""
        if ip:
            context["ip"] = str(ip)[:64]
        header = ecom_settings.FRAUD_IP_COUNTRY_HEADER
        if header and meta.get(header):
            context["ip_country"] = str(meta.get(header))[:8]
        from ecom_ai.events.middleware import get_visitor_key

        visitor = get_visitor_key(request)
        if visitor:
            context["visitor_key"] = visitor
        agent = meta.get("HTTP_USER_AGENT")
        if agent:
            context["user_agent"] = str(agent)[:256]
    except Exception:  # a strange request object must never stop an assessment
        logger.warning("ecom_ai: could not read the request context for fraud scoring", exc_info=True)
    return context


def facts_for_order(order, context: dict | None = None) -> OrderFacts:
    """The ``OrderFacts`` of a host order, read through the adapter."""
    from ecom_ai.adapters import get_adapter

    return OrderFacts.from_record(get_adapter().order_record(order), context)


def find_host_order(order_key: str):
    """The host order with this key (through the adapter), or None when there is none (or
    the key cannot be one). Database errors are raised: "could not look" is not "not found"."""
    from ecom_ai.adapters import get_adapter

    adapter = get_adapter()
    hook = getattr(adapter, "get_order", None)
    if callable(hook):
        return hook(order_key)
    model = adapter.order_model
    if model is None:
        return None
    try:
        pk = model._meta.pk.to_python(order_key)
    except (ValidationError, ValueError, TypeError):
        return None
    return model._default_manager.filter(pk=pk).first()


def assess_order_by_key(order_key: str, context: dict | None = None, *, retry_transient: bool = False):
    """Assess the host order ``order_key`` now (what the Celery task runs).

    Never raises, except ``TransientScoringError`` with ``retry_transient`` (a database error
    that another try may not meet: the task retries with backoff, and its last try passes
    ``retry_transient=False`` so that an ``error`` assessment is stored for review).
    """
    try:
        order = find_host_order(order_key)
        if order is None:
            logger.warning("ecom_ai: order %r not found for fraud scoring", order_key)
            return None
        facts = facts_for_order(order, context)
    except TRANSIENT_DB_ERRORS as exc:
        _drop_broken_connection()
        if retry_transient:
            logger.warning("ecom_ai: could not load order %r for fraud scoring (%s); retrying later", order_key, exc)
            raise TransientScoringError(order_key, exc) from exc
        logger.exception("ecom_ai: could not load order %r for fraud scoring", order_key)
        return _error_assessment(OrderFacts(order_key=str(order_key)), exc)
    except Exception as exc:
        logger.exception("ecom_ai: could not read order %r through the adapter", order_key)
        return _error_assessment(OrderFacts(order_key=str(order_key)), exc)
    return assess_facts(facts, retry_transient=retry_transient)


#: ``(order_key, context) -> None``: how ``assess_order`` hands an order to the background.
#: The task layer plugs ``ecom_ai.tasks.fraud.enqueue_assessment`` in at start-up
#: (``EcomAIConfig.ready``), so this domain package never imports ``ecom_ai.tasks``.
_dispatcher = None


def set_dispatcher(dispatcher) -> None:
    """Set the callable that queues an assessment (``None``: score in-process after commit)."""
    global _dispatcher
    _dispatcher = dispatcher


def assess_order(order, *, request=None, sync: bool | None = None):
    """Assess a host order.

    ``sync=True`` scores it now and returns the ``FraudAssessment``. Otherwise (the default,
    ``ECOM_AI["FRAUD_ASYNC"]``) a Celery task is sent once the current transaction commits
    and ``None`` is returned. ``request`` (optional) adds the client IP and visitor key; when
    it is not given, the request being handled (``VisitorMiddleware``'s ``current_request()``)
    is used. Never raises: errors are logged and, where possible, stored as an assessment to review.
    """
    if not ecom_settings.FRAUD_ENABLED:
        return None
    try:
        if request is None:
            from ecom_ai.events.middleware import current_request

            request = current_request()
        context = request_context(request)
        if sync is None:
            sync = not ecom_settings.FRAUD_ASYNC
        if sync:
            return assess_facts(facts_for_order(order, context))
        from ecom_ai.adapters import get_adapter

        order_key = get_adapter().order_key(order)
        if _dispatcher is not None:
            _dispatcher(order_key, context)
        else:  # no task layer wired (ecom_ai's app not ready): score in-process after commit
            transaction.on_commit(lambda: assess_order_by_key(order_key, context), robust=True)
        return None
    except Exception as exc:
        logger.exception("ecom_ai: fraud assessment of an order could not be started")
        try:
            from ecom_ai.adapters import get_adapter

            return _error_assessment(OrderFacts(order_key=get_adapter().order_key(order)), exc)
        except Exception:
            return None


def decide(assessment, decision: str, *, user=None, note: str = ""):
    """Record a reviewer's decision (approve / fraud) on an assessment: it becomes its label.

    ``assessment`` is a ``FraudAssessment`` or its primary key. The row is locked and updated
    in one transaction of its own (joining the caller's, if any), so two reviewers deciding at
    once are applied one after the other. Returns the updated assessment; raises
    ``FraudAssessment.DoesNotExist`` when there is none.
    """
    from ecom_ai.models.fraud import FraudAssessment

    pk = assessment.pk if isinstance(assessment, FraudAssessment) else assessment
    by = getattr(user, "get_username", lambda: "")() if user is not None else ""
    with transaction.atomic():
        locked = FraudAssessment.objects.select_for_update().get(pk=pk)
        locked.decide(decision, by=by, note=note)
    return locked


def decide_many(assessments, decision: str, *, user=None) -> int:
    """``decide()`` for a queryset of assessments, in one transaction; returns how many."""
    by = getattr(user, "get_username", lambda: "")() if user is not None else ""
    count = 0
    with transaction.atomic():
        for assessment in assessments.select_related(None).select_for_update(of=("self",)):
            assessment.decide(decision, by=by)
            count += 1
    return count
