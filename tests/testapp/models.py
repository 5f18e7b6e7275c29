"""A host shop with UUID keys and its own field names, to test the adapter against."""

import uuid

from django.conf import settings
from django.db import models


class Gadget(models.Model):
    uid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    blurb = models.TextField(blank=True)
    family = models.CharField(max_length=50, blank=True)
    cost = models.DecimalField(max_digits=10, decimal_places=2, null=True)
    available = models.BooleanField(default=True)

    def get_absolute_url(self):
        return f"/gadgets/{self.uid}/"


class Purchase(models.Model):
    uid = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    ref = models.CharField(max_length=20, unique=True)
    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    contact_email = models.EmailField(blank=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    placed = models.DateTimeField(auto_now_add=True)


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="items")
    gadget = models.ForeignKey(Gadget, on_delete=models.CASCADE)
    qty = models.IntegerField(default=1)


class GadgetOffer(models.Model):
    """Price and stock kept on a related model (as django-oscar keeps them on stock records)."""

    gadget = models.ForeignKey(Gadget, on_delete=models.CASCADE, related_name="offers")
    price = models.DecimalField(max_digits=10, decimal_places=2)
    stock = models.IntegerField(default=0)


class Tag(models.Model):
    """Categories linked many-to-many (as django-oscar links products and categories)."""

    name = models.CharField(max_length=50)
    gadgets = models.ManyToManyField(Gadget, related_name="tags")
