"""The sandbox shop: catalog, session cart, checkout, accounts and a staff order list."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required, user_passes_test
from django.core.paginator import Paginator
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

import ecom_ai.signals
from ecom_ai.marketing.coupons import CouponRefused
from shop.cart import MAX_QUANTITY, Cart
from shop.forms import CheckoutForm, SignUpForm
from shop.models import Category, Order, OrderLine, Product
from shop.tracking import track

PAGE_SIZE = 24
PLACED_ORDERS_KEY = "placed_orders"  # order numbers this session may view without login
CHECKOUT_TOKENS_KEY = "checkout_tokens"  # checkout token -> order number (double submits)


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


def home(request):
    products = Product.objects.select_related("category").order_by("-created_at", "-pk")
    return render(request, "shop/home.html", {"page": _page(request, products)})


def category(request, slug):
    cat = get_object_or_404(Category, slug=slug)
    products = cat.products.select_related("category").order_by("title", "pk")
    return render(request, "shop/category.html", {"category": cat, "page": _page(request, products)})


def search(request):
    query = request.GET.get("q", "").strip()[:100]
    products = Product.objects.none()
    if query:
        words = query.split()[:6]
        condition = Q()
        for word in words:
            condition &= Q(title__icontains=word) | Q(description__icontains=word) | Q(category__name__icontains=word)
        products = Product.objects.filter(condition).select_related("category").order_by("title", "pk")
    page = _page(request, products)
    if query and not request.GET.get("page"):
        track(request, "search", context={"query": query, "results": page.paginator.count})
    return render(request, "shop/search.html", {"query": query, "page": page})


def product(request, slug):
    item = get_object_or_404(Product.objects.select_related("category"), slug=slug)
    related = (
        Product.objects.filter(category=item.category)
        .exclude(pk=item.pk)
        .select_related("category")
        .order_by("-stock", "pk")[:4]
    )
    return render(
        request,
        "shop/product.html",
        {
            "product": item,
            "related": related,
            "in_cart": Cart(request.session).quantity_of(item),
            "max_quantity": min(MAX_QUANTITY, item.stock),
        },
    )


# --- cart ----------------------------------------------------------------------------------


def _quantity(request, default=1) -> int | None:
    raw = request.POST.get("quantity", default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return value if 0 <= value <= MAX_QUANTITY else None


def _back(request, fallback):
    target = request.POST.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(fallback)


def cart_view(request):
    cart = Cart(request.session)
    lines = cart.lines()
    return render(request, "shop/cart.html", {"lines": lines, "total": Cart.total_of(lines)})


@require_POST
def cart_add(request, product_id):
    item = get_object_or_404(Product, pk=product_id)
    quantity = _quantity(request)
    if not quantity:
        messages.error(request, f"Quantity must be a whole number between 1 and {MAX_QUANTITY}.")
        return redirect(item.get_absolute_url())
    cart = Cart(request.session)
    if cart.quantity_of(item) + quantity > item.stock:
        messages.error(request, f"Sorry, only {item.stock} of “{item.title}” left in stock.")
        return redirect(item.get_absolute_url())
    cart.add(item, quantity)
    track(
        request,
        "add_to_cart",
        item_key=str(item.pk),
        quantity=quantity,
        value=item.price * quantity,
        context={"source": request.POST.get("source", "product")},
    )
    messages.success(request, f"Added {quantity} × “{item.title}” to your cart.")
    return _back(request, "shop:cart")


@require_POST
def cart_update(request, product_id):
    item = get_object_or_404(Product, pk=product_id)
    cart = Cart(request.session)
    quantity = _quantity(request, default=None)
    if quantity is None:
        messages.error(request, f"Quantity must be a whole number between 0 and {MAX_QUANTITY}.")
        return redirect("shop:cart")
    before = cart.quantity_of(item)
    if quantity > item.stock:
        messages.error(request, f"Sorry, only {item.stock} of “{item.title}” left in stock.")
        return redirect("shop:cart")
    cart.set(item, quantity)
    if quantity > before:
        track(
            request,
            "add_to_cart",
            item_key=str(item.pk),
            quantity=quantity - before,
            value=item.price * (quantity - before),
            context={"source": "cart"},
        )
    elif quantity < before:
        track(
            request,
            "remove_from_cart",
            item_key=str(item.pk),
            quantity=before - quantity,
            value=item.price * (before - quantity),
            context={"source": "cart"},
        )
    return redirect("shop:cart")


@require_POST
def cart_remove(request, product_id):
    item = get_object_or_404(Product, pk=product_id)
    removed = Cart(request.session).remove(item)
    if removed:
        track(
            request,
            "remove_from_cart",
            item_key=str(item.pk),
            quantity=removed,
            value=item.price * removed,
            context={"source": "cart"},
        )
        messages.info(request, f"Removed “{item.title}” from your cart.")
    return redirect("shop:cart")


# --- checkout --------------------------------------------------------------------------------


class OutOfStock(Exception):
    def __init__(self, product):
        self.product = product


def _client_ip(request) -> str | None:
    # The sandbox runs behind no proxy: REMOTE_ADDR is the client. A real shop behind a proxy
    # would read its trusted X-Forwarded-For here.
    return request.META.get("REMOTE_ADDR") or None


def _remember_order(request, order, token):
    placed = [n for n in request.session.get(PLACED_ORDERS_KEY, []) if isinstance(n, str)][-19:]
    request.session[PLACED_ORDERS_KEY] = placed + [order.number]
    tokens = request.session.get(CHECKOUT_TOKENS_KEY, {})
    tokens = dict(list(tokens.items())[-19:]) if isinstance(tokens, dict) else {}
    tokens[token] = order.number
    request.session[CHECKOUT_TOKENS_KEY] = tokens


def card_fingerprint(card_number: str) -> str:
    """A keyed fingerprint of the card number (HMAC-SHA-256 with ``CARD_FINGERPRINT_KEY``, by
    default derived from ``SECRET_KEY``): the same card gives the same value, so fraud
    scoring can link orders, but unlike an unsalted SHA-256 it cannot be reversed by hashing
    every possible card number (a PAN has too little entropy) without the key."""
    if not card_number:
        return ""
    key = getattr(settings, "CARD_FINGERPRINT_KEY", "") or settings.SECRET_KEY
    return hmac.new(f"shop.card-fingerprint:{key}".encode(), card_number.encode(), hashlib.sha256).hexdigest()[:32]


def place_order(request, cart_lines, data) -> Order:
    """Save the order and its lines, take the stock, tell ecom_ai. All or nothing.

    A second submit of the same checkout form (same token) returns the first order.
    """
    existing = Order.objects.filter(checkout_token=data["token"]).first()
    if existing:
        return existing
    user = request.user if request.user.is_authenticated else None
    fingerprint = card_fingerprint(data["card_number"])
    try:
        return _save_order(request, cart_lines, data, user, fingerprint)
    except IntegrityError:
        existing = Order.objects.filter(checkout_token=data["token"]).first()
        if existing is None:
            raise
        return existing


def _save_order(request, cart_lines, data, user, fingerprint) -> Order:
    from ecom_ai import marketing

    total = Cart.total_of(cart_lines)
    discount = data.get("discount") or Decimal("0")
    with transaction.atomic():
        order = Order.objects.create(
            checkout_token=data["token"],
            user=user,
            email=data["email"],
            shipping_name=data["name"],
            shipping_address=data["address"],
            shipping_country=data["country"],
            billing_country=data["billing_country"],
            ip_address=_client_ip(request),
            device_id=getattr(request, "ecom_ai_visitor", "")[:64],
            payment_fingerprint=fingerprint,
            channel="web",
            total=max(Decimal("0"), total - discount),
        )
        lines = []
        for line in cart_lines:
            taken = Product.objects.filter(pk=line.product.pk, stock__gte=line.quantity).update(
                stock=F("stock") - line.quantity
            )
            if not taken:
                raise OutOfStock(line.product)
            lines.append(OrderLine(order=order, product=line.product, quantity=line.quantity, price=line.product.price))
        OrderLine.objects.bulk_create(lines)
        if data.get("coupon_code"):  # a personal offer's code: used once (refused -> the whole order rolls back)
            marketing.redeem(
                data["coupon_code"], order, order_value=total, user_key=str(user.pk) if user is not None else ""
            )
        ecom_ai.signals.order_placed.send(sender=Order, order=order, request=request)
    return order


def _check_coupon(request, form, total) -> bool:
    """Validate the optional coupon code (ecom_ai's personal offers) and put its discount in the form data."""
    from ecom_ai.marketing.coupons import validate

    code = form.cleaned_data.get("coupon_code", "").strip()
    form.cleaned_data["discount"] = Decimal("0")
    if not code:
        return True
    user_key = str(request.user.pk) if request.user.is_authenticated else ""
    coupon = validate(code, user_key=user_key)
    if coupon is None:
        form.add_error("coupon_code", "This code is not valid: unknown, already used, expired or not yours.")
        return False
    form.cleaned_data["discount"] = coupon.offer.discount_for(total) if coupon.offer is not None else Decimal("0")
    return True


def checkout(request):
    cart = Cart(request.session)
    cart_lines = cart.lines()
    tokens = request.session.get(CHECKOUT_TOKENS_KEY, {})
    if request.method == "POST":
        token = request.POST.get("token", "")
        if isinstance(tokens, dict) and token in tokens:  # double submit: show the first order
            return redirect("shop:order", number=tokens[token])
        if not cart_lines:
            messages.error(request, "Your cart is empty.")
            return redirect("shop:cart")
        form = CheckoutForm(request.POST)
        if form.is_valid() and _check_coupon(request, form, Cart.total_of(cart_lines)):
            try:
                order = place_order(request, cart_lines, form.cleaned_data)
            except CouponRefused as exc:
                form.add_error("coupon_code", str(exc))
                return render(
                    request,
                    "shop/checkout.html",
                    {"form": form, "lines": cart_lines, "total": Cart.total_of(cart_lines)},
                )
            except OutOfStock as exc:
                messages.error(
                    request, f"Sorry, “{exc.product.title}” no longer has enough stock. Please update your cart."
                )
                return redirect("shop:cart")
            # purchases are recorded by ecom_ai's order bridge when the order commits
            # (order_placed, sent by place_order): one event per line, never twice
            _remember_order(request, order, form.cleaned_data["token"])
            cart.clear()
            return redirect("shop:order", number=order.number)
    else:
        if not cart_lines:
            return redirect("shop:cart")
        initial = {"token": uuid.uuid4().hex}
        if request.user.is_authenticated:
            initial.update(name=request.user.get_full_name(), email=request.user.email)
            last = request.user.orders.first()
            if last:
                initial.update(
                    address=last.shipping_address, country=last.shipping_country, billing_country=last.billing_country
                )
        form = CheckoutForm(initial=initial)
    return render(
        request,
        "shop/checkout.html",
        {
            "form": form,
            "lines": cart_lines,
            "total": Cart.total_of(cart_lines),
        },
    )


def order_detail(request, number):
    order = get_object_or_404(Order.objects.select_related("user"), number=number)
    allowed = number in request.session.get(PLACED_ORDERS_KEY, []) or (
        request.user.is_authenticated and (order.user_id == request.user.pk or request.user.is_staff)
    )
    if not allowed:  # never show someone else's order; don't even confirm it exists
        raise Http404("No such order.")
    lines = order.lines.select_related("product")
    return render(
        request,
        "shop/order_detail.html",
        {
            "order": order,
            "lines": lines,
            "just_placed": number in request.session.get(PLACED_ORDERS_KEY, []),
        },
    )


# --- accounts ----------------------------------------------------------------------------------


@login_required
def my_orders(request):
    orders = request.user.orders.prefetch_related("lines").order_by("-created_at")
    return render(request, "shop/my_orders.html", {"page": _page(request, orders)})


def signup(request):
    if request.user.is_authenticated:
        return redirect("shop:home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}!")
        return redirect("shop:home")
    return render(request, "registration/signup.html", {"form": form})


@user_passes_test(lambda u: u.is_active and u.is_staff)
def staff_orders(request):
    orders = Order.objects.select_related("user").order_by("-created_at", "-pk")
    status = request.GET.get("status", "")
    if status in dict(Order.STATUS_CHOICES):
        orders = orders.filter(status=status)
    return render(
        request,
        "shop/staff_orders.html",
        {
            "page": _page(request, orders),
            "status": status,
            "statuses": Order.STATUS_CHOICES,
            "admin_change_url": reverse("admin:index"),
        },
    )
