"""A simulated customer base with known treatment effects: for the sandbox, tests and demos.

``simulated_customers(n, rng)`` draws customer states (the keys of ``customer_state``);
``simulated_outcome(state, arm, rng)`` draws whether the customer buys and for how much under
an arm, with effects that depend on the customer's traits:

* ``ten`` (10 % off) lifts conversion a lot for discount-sensitive customers (``coupon_share``
  high) and barely for loyal frequent buyers, who would buy anyway (the discount is then lost);
* ``ship`` (free shipping) lifts conversion of new customers and of app shoppers;
* ``none`` is the baseline.

So the best arm differs by segment, and a learned policy can beat every fixed one.
"""

from __future__ import annotations

import math
import random

BASE_ARMS = ("none", "ten", "ship")


def simulated_customers(n: int, rng: random.Random) -> list[dict]:
    customers = []
    for _ in range(n):
        is_new = rng.random() < 0.35
        orders = 0 if is_new else min(40, int(rng.expovariate(1 / 4)) + 1)
        aov = round(rng.lognormvariate(3.7, 0.4), 2)
        share_app = rng.random() * 0.8 if rng.random() < 0.4 else 0.0
        customers.append(
            {
                "orders_total": orders,
                "orders_90d": min(orders, int(rng.random() * 3)) if orders else 0,
                "orders_365d": min(orders, int(rng.random() * 6)) if orders else 0,
                "monetary_365d": round(orders * aov * rng.random(), 2),
                "average_order_value": aov if orders else 0.0,
                "days_since_last_order": 9999.0 if is_new else round(rng.uniform(1, 300), 1),
                "days_since_last_visit": round(rng.uniform(0, 60), 1),
                "visits_30d": int(rng.expovariate(1 / 6)),
                "views_30d": int(rng.expovariate(1 / 4)),
                "cart_adds_30d": int(rng.expovariate(1 / 1.5)),
                "share_app": round(share_app, 3),
                "share_web": round(1 - share_app, 3),
                "share_store": 0.0,
                "share_email": 0.0,
                "coupon_share": round(rng.betavariate(0.7, 1.6), 3) if orders else 0.0,
                "offers_received": int(rng.expovariate(1 / 2)),
                "days_since_last_offer": round(rng.uniform(1, 400), 1),
                "days_since_last_redemption": 9999.0,
                "is_new": is_new,
                "logged_in": True,
                "channel": "app" if share_app > 0.4 else "web",
                "country": "",
            }
        )
    return customers


def conversion_probability(state: dict, arm: str) -> float:
    loyal = min(1.0, math.log1p(state.get("orders_total", 0)) / 3.0)
    base = 0.04 + 0.10 * loyal + 0.02 * min(state.get("cart_adds_30d", 0), 3)
    lift = 0.0
    if arm == "ten":
        lift = 0.35 * state.get("coupon_share", 0.0) ** 2 + 0.005
    elif arm == "ship":
        lift = 0.15 * (1.0 if state.get("is_new") else 0.0) + 0.10 * state.get("share_app", 0.0)
    return min(0.95, base + lift)


def simulated_outcome(state: dict, arm: str, rng: random.Random) -> tuple[bool, float, float]:
    """``(converted, order value, discount)`` of one customer under ``arm``."""
    if rng.random() >= conversion_probability(state, arm):
        return False, 0.0, 0.0
    value = round(max(5.0, (state.get("average_order_value") or 40.0) * rng.uniform(0.7, 1.3)), 2)
    discount = round(0.10 * value, 2) if arm == "ten" else (4.90 if arm == "ship" else 0.0)
    return True, value, discount


def expected_net_value(state: dict, arm: str) -> float:
    """The true expected net revenue of ``arm`` for ``state`` (what an oracle policy maximizes)."""
    value = state.get("average_order_value") or 40.0
    discount = 0.10 * value if arm == "ten" else (4.90 if arm == "ship" else 0.0)
    return conversion_probability(state, arm) * (value - discount)
