"""The sandbox shop's own catalog and orders. ecom_ai reads them through the adapter."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse


class Category(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ("name",)
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("shop:category", args=[self.slug])


class Product(models.Model):
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=10, decimal_places=2)
    stock = models.PositiveIntegerField(default=10)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("title",)

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("shop:product", args=[self.slug])

    @property
    def hue(self) -> int:
        """A stable colour per category for the placeholder picture (the sandbox has no images)."""
        return (self.category_id or 0) * 47 % 360

    @property
    def monogram(self) -> str:
        words = [w for w in self.title.split() if w[:1].isalpha()]
        return "".join(w[0] for w in words[-2:]).upper() or "•"


class Order(models.Model):
    STATUS_CHOICES = [
        ("placed", "Placed"),
        ("paid", "Paid"),
        ("shipped", "Shipped"),
        ("delivered", "Delivered"),
        ("cancelled", "Cancelled"),
        ("refunded", "Refunded"),
    ]
    number = models.CharField(max_length=20, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    email = models.EmailField()
    total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="USD")
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default="placed")
    tracking_number = models.CharField(max_length=40, blank=True)
    shipping_name = models.CharField(max_length=120, blank=True)
    shipping_address = models.TextField(blank=True)
    shipping_country = models.CharField(max_length=2, blank=True)
    billing_country = models.CharField(max_length=2, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    device_id = models.CharField(max_length=64, blank=True)
    payment_fingerprint = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=20, default="web")
    # one-time token of the checkout form: a double submit finds the first order instead of
    # placing a second one
    checkout_token = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self):
        return f"Order {self.number}"

    def save(self, *args, **kwargs):
        if not self.number:
            self.number = uuid.uuid4().hex[:10].upper()
        super().save(*args, **kwargs)


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField(default=1)
    price = models.DecimalField(max_digits=10, decimal_places=2)

    def __str__(self):
        return f"{self.quantity} × {self.product}"

    @property
    def total(self) -> Decimal:
        return self.price * self.quantity
