"""A minimal host urlconf for the login-stitching tests: Django's own LoginView."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(next_page="/"), name="login"),
    path("ecom-ai/", include("ecom_ai.urls")),
]
