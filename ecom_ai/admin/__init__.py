"""ecom_ai's admin, one module per domain (imported for their registrations)."""
from importlib import import_module

for _name in ("events", "catalog", "registry", "recommend", "fraud", "chat"):
    try:
        import_module(f"ecom_ai.admin.{_name}")
    except ModuleNotFoundError as exc:  # a domain not built yet
        if exc.name != f"ecom_ai.admin.{_name}":
            raise
