from shop.cart import Cart
from shop.models import Category


def cart(request):
    count = Cart(request.session).count if hasattr(request, "session") else 0
    return {"cart_count": count}


def categories(request):
    return {"nav_categories": Category.objects.all()}
