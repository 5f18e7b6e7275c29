"""API v1 routes (under ``/ecom-ai/api/v1/``). Each domain has its own url module.

The last route answers a JSON 404 for every other path under the API (a path parameter of the
wrong type included), instead of the host's HTML 404 page: keep it last.
"""

from django.http import JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

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


@csrf_exempt  # a 404, not a CSRF 403 page in HTML
def api_not_found(request, *args, **kwargs):
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns.append(re_path(r"^.*$", api_not_found, name="api-not-found"))  # last: see the module docstring
