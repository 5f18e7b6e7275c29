"""API v1 routes. Each domain contributes its own list of url patterns."""
urlpatterns: list = []
