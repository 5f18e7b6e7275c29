"""The fraud feature vocabulary: names and descriptions of the features of one order.

A leaf module (it imports nothing from ecom_ai): the rule language (``fraud.rules``), which
``models.fraud`` uses to validate a rule's condition on save, reads its names from here, so
importing the models never pulls in the feature computation (``fraud.features``).
"""

from __future__ import annotations

from datetime import timedelta

WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
IDENTIFIERS = ("user", "email", "ip", "device", "payment")
QUANTITY_ANOMALY = 10  # units of one item in one order

# name -> description (the rule language's vocabulary and the model's inputs)
NUMERIC_FEATURES: dict[str, str] = {
    "amount": "order total (0 when unknown)",
    "account_age_days": "days from the account's sign-up to this order (empty for guests / unknown)",
    "minutes_since_signup": "minutes from sign-up to this order (empty for guests / unknown)",
    "is_guest": "1 when the order has no user account",
    "first_order": "1 when no earlier order of this user/email was assessed",
    "previous_orders": "earlier assessed orders of this user/email",
    "amount_vs_user_mean": "amount / mean of this customer's earlier orders (empty without history)",
    "amount_vs_shop_median": "amount / median of the shop's recent orders in this currency",
    **{
        f"orders_{ident}_{win}": f"earlier orders/attempts with the same {ident} in the last {win}"
        for ident in IDENTIFIERS
        for win in WINDOWS
    },
    "accounts_on_device": "other accounts/emails seen on this device in 30 days",
    "accounts_on_ip": "other accounts/emails seen from this IP in 30 days",
    "accounts_on_payment": "other accounts/emails using this payment fingerprint in 30 days",
    "ip_country_mismatch_shipping": "1 when the IP's country differs from the shipping country",
    "ip_country_mismatch_billing": "1 when the IP's country differs from the billing country",
    "shipping_billing_mismatch": "1 when shipping and billing countries differ",
    "line_count": "order lines",
    "total_quantity": "units ordered",
    "max_line_quantity": "largest quantity on one line",
    "quantity_anomaly": f"1 when one line has {QUANTITY_ANOMALY} or more units",
    "events_24h": "events of this user/visitor in the 24 hours before the order",
    "pages_viewed": "pages/products viewed in the 24 hours before the order",
    "items_viewed": "distinct products viewed in the 24 hours before the order",
    "cart_adds": "add-to-cart events in the 24 hours before the order",
    "seconds_on_site": "length of the session that ended in this order, in seconds",
    "hour_of_day": "hour of the order (UTC)",
    "ip_malformed": "1 when the IP address could not be read",
    "ip_private": "1 when the IP is private/loopback (behind a proxy?)",
    "currency_unknown": "1 when the currency is not a known ISO 4217 code",
    "amount_absurd": "1 when the amount is negative, missing or above FRAUD_ABSURD_AMOUNT",
    "missing_fields": "how many of email, IP, device, payment fingerprint, countries are missing",
}
CATEGORICAL_FEATURES: dict[str, str] = {
    "channel": "sales channel (web, app, store...)",
    "currency": "ISO 4217 currency code",
    "ip_country": "country of the IP (ISO 3166 alpha-2, from the adapter or a header)",
    "shipping_country": "shipping country",
    "billing_country": "billing country",
    "email_domain": "domain of the email address",
}
FEATURE_NAMES = tuple(NUMERIC_FEATURES) + tuple(CATEGORICAL_FEATURES)
