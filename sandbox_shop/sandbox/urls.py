from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("ecom-ai/", include("ecom_ai.urls")),
    path("ecom-ai/api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("", include("shop.urls")),
]
