"""API v1 routes (under ``/ecom-ai/api/v1/``). Each domain has its own url module."""
from ecom_ai.api.chat import urls as chat_urls
from ecom_ai.api.events import urls as events_urls
from ecom_ai.api.fraud import urls as fraud_urls
from ecom_ai.api.marketing import urls as marketing_urls
from ecom_ai.api.ml import urls as ml_urls
from ecom_ai.api.recommend import urls as recommend_urls

urlpatterns: list = [
    *events_urls.urlpatterns,
    *recommend_urls.urlpatterns,
    *fraud_urls.urlpatterns,
    *chat_urls.urlpatterns,
    *ml_urls.urlpatterns,
    *marketing_urls.urlpatterns,
]
