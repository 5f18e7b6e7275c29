"""Views that send ``order_placed`` without a request, as django-oscar does (sync and async)."""

from asgiref.sync import sync_to_async
from django.http import JsonResponse
from django.urls import path

from ecom_ai.events.middleware import current_request
from ecom_ai.signals import order_placed


def _place(order_pk):
    from shop.models import Order

    order = Order.objects.get(pk=order_pk)
    order_placed.send(sender=Order, order=order)  # no request, like oscar.apps.order.signals.order_placed
    return {"current": current_request() is not None}


def place_sync(request, pk):
    return JsonResponse(_place(pk))


async def place_async(request, pk):
    seen = current_request() is request
    result = await sync_to_async(_place)(pk)
    return JsonResponse({**result, "same_request": seen})


def hello(request):
    return JsonResponse({})


urlpatterns = [
    path("hello/", hello),
    path("place/<int:pk>/", place_sync),
    path("place-async/<int:pk>/", place_async),
]
