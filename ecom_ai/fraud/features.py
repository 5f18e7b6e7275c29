"""Fraud features of one order, from the adapter's ``OrderRecord``, the event log and earlier
assessments.

Everything is computed *as of the order's time* (``placed_at``) from rows placed before it,
so the features stored with an assessment are exactly what a model trained on them later
would have seen (no leakage when they become training data).

Bad input never raises: a missing or malformed field gives ``None`` (unknown) or ``""`` for
that feature and a *gap* (``FeatureResult.gaps``), which scoring lists as a reason.
"""

from __future__ import annotations

import ipaddress
import logging
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from ecom_ai.fraud.feature_names import (  # noqa: F401  (re-exported: the vocabulary's historical home)
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    IDENTIFIERS,
    NUMERIC_FEATURES,
    QUANTITY_ANOMALY,
    WINDOWS,
)
from ecom_ai.resilient_cache import cache

logger = logging.getLogger(__name__)

SHARING_WINDOW = timedelta(days=30)
SESSION_GAP = timedelta(minutes=30)
BEHAVIOUR_WINDOW = timedelta(hours=24)

ISO_4217 = frozenset(
    """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS
GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW
KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD
NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS
VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL
""".split()
)


@dataclass
class OrderFacts:
    """What scoring knows about one order (neutral, from the adapter, the API or a request)."""

    order_key: str
    number: str = ""
    user_key: str = ""
    email: str = ""
    amount: object = None  # anything; parsed in compute_features
    currency: str = ""
    placed_at: datetime | None = None
    ip: str = ""
    device: str = ""
    payment_fingerprint: str = ""
    shipping_country: str = ""
    billing_country: str = ""
    ip_country: str = ""
    channel: str = ""
    visitor_key: str = ""
    signed_up_at: datetime | None = None
    lines: list = field(default_factory=list)  # (item_key, quantity, price) or OrderLineRecord
    #: the shop's own attributes (``FRAUD_EXTRA_FEATURES``): the adapter's ``order_extra`` dict,
    #: or the assess API's ``extra`` object; ``extra_source`` says which ("order_extra" / "api")
    extra: dict = field(default_factory=dict)
    extra_source: str = "order_extra"

    @classmethod
    def from_record(cls, record, context: dict | None = None) -> "OrderFacts":
        """From the adapter's ``OrderRecord`` (its ``extra`` carries IP, device...) plus request context."""
        extra = dict(getattr(record, "extra", None) or {})
        context = context or {}

        def pick(*names):
            for source in (extra, context):
                for name in names:
                    value = source.get(name)
                    if value not in (None, ""):
                        return value
            return ""

        return cls(
            order_key=str(record.key),
            number=str(record.number or ""),
            user_key=str(record.user_key or ""),
            email=str(record.email or ""),
            amount=record.total,
            currency=str(record.currency or ""),
            placed_at=record.created_at,
            ip=str(pick("ip_address", "ip")),
            device=str(pick("device_id", "device")),
            payment_fingerprint=str(pick("payment_fingerprint")),
            shipping_country=str(pick("shipping_country")),
            billing_country=str(pick("billing_country")),
            ip_country=str(pick("ip_country")),
            channel=str(pick("channel")),
            visitor_key=str(pick("visitor_key")),
            signed_up_at=_as_datetime(pick("account_created_at", "signed_up_at")),
            lines=[(ln.item_key, ln.quantity, ln.price) for ln in (record.lines or [])],
            extra=extra,
        )


@dataclass
class FeatureResult:
    features: dict
    gaps: list  # [(code, message)]
    identifiers: dict  # normalised email/ip/device/payment used for lists and storage
    amount: Decimal | None
    placed_at: datetime
    #: report-only attributes (``FRAUD_EXTRA_FEATURES`` with ``report_only``): never features
    report: dict = field(default_factory=dict)


def _as_datetime(value):
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, dt_timezone.utc)
    return None


def _clean_country(value) -> str:
    value = str(value or "").strip().upper()
    return value if len(value) == 2 and value.isalpha() else ""


def _parse_amount(value) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return amount if amount.is_finite() else None


def known_currencies() -> frozenset:
    from ecom_ai.conf import settings as ecom_settings

    extra = ecom_settings.FRAUD_CURRENCIES
    return ISO_4217 | frozenset(str(c).upper() for c in (extra or ())) | {ecom_settings.DEFAULT_CURRENCY.upper()}


def _ratio(value, base):
    if value is None or not base:
        return None
    return round(float(value) / float(base), 4)


def compute_features(facts: OrderFacts) -> FeatureResult:
    """The named features of one order (see ``NUMERIC_FEATURES`` / ``CATEGORICAL_FEATURES``).

    A sequence of named parts, each filling its group of features and noting the gaps it
    finds: identifiers, amount and currency, countries and channel, order lines, account,
    history (velocities, sharing, customer), behaviour before the purchase, and the shop's
    own extra attributes (``FRAUD_EXTRA_FEATURES``).
    """
    placed_at = _as_datetime(facts.placed_at) or timezone.now()
    f: dict = {}
    gaps: list[tuple[str, str]] = []
    ids = _identifier_features(facts, f, gaps)
    amount = _amount_features(facts.amount, f, gaps)
    currency = _currency_feature(facts.currency, f, gaps)
    _place_features(facts, ids, placed_at, f, gaps)
    _line_features(facts.lines, f, gaps)
    _account_features(facts.signed_up_at, ids["user"], placed_at, f)
    _history_features(f, facts.order_key, ids, amount, currency, placed_at)
    _behaviour_features(f, ids["user"], str(facts.visitor_key or "")[:64], placed_at)
    for name in FEATURE_NAMES:
        f.setdefault(name, None)
    report = _extra_features(facts, f, gaps)
    return FeatureResult(features=f, gaps=gaps, identifiers=ids, amount=amount, placed_at=placed_at, report=report)


def _identifier_features(facts: OrderFacts, f: dict, gaps: list) -> dict:
    """Normalised email, IP, device, payment fingerprint and user (``ip_malformed``, ``ip_private``)."""
    email = str(facts.email or "").strip().lower()[:254]
    if email and ("@" not in email or email.startswith("@") or email.endswith("@")):
        gaps.append(("email_malformed", f"email {email[:60]!r} is not a valid address"))
    elif not email:
        gaps.append(("email_missing", "no email address"))
    ip_raw = str(facts.ip or "").strip()[:64]
    ip = ""
    f["ip_malformed"] = 0
    f["ip_private"] = 0
    if ip_raw:
        try:
            parsed = ipaddress.ip_address(ip_raw)
            ip = str(parsed)
            f["ip_private"] = int(parsed.is_private or parsed.is_loopback)
        except ValueError:
            f["ip_malformed"] = 1
            gaps.append(("ip_malformed", f"IP address {ip_raw[:40]!r} is malformed"))
    else:
        gaps.append(("ip_missing", "no IP address"))
    device = str(facts.device or "").strip()[:128]
    payment = str(facts.payment_fingerprint or "").strip()[:128]
    if not device:
        gaps.append(("device_missing", "no device id"))
    if not payment:
        gaps.append(("payment_missing", "no payment fingerprint"))
    user_key = str(facts.user_key or "").strip()[:64]
    return {"user": user_key, "email": email, "ip": ip or ip_raw, "device": device, "payment": payment}


def _amount_features(raw, f: dict, gaps: list) -> Decimal | None:
    """``amount`` and ``amount_absurd``; returns the parsed amount (``None`` when unknown)."""
    from ecom_ai.conf import settings as ecom_settings

    amount = _parse_amount(raw)
    f["amount_absurd"] = 0
    if amount is None:
        f["amount_absurd"] = 1
        gaps.append(
            (
                "amount_missing",
                f"amount {str(raw)[:30]!r} is missing or not a number" if raw not in (None, "") else "no order amount",
            )
        )
    elif amount < 0 or amount > Decimal(str(ecom_settings.FRAUD_ABSURD_AMOUNT)):
        f["amount_absurd"] = 1
        gaps.append(("amount_absurd", f"amount {amount} is outside the plausible range"))
    f["amount"] = float(amount) if amount is not None else 0.0
    return amount


def _currency_feature(raw, f: dict, gaps: list) -> str:
    """``currency`` and ``currency_unknown``; returns the currency code."""
    currency = str(raw or "").strip().upper()[:8]
    f["currency_unknown"] = int(currency not in known_currencies())
    if f["currency_unknown"]:
        gaps.append(
            ("currency_unknown", f"currency {currency!r} is not a known ISO 4217 code" if currency else "no currency")
        )
    f["currency"] = currency
    return currency


def _place_features(facts: OrderFacts, ids: dict, placed_at, f: dict, gaps: list) -> None:
    """Countries and their mismatches, channel, email domain, missing fields, hour of day."""
    ship, bill, ipc = (
        _clean_country(facts.shipping_country),
        _clean_country(facts.billing_country),
        _clean_country(facts.ip_country),
    )
    f["shipping_country"], f["billing_country"], f["ip_country"] = ship, bill, ipc
    f["ip_country_mismatch_shipping"] = int(ipc != ship) if ipc and ship else None
    f["ip_country_mismatch_billing"] = int(ipc != bill) if ipc and bill else None
    f["shipping_billing_mismatch"] = int(ship != bill) if ship and bill else None
    for code, value, raw, what in (
        ("shipping_country", ship, facts.shipping_country, "shipping country"),
        ("billing_country", bill, facts.billing_country, "billing country"),
    ):
        if not value:
            gaps.append(
                (f"{code}_missing", f"{what} {str(raw)[:20]!r} is not a 2-letter country code" if raw else f"no {what}")
            )
    email = ids["email"]
    f["channel"] = str(facts.channel or "").strip().lower()[:32]
    f["email_domain"] = email.rsplit("@", 1)[-1][:100] if "@" in email else ""
    valid_ip = ids["ip"] if not f["ip_malformed"] else ""
    f["missing_fields"] = sum(not v for v in (email, valid_ip, ids["device"], ids["payment"], ship, bill))
    f["hour_of_day"] = placed_at.astimezone(dt_timezone.utc).hour


def _line_features(lines, f: dict, gaps: list) -> None:
    """Line count, quantities and the quantity anomaly flag."""
    quantities = []
    for line in lines or []:
        qty = line[1] if isinstance(line, (list, tuple)) else getattr(line, "quantity", 1)
        try:
            quantities.append(max(0, int(qty)))
        except (TypeError, ValueError):
            gaps.append(("quantity_malformed", f"line quantity {str(qty)[:20]!r} is not a number"))
    f["line_count"] = len(lines or [])
    f["total_quantity"] = sum(quantities)
    f["max_line_quantity"] = max(quantities) if quantities else 0
    f["quantity_anomaly"] = int(f["max_line_quantity"] >= QUANTITY_ANOMALY)


def _account_features(signed_up_at, user_key: str, placed_at, f: dict) -> None:
    """Guest flag and the time from sign-up to this order."""
    f["is_guest"] = int(not user_key)
    signed_up = _as_datetime(signed_up_at) or (_signup_time(user_key) if user_key else None)
    if signed_up is not None:
        delta = (placed_at - signed_up).total_seconds()
        f["minutes_since_signup"] = round(max(0.0, delta) / 60.0, 3)
        f["account_age_days"] = round(max(0.0, delta) / 86400.0, 4)
    else:
        f["minutes_since_signup"] = None
        f["account_age_days"] = None


def _extra_features(facts: OrderFacts, f: dict, gaps: list) -> dict:
    """The shop's own attributes declared in ``FRAUD_EXTRA_FEATURES`` (see ``ecom_ai.fraud.extras``):
    features go into ``f``; the report-only ones are returned."""
    from ecom_ai.fraud.extras import extract

    features, report, problems = extract(facts.extra, facts.extra_source)
    f.update(features)
    gaps.extend(problems)
    return report


def _signup_time(user_key: str):
    """The sign-up time of a user: the adapter's ``user_joined_at`` or the user model's ``date_joined``."""
    from ecom_ai.adapters import get_adapter

    adapter = get_adapter()
    hook = getattr(adapter, "user_joined_at", None)
    try:
        if callable(hook):
            return _as_datetime(hook(user_key))
        from django.contrib.auth import get_user_model

        model = get_user_model()
        if not any(f.name == "date_joined" for f in model._meta.get_fields()):
            return None
        pk = model._meta.pk.to_python(user_key)
        return _as_datetime(model._default_manager.filter(pk=pk).values_list("date_joined", flat=True).first())
    except Exception:  # a key of another type, a missing table...: unknown
        return None


_FIELD = {"user": "user_key", "email": "email", "ip": "ip", "device": "device", "payment": "payment_fingerprint"}


def _history_features(f: dict, order_key: str, ids: dict, amount, currency: str, placed_at) -> None:
    from ecom_ai.models.fraud import FraudAssessment

    from django.db.models import Q

    base = FraudAssessment.objects.exclude(order_key=order_key).filter(placed_at__lt=placed_at)
    window_start = placed_at - max(max(WINDOWS.values()), SHARING_WINDOW)
    present = {ident: value for ident, value in ids.items() if value}
    rows = []
    if present:  # one query for all identifiers (SQLite and PostgreSQL OR the per-column indexes)
        match = Q()
        for ident, value in present.items():
            match |= Q(**{_FIELD[ident]: value})
        rows = list(
            base.filter(match, placed_at__gte=window_start)
            .order_by("-placed_at")
            .values_list("placed_at", "user_key", "email", "ip", "device", "payment_fingerprint")[:5000]
        )
    column = {"user": 1, "email": 2, "ip": 3, "device": 4, "payment": 5}
    me = {ids["user"], ids["email"]} - {""}
    for ident in IDENTIFIERS:
        value = present.get(ident)
        if not value:
            for win in WINDOWS:
                f[f"orders_{ident}_{win}"] = None
            if ident in ("device", "ip", "payment"):
                f[f"accounts_on_{ident}"] = None
            continue
        mine = [r for r in rows if r[column[ident]] == value]
        for win, span in WINDOWS.items():
            f[f"orders_{ident}_{win}"] = sum(1 for r in mine if r[0] >= placed_at - span)
        if ident in ("device", "ip", "payment"):
            others = {r[1] or r[2] for r in mine if r[0] >= placed_at - SHARING_WINDOW and (r[1] or r[2])}
            f[f"accounts_on_{ident}"] = len(others - me)
    # customer's history: same user (or same email for guests)
    who = {"user_key": ids["user"]} if ids["user"] else ({"email": ids["email"]} if ids["email"] else None)
    if who:
        previous = list(base.filter(**who).order_by("-placed_at").values_list("amount", flat=True)[:50])
        f["previous_orders"] = len(previous)
        f["first_order"] = int(not previous)
        amounts = [float(a) for a in previous if a is not None]
        f["amount_vs_user_mean"] = _ratio(amount, statistics.fmean(amounts)) if amounts and amount is not None else None
    else:
        f["previous_orders"], f["first_order"], f["amount_vs_user_mean"] = 0, 1, None
    median = shop_median_amount(currency) if amount is not None else None
    f["amount_vs_shop_median"] = _ratio(amount, median)


def shop_median_amount(currency: str):
    """Median amount of the shop's last 500 assessed orders in ``currency`` (cached 10 minutes)."""
    from ecom_ai.models.fraud import FraudAssessment

    key = f"ecom_ai:fraud:median:{currency or '-'}"
    value = cache.get(key)
    if value is None:
        amounts = [
            float(a)
            for a in FraudAssessment.objects.filter(currency=currency, amount__gt=0)
            .order_by("-placed_at")
            .values_list("amount", flat=True)[:500]
        ]
        value = statistics.median(amounts) if len(amounts) >= 5 else 0.0
        cache.set(key, value, 600)
    return value or None


def _behaviour_features(f: dict, user_key: str, visitor_key: str, placed_at) -> None:
    from django.db.models import Q

    from ecom_ai.models.events import Event

    f.update(events_24h=0, pages_viewed=0, items_viewed=0, cart_adds=0, seconds_on_site=0.0)
    who = Q()
    if user_key:
        who |= Q(user_key=user_key)
    if visitor_key:
        who |= Q(visitor_key=visitor_key)
    if not who:
        return
    rows = list(
        # before the order: its own purchase events (the order bridge stamps them with the order's time) do not count
        Event.objects.filter(who, occurred_at__gte=placed_at - BEHAVIOUR_WINDOW, occurred_at__lt=placed_at)
        .order_by("-occurred_at")
        .values_list("event_type", "item_key", "occurred_at", "channel")[:500]
    )
    f["events_24h"] = len(rows)
    f["pages_viewed"] = sum(1 for r in rows if r[0] in ("view", "page_view"))
    f["items_viewed"] = len({r[1] for r in rows if r[0] == "view" and r[1]})
    f["cart_adds"] = sum(1 for r in rows if r[0] == "add_to_cart")
    if rows:
        start = last = placed_at
        for row in rows:  # newest first: walk back while gaps stay under SESSION_GAP
            if last - row[2] > SESSION_GAP:
                break
            start = last = row[2]
        f["seconds_on_site"] = round(max(0.0, (placed_at - start).total_seconds()), 1)
        if not f.get("channel"):
            f["channel"] = rows[0][3]
