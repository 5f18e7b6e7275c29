"""ecom_ai: recommendations, customer-service chat and fraud flags for Django shops."""

__version__ = "0.1.0"


def track(*args, **kwargs):
    """Record one event. See :func:`ecom_ai.events.tracking.track`."""
    from ecom_ai.events.tracking import track as _track

    return _track(*args, **kwargs)


def identify(*args, **kwargs):
    """Stitch a visitor key to a user. See :func:`ecom_ai.events.identity.identify`."""
    from ecom_ai.events.identity import identify as _identify

    return _identify(*args, **kwargs)


def record_order(*args, **kwargs):
    """Record a placed host order: purchase events, fraud assessment, ``order_recorded``.
    See :func:`ecom_ai.orders.bridge.record_order`."""
    from ecom_ai.orders.bridge import record_order as _record_order

    return _record_order(*args, **kwargs)
