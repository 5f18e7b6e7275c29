"""How ecom_ai reads this shop: the default adapter plus the order facts fraud scoring uses."""
from ecom_ai.adapters import DefaultShopAdapter


class SandboxShopAdapter(DefaultShopAdapter):
    def order_extra(self, order):
        return {
            "ip_address": order.ip_address or "",
            "device_id": order.device_id,
            "payment_fingerprint": order.payment_fingerprint,
            "shipping_country": order.shipping_country,
            "billing_country": order.billing_country,
            "channel": order.channel,
            "tracking_number": order.tracking_number,
        }
