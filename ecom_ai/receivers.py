"""Signal receivers ecom_ai connects at start-up (see EcomAIConfig.ready).

Each domain keeps its receivers in ``ecom_ai/<domain>/receivers.py``; a new domain with
receivers adds its module here.
"""

from ecom_ai.catalog import receivers as catalog_receivers  # noqa: F401
from ecom_ai.chat import receivers as chat_receivers  # noqa: F401
from ecom_ai.events import receivers as events_receivers  # noqa: F401
from ecom_ai.fraud import receivers as fraud_receivers  # noqa: F401
from ecom_ai.orders import receivers as orders_receivers  # noqa: F401
from ecom_ai.recommend import receivers as recommend_receivers  # noqa: F401
from ecom_ai.marketing import receivers as marketing_receivers  # noqa: F401
