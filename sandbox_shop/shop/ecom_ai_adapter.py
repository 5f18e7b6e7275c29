"""How ecom_ai reads this shop: the default adapter plus the order facts fraud scoring uses."""

from ecom_ai.adapters import DefaultShopAdapter
from shop.seed_catalog import IP_PREFIX

#: The demo's "geo-IP": the seed gives each country its own first octet. A real shop takes
#: the country from its CDN's header (ECOM_AI["FRAUD_IP_COUNTRY_HEADER"]) or a GeoIP database.
COUNTRY_OF_FIRST_OCTET = {str(prefix): country for country, prefix in IP_PREFIX.items()}


def demo_ip_country(ip) -> str:
    return COUNTRY_OF_FIRST_OCTET.get(str(ip or "").split(".", 1)[0], "")


class SandboxShopAdapter(DefaultShopAdapter):
    def order_extra(self, order):
        return {
            "ip_address": order.ip_address or "",
            "ip_country": demo_ip_country(order.ip_address),
            "device_id": order.device_id,
            "payment_fingerprint": order.payment_fingerprint,
            "shipping_country": order.shipping_country,
            "billing_country": order.billing_country,
            "channel": order.channel,
            "tracking_number": order.tracking_number,
        }
