"""``manage.py sandbox_seed``: deterministic demo data for the sandbox shop and ecom_ai.

Creates categories and products, customers with taste profiles, three months of
omnichannel sessions (web, app, mini_program, store) written as ``ecom_ai`` events, the
orders those sessions placed, a handful of fraud-like orders, an ``admin``/``admin``
superuser, and syncs ecom_ai's catalog mirror. The same ``--seed`` and ``--until`` give the
same data. On a database that already has products it says so and does nothing, unless
``--reset``.
"""

from __future__ import annotations

import csv
import math
import os
import random
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import ROUND_HALF_UP, Decimal

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management import call_command, get_commands
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils.text import slugify

from ecom_ai.models import Event, VisitorIdentity
from shop import seed_catalog as words
from shop.models import Category, Order, OrderLine, Product

SEED_EMAIL_DOMAIN = "sandbox.example"
CENT = Decimal("0.01")
CHANNEL_WEIGHTS = {"web": 55, "app": 25, "mini_program": 8, "store": 12}


@contextmanager
def historical_timestamps(*models):
    """Let bulk_create keep the ``created_at`` values we give (they are auto_now_add)."""
    fields = [m._meta.get_field("created_at") for m in models]
    for field in fields:
        field.auto_now_add = False
    try:
        yield
    finally:
        for field in fields:
            field.auto_now_add = True


def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


class Seeder:
    """Generates everything from one ``random.Random``; writes with bulk_create."""

    def __init__(self, *, seed, products, customers, days, until, stdout):
        self.rng = random.Random(seed)
        self.n_products = products
        self.n_customers = customers
        self.days = days
        self.until = until
        self.start = until - timedelta(days=days)
        self.out = stdout
        self.events: list[Event] = []
        self.orders: list[tuple[Order, list[OrderLine]]] = []
        self.identities: dict[tuple[str, str], VisitorIdentity] = {}
        self.fraud_orders = 0

    # --- small helpers ---------------------------------------------------------------------
    def key(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def weighted(self, pairs):
        items, weights = zip(*pairs)
        return self.rng.choices(items, weights=weights)[0]

    def session_start(self) -> datetime:
        """A moment in the window: busier recently, in the evening and at weekends."""
        day = self.days * (1 - math.sqrt(self.rng.random()) * 0.999)  # denser near `until`
        base = self.until - timedelta(days=day)
        hour = self.weighted([(h, 1 + 3 * (18 <= h <= 22) + 2 * (11 <= h <= 14) - 0.7 * (h < 7)) for h in range(24)])
        moment = base.replace(hour=hour, minute=self.rng.randrange(60), second=self.rng.randrange(60))
        if moment.weekday() < 5 and self.rng.random() < 0.15:
            weekend = moment + timedelta(days=5 - moment.weekday())  # nudge some sessions to the weekend
            if weekend < self.until - timedelta(hours=1):
                moment = weekend
        return min(max(moment, self.start), self.until - timedelta(minutes=30))

    def ip_for(self, country: str) -> str:
        prefix = words.IP_PREFIX.get(country, 198)
        return f"{prefix}.{self.rng.randrange(256)}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"

    # --- catalog -----------------------------------------------------------------------------
    def make_catalog(self):
        names = list(words.CATEGORIES)
        categories = Category.objects.bulk_create([Category(name=name, slug=slugify(name)) for name in names])
        self.categories = {c.name: c for c in categories}
        per_cat = [self.n_products // len(names)] * len(names)
        for i in range(self.n_products - sum(per_cat)):
            per_cat[i] += 1
        products = []
        oldest = self.until - timedelta(days=self.days + 90)
        for cat_name, count in zip(names, per_cat):
            spec = words.CATEGORIES[cat_name]
            lo, hi = spec["price"]
            titles = set()
            for _ in range(count):
                for _attempt in range(20):
                    title = f"{self.rng.choice(spec['brands'])} {self.rng.choice(spec['mods'])} {self.rng.choice(spec['nouns'])}"
                    if self.rng.random() < 0.35:
                        title += f" – {self.rng.choice(words.COLOURS)}"
                    if title not in titles:
                        break
                titles.add(title)
                # log-uniform price ending in .99 (or .00 for big tickets)
                price = math.exp(self.rng.uniform(math.log(lo), math.log(hi)))
                price = money(int(price) + (0.99 if price < 200 else 0))
                features = self.rng.sample(spec["features"], 3)
                description = (
                    f"The {title} comes with {features[0]} and {features[1]}. "
                    f"Part of our {cat_name.lower()} range, it is designed for everyday use and "
                    f"finished with {features[2]}.\n"
                    f"Free returns within 30 days. Ships in {self.rng.choice(['1–2', '2–3', '3–5'])} business days."
                )
                stock = 0 if self.rng.random() < 0.05 else int(self.rng.triangular(3, 250, 25))
                created = oldest + timedelta(seconds=self.rng.randrange(int((self.until - oldest).total_seconds())))
                products.append(
                    Product(
                        category=self.categories[cat_name],
                        title=title[:200],
                        description=description,
                        price=price,
                        stock=stock,
                        created_at=created,
                    )
                )
        self.rng.shuffle(products)  # ids don't follow categories
        for i, product in enumerate(products, start=1):
            product.slug = f"{slugify(product.title)[:180]}-{i}"
        with historical_timestamps(Product):
            Product.objects.bulk_create(products, batch_size=500)
        self.products = list(Product.objects.select_related("category").order_by("pk"))
        # popularity: a long tail inside each category
        self.by_category: dict[str, list[Product]] = {}
        self.popularity: dict[int, float] = {}
        for p in self.products:
            self.by_category.setdefault(p.category.name, []).append(p)
            self.popularity[p.pk] = self.rng.paretovariate(1.2)
        # complements: products often bought together with each product
        partners: dict[str, list[str]] = {}
        for a, b in words.COMPLEMENTS:
            partners.setdefault(a, []).append(b)
            partners.setdefault(b, []).append(a)
        self.companions: dict[int, list[Product]] = {}
        for p in self.products:
            pool_cats = partners.get(p.category.name, []) + [p.category.name]
            pool = [q for c in pool_cats for q in self.by_category.get(c, []) if q.pk != p.pk]
            self.companions[p.pk] = self.rng.sample(pool, min(3, len(pool))) if pool else []
        self.partners = partners

    def pick_product(self, cat_name: str) -> Product:
        items = self.by_category[cat_name]
        return self.rng.choices(items, weights=[self.popularity[p.pk] for p in items])[0]

    # --- people ------------------------------------------------------------------------------
    def make_customers(self):
        User = get_user_model()
        password = make_password("demo", salt="sandboxseed")
        cat_names = list(self.categories)
        users, self.profiles = [], []
        for n in range(1, self.n_customers + 1):
            first, last = self.rng.choice(words.FIRST_NAMES), self.rng.choice(words.LAST_NAMES)
            joined = self.until - timedelta(days=self.rng.uniform(self.days * 0.2, 400))
            users.append(
                User(
                    username=f"customer{n}",
                    first_name=first,
                    last_name=last,
                    email=f"customer{n}@{SEED_EMAIL_DOMAIN}",
                    password=password,
                    date_joined=joined,
                )
            )
            favourite = self.rng.sample(cat_names, self.rng.choice([1, 2, 2, 3]))
            # some taste spills over to complementary categories
            extra = [c for f in favourite for c in self.partners.get(f, [])]
            country = self.weighted(words.COUNTRY_WEIGHTS)
            channels = ["web"]
            if self.rng.random() < 0.5:
                channels.append("app")
            if self.rng.random() < (0.6 if country == "CN" else 0.1):
                channels.append("mini_program")
            if self.rng.random() < 0.3:
                channels.append("store")
            self.profiles.append(
                {
                    "favourite": favourite,
                    "extra": extra,
                    "country": country,
                    "activity": self.rng.lognormvariate(0, 0.7),
                    "visitors": {
                        ch: [self.key() for _ in range(1 + (ch == "web" and self.rng.random() < 0.3))]
                        for ch in channels
                    },
                    "ips": [self.ip_for(country) for _ in range(self.rng.choice([1, 1, 2]))],
                    "cards": [self.key()[:32] for _ in range(self.rng.choice([1, 1, 2]))],
                    "address": f"{self.rng.randrange(1, 200)} {self.rng.choice(words.STREETS)}\n"
                    f"{words.CITIES.get(country, 'Capital City')}",
                }
            )
        User.objects.bulk_create(users, batch_size=500)
        self.users = list(
            User.objects.filter(email__endswith=f"@{SEED_EMAIL_DOMAIN}", username__startswith="customer").order_by("pk")
        )
        assert len(self.users) == len(self.profiles)

    # --- events and orders -----------------------------------------------------------------
    def event(self, event_type, channel, visitor, user, when, **fields):
        self.events.append(
            Event(
                event_type=event_type,
                channel=channel,
                visitor_key=visitor,
                user_key=str(user.pk) if user is not None else "",
                occurred_at=when,
                received_at=when,
                client_time=when if channel != "store" else None,
                source="seed",
                **fields,
            )
        )

    def identify(self, visitor, user, channel, when):
        key = (visitor, str(user.pk))
        known = self.identities.get(key)
        if known is None:
            self.identities[key] = VisitorIdentity(
                visitor_key=visitor, user_key=str(user.pk), channel=channel, first_seen=when, last_seen=when
            )
        else:
            known.first_seen = min(known.first_seen, when)
            known.last_seen = max(known.last_seen, when)

    def place(
        self,
        *,
        user,
        profile,
        channel,
        visitor,
        when,
        cart,
        ip=None,
        device=None,
        card=None,
        ship=None,
        bill=None,
        email=None,
        status=None,
    ):
        """An order for ``cart`` ({product: qty}) and its purchase events."""
        number = f"{self.rng.getrandbits(40):010X}"
        total = sum((p.price * q for p, q in cart.items()), Decimal("0"))
        age = (self.until - when).days
        if status is None:
            roll = self.rng.random()
            status = (
                "refunded"
                if roll < 0.02
                else "cancelled"
                if roll < 0.04
                else "delivered"
                if age > 10
                else "shipped"
                if age > 3
                else "paid"
                if age > 1
                else "placed"
            )
        country = ship or profile["country"]
        order = Order(
            number=number,
            user=user,
            email=email or (user.email if user else ""),
            total=total,
            status=status,
            shipping_name=(user.get_full_name() if user else "Guest"),
            shipping_address=profile["address"],
            shipping_country=country,
            billing_country=bill or country,
            ip_address=ip or self.rng.choice(profile["ips"]),
            device_id=device or visitor,
            payment_fingerprint=card or self.rng.choice(profile["cards"]),
            channel=channel,
            created_at=when,
            tracking_number=f"1Z{self.rng.getrandbits(48):012X}" if status in ("shipped", "delivered") else "",
        )
        lines = [OrderLine(product=p, quantity=q, price=p.price) for p, q in cart.items()]
        self.orders.append((order, lines))
        for p, q in cart.items():
            self.event(
                "purchase",
                channel,
                visitor,
                user,
                when,
                item_key=str(p.pk),
                quantity=q,
                value=p.price * q,
                context={"order": number},
            )
            if status == "refunded":
                self.event(
                    "refund",
                    channel,
                    visitor,
                    user,
                    when + timedelta(days=self.rng.randint(3, 20)),
                    item_key=str(p.pk),
                    quantity=q,
                    value=p.price * q,
                    context={"order": number},
                )
        return order

    def browse_session(self, user, profile, channel, visitor, when, logged_in):
        """Views, clicks, searches, cart changes and maybe a purchase in one visit."""
        who = user if logged_in else None
        roll = self.rng.random()
        if roll < 0.8:
            cats = profile["favourite"]
        elif roll < 0.92 and profile["extra"]:
            cats = profile["extra"]
        else:
            cats = list(self.categories)
        cat = self.rng.choice(cats)
        t = when
        step = lambda: timedelta(seconds=self.rng.randint(8, 150))  # noqa: E731
        if channel == "web":
            self.event("page_view", channel, visitor, who, t, context={"path": "/"})
        cart: dict[Product, int] = {}
        if self.rng.random() < 0.3:
            noun = self.rng.choice(words.CATEGORIES[cat]["nouns"])
            query = (
                noun.lower()
                if self.rng.random() < 0.7
                else f"{self.rng.choice(words.CATEGORIES[cat]['mods']).lower()} {noun.lower()}"
            )
            t += step()
            self.event("search", channel, visitor, who, t, context={"query": query, "results": self.rng.randint(3, 60)})
        viewed = []
        for _ in range(self.rng.randint(1, 8)):
            product = (
                self.pick_product(cat)
                if self.rng.random() < 0.85 or not viewed
                else self.rng.choice(self.companions[viewed[-1].pk] or [viewed[-1]])
            )
            t += step()
            if channel in ("web", "app", "mini_program") and self.rng.random() < 0.6:
                self.event(
                    "click",
                    channel,
                    visitor,
                    who,
                    t,
                    item_key=str(product.pk),
                    context={"list": self.rng.choice(["home", "category", "search", "same_category"])},
                )
                t += timedelta(seconds=1)
            self.event("view", channel, visitor, who, t, item_key=str(product.pk))
            viewed.append(product)
            if product.stock and self.rng.random() < 0.16:
                qty = 1 if self.rng.random() < 0.85 else self.rng.randint(2, 3)
                t += step()
                self.event(
                    "add_to_cart",
                    channel,
                    visitor,
                    who,
                    t,
                    item_key=str(product.pk),
                    quantity=qty,
                    value=product.price * qty,
                )
                cart[product] = cart.get(product, 0) + qty
                # the companion effect: what "also bought" should find
                companion = self.companions[product.pk]
                if companion and self.rng.random() < 0.35:
                    extra = self.rng.choice(companion)
                    if extra.stock:
                        t += step()
                        self.event("view", channel, visitor, who, t, item_key=str(extra.pk))
                        t += step()
                        self.event(
                            "add_to_cart",
                            channel,
                            visitor,
                            who,
                            t,
                            item_key=str(extra.pk),
                            quantity=1,
                            value=extra.price,
                        )
                        cart[extra] = cart.get(extra, 0) + 1
        if cart and self.rng.random() < 0.25:
            dropped = self.rng.choice(list(cart))
            t += step()
            self.event(
                "remove_from_cart",
                channel,
                visitor,
                who,
                t,
                item_key=str(dropped.pk),
                quantity=cart[dropped],
                value=dropped.price * cart[dropped],
            )
            del cart[dropped]
        if cart and self.rng.random() < 0.55:
            t += step()
            if not logged_in:  # logs in at checkout: the visitor is stitched to the user
                logged_in = True
            self.identify(visitor, user, channel, t)
            self.place(user=user, profile=profile, channel=channel, visitor=visitor, when=t, cart=cart)
        elif logged_in:
            self.identify(visitor, user, channel, when)

    def store_visit(self, user, profile, visitor, when):
        """A till receipt: one to three products bought with the loyalty card."""
        cat = self.rng.choice(profile["favourite"])
        cart = {}
        for _ in range(self.rng.choice([1, 1, 2, 3])):
            product = self.pick_product(cat if self.rng.random() < 0.7 else self.rng.choice(list(self.categories)))
            if product.stock:
                cart[product] = cart.get(product, 0) + 1
        if cart:
            self.identify(visitor, user, "store", when)
            self.place(
                user=user,
                profile=profile,
                channel="store",
                visitor=visitor,
                when=when,
                cart=cart,
                ip="",
                status="delivered" if (self.until - when).days > 0 else "paid",
            )

    def make_sessions(self):
        total_weight = sum(p["activity"] for p in self.profiles)
        target_sessions = self.n_customers * 12
        for user, profile in zip(self.users, self.profiles):
            n = max(1, round(target_sessions * profile["activity"] / total_weight))
            for _ in range(n):
                channel = self.weighted([(c, CHANNEL_WEIGHTS[c]) for c in profile["visitors"]])
                visitor = self.rng.choice(profile["visitors"][channel])
                when = max(self.session_start(), user.date_joined + timedelta(minutes=5))
                if when >= self.until:
                    continue
                if channel == "store":
                    self.store_visit(user, profile, visitor, when)
                else:
                    logged_in = channel != "web" or self.rng.random() < 0.6
                    self.browse_session(user, profile, channel, visitor, when, logged_in)
        # anonymous visitors who never log in
        for _ in range(self.n_customers * 2):
            visitor = self.key()
            profile = {"favourite": self.rng.sample(list(self.categories), 2), "extra": [], "country": "US"}
            for _ in range(self.rng.choice([1, 1, 2, 3])):
                self.anonymous_session(profile, visitor, self.session_start())

    def anonymous_session(self, profile, visitor, when):
        cat = self.rng.choice(profile["favourite"])
        t = when
        self.event("page_view", "web", visitor, None, t, context={"path": "/"})
        for _ in range(self.rng.randint(1, 5)):
            product = self.pick_product(cat)
            t += timedelta(seconds=self.rng.randint(5, 120))
            self.event("view", "web", visitor, None, t, item_key=str(product.pk))
            if product.stock and self.rng.random() < 0.05:
                t += timedelta(seconds=self.rng.randint(5, 60))
                self.event(
                    "add_to_cart", "web", visitor, None, t, item_key=str(product.pk), quantity=1, value=product.price
                )

    # --- fraud-like orders ---------------------------------------------------------------------
    def make_fraud(self):
        """Fraud patterns a model can learn and their legitimate look-alikes (``shop.seed_fraud``)."""
        from shop.seed_fraud import FraudPatterns

        self.fraud = FraudPatterns(self)
        self.fraud_orders = self.fraud.make()

    # --- writing -------------------------------------------------------------------------------
    def write_orders_and_events(self):
        orders = [o for o, _ in self.orders]
        with historical_timestamps(Order):
            Order.objects.bulk_create(orders, batch_size=500)
        saved = dict(Order.objects.filter(number__in=[o.number for o in orders]).values_list("number", "pk"))
        lines = []
        for order, order_lines in self.orders:
            for line in order_lines:
                line.order_id = saved[order.number]
                lines.append(line)
        OrderLine.objects.bulk_create(lines, batch_size=1000)
        # decrement stock by what was sold, never below zero
        sold: dict[int, int] = {}
        for _, order_lines in self.orders:
            for line in order_lines:
                sold[line.product_id] = sold.get(line.product_id, 0) + line.quantity
        changed = []
        for product in self.products:
            if product.pk in sold and product.stock:
                product.stock = max(product.stock - sold[product.pk] // 3, 0)  # restocked meanwhile
                changed.append(product)
        Product.objects.bulk_update(changed, ["stock"], batch_size=500)
        self.events.sort(key=lambda e: e.occurred_at)
        Event.objects.bulk_create(self.events, batch_size=2000)
        VisitorIdentity.objects.bulk_create(list(self.identities.values()), batch_size=1000)
        return len(orders), len(lines)

    def run(self):
        self.make_catalog()
        self.make_customers()
        self.make_sessions()
        self.make_fraud()
        return self.write_orders_and_events()


class Command(BaseCommand):
    help = (
        "Fill the sandbox shop with deterministic demo data: products, customers, three months of "
        "omnichannel events and orders, a few fraud-like orders, and an admin/admin superuser."
    )

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=2000, help="number of products (default 2000)")
        parser.add_argument("--customers", type=int, default=1000, help="number of customers (default 1000)")
        parser.add_argument("--days", type=int, default=90, help="days of history (default 90)")
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument(
            "--until",
            default=None,
            help="end of the history, YYYY-MM-DD (default: today, UTC); fix it for identical data",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete the shop's products, orders, seeded customers and all ecom_ai data first",
        )
        parser.add_argument("--no-sync", action="store_true", help="don't sync ecom_ai's catalog mirror")
        parser.add_argument(
            "--no-fraud",
            action="store_true",
            help="don't assess the seeded orders for fraud nor import their chargebacks",
        )

    def handle(self, *args, products, customers, days, seed, until, reset, no_sync, no_fraud=False, **options):
        if products < 1 or customers < 1 or days < 1:
            raise CommandError("--products, --customers and --days must be at least 1.")
        if products > 200_000 or customers > 100_000 or days > 3650:
            raise CommandError(
                "That is more than the sandbox is meant for (max 200000 products, 100000 customers, 3650 days)."
            )
        if until:
            try:
                end = datetime.strptime(until, "%Y-%m-%d").replace(tzinfo=dt_timezone.utc)
            except ValueError as exc:
                raise CommandError(f"--until must be a date like 2026-01-31, got {until!r}.") from exc
        else:
            now = datetime.now(dt_timezone.utc)
            end = now.replace(hour=0, minute=0, second=0, microsecond=0)
        if Product.objects.exists() or Category.objects.exists():
            if not reset:
                self.stdout.write(
                    self.style.WARNING(
                        f"The shop is already seeded ({Product.objects.count()} products, {Order.objects.count()} "
                        "orders): nothing done. Use --reset to wipe it and seed again."
                    )
                )
                self.ensure_admin()
                return
            self.reset()

        started = time.monotonic()
        seeder = Seeder(seed=seed, products=products, customers=customers, days=days, until=end, stdout=self.stdout)
        with transaction.atomic():
            n_orders, n_lines = seeder.run()
            n_offers = self.seed_offers(seeder)
            self.ensure_admin()
        self.stdout.write(
            self.style.SUCCESS(
                f"Seeded {len(seeder.products)} products in {len(seeder.categories)} categories, "
                f"{len(seeder.users)} customers, {len(seeder.events)} events "
                f"({len(seeder.identities)} visitor identities), {n_orders} orders with {n_lines} lines "
                f"({seeder.fraud_orders} fraud-like), {n_offers} past offer decisions in "
                f"{time.monotonic() - started:.1f} s."
            )
        )
        if not no_sync:
            if "ecom_ai_sync_catalog" in get_commands():
                call_command("ecom_ai_sync_catalog", stdout=self.stdout, stderr=self.stderr)
            else:
                self.stdout.write("ecom_ai_sync_catalog is not available: catalog mirror not synced.")
        if not no_fraud:
            self.assess_orders(seeder)
        if "ecom_ai_load_chat_pack" in get_commands():
            # the chat's default intents and the sample knowledge-base articles (demo policies)
            call_command("ecom_ai_load_chat_pack", "--articles", stdout=self.stdout, stderr=self.stderr)

    def assess_orders(self, seeder):
        """Score every seeded order as the checkout would have (``ecom_ai_assess_orders``: oldest
        first, features only see earlier orders); the demo's reviewers decide every order sent to
        review; then the refunded fraud orders come back as chargebacks
        (``ecom_ai_import_chargebacks``). Decisions and chargebacks are the fraud model's labels."""
        commands = get_commands()
        if "ecom_ai_assess_orders" not in commands:
            self.stdout.write("ecom_ai_assess_orders is not available: orders not assessed for fraud.")
            return
        started = time.monotonic()
        with transaction.atomic():  # one commit instead of one per order (SQLite)
            call_command("ecom_ai_assess_orders", stdout=self.stdout, stderr=self.stderr)
        self.stdout.write(f"Fraud assessment took {time.monotonic() - started:.1f} s.")
        from shop.seed_fraud import review_queue

        with transaction.atomic():
            review_queue(seeder.fraud.fraud_numbers, self.stdout)
        chargebacks = list(
            Order.objects.filter(status="refunded", number__in=seeder.fraud.fraud_numbers).order_by("created_at", "pk")
        )
        if not chargebacks or "ecom_ai_import_chargebacks" not in commands:
            return
        with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", delete=False) as handle:
            writer = csv.writer(handle)
            writer.writerow(["order", "date", "reason"])
            for order in chargebacks:
                when = min(order.created_at + timedelta(days=seeder.rng.randint(5, 25)), seeder.until)
                writer.writerow([order.number, when.isoformat(), "fraudulent transaction (seeded)"])
        try:
            call_command(
                "ecom_ai_import_chargebacks", handle.name, "--skip-unknown", stdout=self.stdout, stderr=self.stderr
            )
        finally:
            os.unlink(handle.name)

    def seed_offers(self, seeder) -> int:
        """The personal-offers campaign with a randomized history (``shop.seed_marketing``)."""
        if not apps.is_installed("ecom_ai"):
            return 0
        from shop.seed_marketing import seed_campaign_history

        return seed_campaign_history(seeder)

    def ensure_admin(self):
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            User.objects.create_superuser("admin", f"admin@{SEED_EMAIL_DOMAIN}", "admin")
            self.stdout.write("Created superuser admin (password: admin).")

    def reset(self):
        with transaction.atomic():
            OrderLine.objects.all().delete()
            Order.objects.all().delete()
            Product.objects.all().delete()
            Category.objects.all().delete()
            get_user_model().objects.filter(email__endswith=SEED_EMAIL_DOMAIN, is_staff=False).delete()
            # all of ecom_ai's tables; a table protected by another is retried after it
            pending = list(apps.get_app_config("ecom_ai").get_models())
            for _ in range(len(pending) + 1):
                blocked = []
                for model in pending:
                    try:
                        with transaction.atomic():
                            model._default_manager.all().delete()
                    except (ProtectedError, RestrictedError):
                        blocked.append(model)
                if not blocked:
                    break
                pending = blocked
        self.stdout.write("Reset: removed the shop's catalog and orders, the seeded customers and all ecom_ai data.")
