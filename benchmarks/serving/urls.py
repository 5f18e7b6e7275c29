"""The sandbox's URLs plus ``/ping/``: the trivial DRF endpoint the serving benchmark compares with."""

from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.response import Response
from django.urls import path

from sandbox.urls import urlpatterns as sandbox_urlpatterns


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def ping(request):
    return Response({"ok": True})


urlpatterns = [path("ping/", ping, name="ping"), *sandbox_urlpatterns]
