from django.shortcuts import render

from shop.models import Product


def home(request):
    return render(request, "shop/home.html", {"products": Product.objects.all()[:24]})
