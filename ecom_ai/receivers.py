"""Signal receivers ecom_ai connects at start-up (see EcomAIConfig.ready).

Each domain keeps its receivers in ``ecom_ai/<domain>/receivers.py``.
"""
from importlib import import_module

for _name in ("events", "catalog", "recommend", "fraud", "chat", "orders"):
    try:
        import_module(f"ecom_ai.{_name}.receivers")
    except ModuleNotFoundError as exc:  # a domain without receivers
        if exc.name != f"ecom_ai.{_name}.receivers":
            raise
