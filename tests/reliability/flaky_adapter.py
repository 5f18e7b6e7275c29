"""A sandbox adapter whose order look-up fails with a database error the first ``FAILURES`` times."""

from django.db import OperationalError
from shop.ecom_ai_adapter import SandboxShopAdapter

state = {"failures": 0, "calls": 0}


class FlakyOrderAdapter(SandboxShopAdapter):
    def get_order(self, order_key):
        state["calls"] += 1
        if state["failures"] > 0:
            state["failures"] -= 1
            raise OperationalError("server closed the connection unexpectedly")
        model = self.order_model
        return model._default_manager.filter(pk=order_key).first()
