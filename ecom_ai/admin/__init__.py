"""ecom_ai's admin, one module per domain (imported for their registrations)."""

from ecom_ai.admin import catalog, chat, events, fraud, marketing, recommend, registry  # noqa: F401
