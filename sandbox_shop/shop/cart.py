"""The session cart: ``request.session["cart"] = {"<product pk>": quantity}``."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shop.models import Product

SESSION_KEY = "cart"
MAX_QUANTITY = 99


@dataclass
class CartLine:
    product: Product
    quantity: int

    @property
    def total(self) -> Decimal:
        return self.product.price * self.quantity


class Cart:
    def __init__(self, session):
        self.session = session
        raw = session.get(SESSION_KEY)
        self.items: dict[str, int] = {}
        if isinstance(raw, dict):
            for key, qty in raw.items():
                if str(key).isdigit() and isinstance(qty, int) and qty > 0:
                    self.items[str(key)] = min(qty, MAX_QUANTITY)

    def _save(self):
        self.session[SESSION_KEY] = self.items
        self.session.modified = True

    def quantity_of(self, product) -> int:
        return self.items.get(str(product.pk), 0)

    def add(self, product, quantity: int = 1) -> int:
        new = min(self.quantity_of(product) + quantity, MAX_QUANTITY)
        self.items[str(product.pk)] = new
        self._save()
        return new

    def set(self, product, quantity: int) -> None:
        if quantity <= 0:
            self.remove(product)
            return
        self.items[str(product.pk)] = min(quantity, MAX_QUANTITY)
        self._save()

    def remove(self, product) -> int:
        removed = self.items.pop(str(product.pk), 0)
        self._save()
        return removed

    def clear(self) -> None:
        self.items = {}
        self._save()

    def lines(self) -> list[CartLine]:
        products = Product.objects.select_related("category").in_bulk([int(k) for k in self.items])
        lines = [CartLine(products[int(k)], q) for k, q in self.items.items() if int(k) in products]
        if len(lines) != len(self.items):  # a product was deleted meanwhile
            self.items = {str(line.product.pk): line.quantity for line in lines}
            self._save()
        return lines

    @property
    def count(self) -> int:
        return sum(self.items.values())

    def __len__(self):
        return len(self.items)

    @staticmethod
    def total_of(lines) -> Decimal:
        return sum((line.total for line in lines), Decimal("0"))
