"""API v1 routes (under ``/ecom-ai/api/v1/``). Each domain has its own url module."""
from importlib import import_module

urlpatterns: list = []

for _name in ("events", "recommend", "fraud", "chat", "ml"):
    try:
        _module = import_module(f"ecom_ai.api.{_name}.urls")
    except ModuleNotFoundError as exc:  # a domain not built yet
        if exc.name not in (f"ecom_ai.api.{_name}", f"ecom_ai.api.{_name}.urls"):
            raise
        continue
    urlpatterns += _module.urlpatterns
