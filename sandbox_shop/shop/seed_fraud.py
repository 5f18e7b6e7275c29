"""Demo fraud for ``sandbox_seed``: patterns a model can learn, and the legitimate look-alikes
that fool a rule of thumb.

Fraud (about 12 orders per 100 customers, spread over the whole history so every period
has some; most are refunded and come back as chargebacks):

* **device and card rings** — three to six accounts opened minutes before ordering, one
  device, one card and one foreign IP per ring, several expensive items each, billing
  country ≠ shipping country;
* **velocity bursts** — one stolen card tried by three to six fresh accounts within an hour
  from one IP, each order larger than the one before;
* **account takeovers** — an established customer's account suddenly ordering from a foreign
  IP on a new device and a new card, shipped to another country, far above their usual;
* **new accounts, high amounts** — an account opened minutes before one big order, from an
  IP country that is neither the shipping nor the billing country;
* **quiet card-not-present fraud** — accounts a few days old with a throwaway e-mail domain,
  ordering a few hundred dollars' worth at night, straight to checkout, with nothing a rule
  of thumb looks at (no country mismatch, no shared device or card).

Legitimate look-alikes (the heuristic flags many of them; the model learns they are fine):
gifts shipped abroad by regular customers, sign-ups that check out within a minute for a
modest amount, families sharing a device, regulars buying a big-ticket item, and
customers ordering while travelling abroad.

After the orders are assessed, ``review_queue`` plays the shop's reviewers: every order
sent to review is decided (fraud when it was fraud, approved otherwise), so recent orders
have labels too, as they would in a shop that works its queue.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from shop import seed_catalog as words

FOREIGN = ("NG", "RU", "BR")
# throwaway mail services (sub-domains of the seed's domain, so ``sandbox_seed --reset`` finds them)
THROWAWAY_DOMAINS = ("mailinator.sandbox.example", "tempmail.sandbox.example", "dropmail.sandbox.example")
FRAUD_PER_CUSTOMER = 0.12
LOOKALIKES_PER_CUSTOMER = 0.25
CHARGEBACK_SHARE = 0.92


class FraudPatterns:
    """Adds fraud and look-alike orders to a ``Seeder`` (its rng, products, customers, ``place``)."""

    def __init__(self, seeder):
        self.s = seeder
        self.rng = seeder.rng
        self.fraud_numbers: list[str] = []
        self.new_users: list = []
        self._plans: list = []

    # --- helpers -------------------------------------------------------------------------
    def moment(self, earliest_days=1.0):
        """A time anywhere in the history (uniform: every period has its share of fraud)."""
        span = max(self.s.days - earliest_days, 0.5)
        return self.s.until - timedelta(days=earliest_days * 0.5 + self.rng.uniform(0, span))

    def expensive(self, share=0.05):
        ranked = sorted((p for p in self.s.products if p.stock), key=lambda p: p.price, reverse=True)
        return ranked[: max(5, int(len(ranked) * share))] or ranked

    def cart_over(self, target, pool):
        """Items from ``pool`` until the total passes ``target``."""
        cart, total = {}, 0
        while total < target and pool:
            product = self.rng.choice(pool)
            cart[product] = cart.get(product, 0) + 1
            total += float(product.price)
            if len(cart) >= 4 and cart[product] >= 3:
                break
        return cart

    def profile(self, country, ip, card, address="Parcel locker"):
        return {
            "country": country,
            "address": f"{self.rng.randrange(1, 99)} Warehouse Road\n{address}",
            "ips": [ip],
            "cards": [card],
        }

    def new_account(self, label, when, minutes=(2, 30), domain="sandbox.example"):
        """An account opened shortly before ``when`` (created in bulk by ``flush_accounts``)."""
        username = f"newuser{len(self._plans) + 1}_{label}"
        joined = when - timedelta(minutes=self.rng.uniform(*minutes))
        self._plans.append((username, joined, domain))
        return username

    def flush_accounts(self):
        User = get_user_model()
        password = make_password("demo", salt="sandboxseed")
        User.objects.bulk_create(
            [
                User(
                    username=name,
                    email=f"{name}.{self.rng.getrandbits(24):x}@{domain}",
                    password=password,
                    date_joined=joined,
                )
                for name, joined, domain in self._plans
            ]
        )
        users = {u.username: u for u in User.objects.filter(username__in=[n for n, _, _ in self._plans])}
        self.new_users.extend(users.values())
        return users

    def checkout_fraud(
        self, user, device, when, cart, *, ip, card, ship, bill=None, address="Parcel locker", profile=None
    ):
        """A fraudulent order straight to checkout on the web (labelled later by ``fraud_status``)."""
        self.straight_to_checkout(user, device, when, cart)
        order = self.s.place(
            user=user,
            profile=profile or self.profile(ship, ip, card, address),
            channel="web",
            visitor=device,
            when=when,
            cart=cart,
            ip=ip,
            device=device,
            card=card,
            ship=ship,
            bill=bill or ship,
            status=self.fraud_status(),
        )
        self.fraud_numbers.append(order.number)

    def straight_to_checkout(self, user, visitor, when, cart):
        """No browsing: a product view and an add to cart a minute before the order."""
        for product, qty in cart.items():
            self.s.event("view", "web", visitor, user, when - timedelta(minutes=2), item_key=str(product.pk))
            self.s.event(
                "add_to_cart",
                "web",
                visitor,
                user,
                when - timedelta(minutes=1),
                item_key=str(product.pk),
                quantity=qty,
                value=product.price * qty,
            )
        self.s.identify(visitor, user, "web", when)

    def fraud_status(self):
        return "refunded" if self.rng.random() < CHARGEBACK_SHARE else "placed"

    # --- fraud ---------------------------------------------------------------------------
    def make(self):
        n_fraud = max(4, round(self.s.n_customers * FRAUD_PER_CUSTOMER))
        n_like = max(4, round(self.s.n_customers * LOOKALIKES_PER_CUSTOMER))
        # new accounts first (one bulk insert), then every order
        plans = [self.plan_ring() for _ in range(max(1, n_fraud * 30 // 100 // 4))]
        plans += [self.plan_burst() for _ in range(max(1, n_fraud * 20 // 100 // 4))]
        plans += [self.plan_new_big() for _ in range(max(1, n_fraud * 20 // 100))]
        plans += [self.plan_quiet() for _ in range(max(1, n_fraud * 20 // 100))]
        plans += [self.plan_quick_signup() for _ in range(max(1, n_like * 20 // 100))]
        users = self.flush_accounts()
        for plan in plans:
            plan(users)
        for _ in range(max(1, n_fraud * 10 // 100)):
            self.takeover()
        for _ in range(max(1, n_like * 25 // 100)):
            self.gift()
        for _ in range(max(1, n_like * 15 // 100)):
            self.shared_device()
        for _ in range(max(1, n_like * 20 // 100)):
            self.big_ticket_regular()
        for _ in range(max(1, n_like * 20 // 100)):
            self.traveller()
        return len(self.fraud_numbers)

    def plan_ring(self):
        device, card = self.s.key(), self.s.key()[:32]
        ring_ip = self.s.ip_for(self.rng.choice(FOREIGN))
        start = min(self.moment(earliest_days=2), self.s.until - timedelta(hours=40))
        members = [
            (self.new_account("ring", start + timedelta(hours=6 * m)), start + timedelta(hours=6 * m))
            for m in range(self.rng.randint(3, 6))
        ]
        pool = self.expensive()

        def place(users):
            for username, when in members:
                user = users[username]
                cart = {
                    p: self.rng.randint(2, 3) for p in self.rng.sample(pool, min(len(pool), self.rng.randint(1, 3)))
                }
                ship = self.rng.choice(["US", "GB", "DE"])
                bill = self.rng.choice([c for c in ("FR", "CA", "NL", "ES") if c != ship])
                self.checkout_fraud(user, device, when, cart, ip=ring_ip, card=card, ship=ship, bill=bill)

        return place

    def plan_burst(self):
        card, ip = self.s.key()[:32], self.s.ip_for(self.rng.choice(FOREIGN + ("US",)))
        start = min(self.moment(earliest_days=2), self.s.until - timedelta(hours=2))
        steps = [
            (self.new_account("burst", start + timedelta(minutes=12 * i), (1, 8)), start + timedelta(minutes=12 * i))
            for i in range(self.rng.randint(3, 6))
        ]
        pool = sorted((p for p in self.s.products if p.stock), key=lambda p: p.price)

        def place(users):
            for i, (username, when) in enumerate(steps):
                user = users[username]
                device = self.s.key()
                # card testing: a cheap item first, then bigger and bigger
                product = pool[min(len(pool) - 1, int(len(pool) * min(0.98, 0.3 + 0.2 * i)))]
                cart = {product: 1 + (i >= 2)}
                country = self.rng.choice(["US", "GB"])
                self.checkout_fraud(user, device, when, cart, ip=ip, card=card, ship=country)

        return place

    def plan_new_big(self):
        when = self.moment()
        username = self.new_account("big", when, (1, 40))
        device, card = self.s.key(), self.s.key()[:32]
        ip_country = self.rng.choice(FOREIGN)
        pool = self.expensive(0.08)
        target = self.rng.uniform(1500, 6000)

        def place(users):
            user = users[username]
            cart = self.cart_over(target, pool)
            ship = self.rng.choice(["US", "GB", "DE", "FR"])
            bill = self.rng.choice([ship, ship, "CA", "NL"])
            ip = self.s.ip_for(ip_country)
            self.checkout_fraud(user, device, when, cart, ip=ip, card=card, ship=ship, bill=bill)

        return place

    def plan_quiet(self):
        hour = self.rng.choice([1, 2, 3, 4])
        when = self.moment().replace(hour=hour, minute=self.rng.randrange(60))
        username = self.new_account(
            "quiet", when, (60 * 24 * 2, 60 * 24 * 6), domain=self.rng.choice(THROWAWAY_DOMAINS)
        )
        country = self.rng.choice(["US", "GB", "DE"])
        pool = sorted((p for p in self.s.products if p.stock), key=lambda p: p.price)[-len(self.s.products) // 3 :]

        def place(users):
            user = users[username]
            device, card, ip = self.s.key(), self.s.key()[:32], self.s.ip_for(country)
            cart = self.cart_over(self.rng.uniform(250, 900), pool)
            self.checkout_fraud(user, device, when, cart, ip=ip, card=card, ship=country, address="Home")

        return place

    def takeover(self):
        user, profile = self.regular()
        when = self.moment()
        device, card = self.s.key(), self.s.key()[:32]
        ip = self.s.ip_for(self.rng.choice(FOREIGN))
        ship = self.rng.choice([c for c in ("US", "GB", "DE", "FR", "ES") if c != profile["country"]])
        cart = self.cart_over(self.rng.uniform(900, 4000), self.expensive(0.1))
        self.checkout_fraud(
            user,
            device,
            when,
            cart,
            ip=ip,
            card=card,
            ship=ship,
            bill=profile["country"],
            profile={**profile, "address": "12 Forwarding Lane\nFreight hub"},
        )

    # --- legitimate look-alikes ---------------------------------------------------------
    def regular(self):
        """An established customer (joined before the history) and their profile."""
        for _ in range(50):
            index = self.rng.randrange(len(self.s.users))
            user = self.s.users[index]
            if user.date_joined < self.s.start:
                return user, self.s.profiles[index]
        index = self.rng.randrange(len(self.s.users))
        return self.s.users[index], self.s.profiles[index]

    def usual_cart(self, profile, most=2):
        cart = {}
        for _ in range(self.rng.randint(1, most)):
            product = self.s.pick_product(self.rng.choice(profile["favourite"]))
            if product.stock:
                cart[product] = 1
        return cart

    def own_order(self, user, profile, when, cart, **overrides):
        channel = "web" if "web" in profile["visitors"] else next(iter(profile["visitors"]))
        visitor = self.rng.choice(profile["visitors"][channel])
        for product in cart:
            self.s.event(
                "view",
                channel,
                visitor,
                user,
                when - timedelta(minutes=self.rng.randint(3, 20)),
                item_key=str(product.pk),
            )
        self.s.identify(visitor, user, channel, when)
        return self.s.place(
            user=user, profile=profile, channel=channel, visitor=visitor, when=when, cart=cart, **overrides
        )

    def gift(self):
        user, profile = self.regular()
        cart = self.usual_cart(profile)
        if cart:
            ship = self.rng.choice([c for c in ("US", "GB", "DE", "FR", "CA", "IT") if c != profile["country"]])
            self.own_order(user, profile, self.moment(), cart, ship=ship, bill=profile["country"])

    def shared_device(self):
        """A family on one device; one of them sends a gift abroad now and then."""
        (first, first_profile), (second, second_profile) = self.regular(), self.regular()
        device = self.rng.choice(next(iter(first_profile["visitors"].values())))
        for user, profile in ((first, first_profile), (second, second_profile)):
            cart = self.usual_cart(profile)
            if cart:
                gift = {}
                if self.rng.random() < 0.5:
                    gift = {
                        "ship": self.rng.choice([c for c in ("US", "GB", "DE", "FR") if c != profile["country"]]),
                        "bill": profile["country"],
                    }
                self.own_order(user, profile, self.moment(), cart, device=device, **gift)

    def big_ticket_regular(self):
        user, profile = self.regular()
        cart = self.cart_over(self.rng.uniform(800, 3000), self.expensive(0.1))
        self.own_order(user, profile, self.moment(), cart)

    def traveller(self):
        user, profile = self.regular()
        cart = self.usual_cart(profile)
        if cart:
            abroad = self.rng.choice([c for c in ("US", "GB", "DE", "FR", "ES", "IT", "JP") if c != profile["country"]])
            where = {"ship": abroad, "bill": profile["country"]} if self.rng.random() < 0.5 else {}  # a hotel delivery
            self.own_order(user, profile, self.moment(), cart, ip=self.s.ip_for(abroad), **where)

    def plan_quick_signup(self):
        when = self.moment()
        username = self.new_account("quick", when, (0.1, 0.9))
        country = self.s.weighted(words.COUNTRY_WEIGHTS)

        def place(users):
            user = users[username]
            cart = {}
            for _ in range(self.rng.randint(1, 2)):
                product = self.s.pick_product(self.rng.choice(list(self.s.categories)))
                if product.stock:
                    cart[product] = 1
            if not cart:
                return
            visitor, card, ip = self.s.key(), self.s.key()[:32], self.s.ip_for(country)
            for product in cart:  # they browsed a little before signing up
                self.s.event(
                    "view",
                    "web",
                    visitor,
                    None,
                    when - timedelta(minutes=self.rng.randint(4, 15)),
                    item_key=str(product.pk),
                )
            self.s.identify(visitor, user, "web", when)
            self.s.place(
                user=user,
                profile=self.profile(country, ip, card, "Home"),
                channel="web",
                visitor=visitor,
                when=when,
                cart=cart,
                ip=ip,
                device=visitor,
                card=card,
                ship=country,
                bill=country,
            )

        return place


def review_queue(fraud_numbers, stdout=None) -> tuple[int, int]:
    """The demo's reviewers work the queue: every order sent to review gets a decision.

    Returns ``(marked as fraud, approved)``.
    """
    from ecom_ai.models.fraud import FraudAssessment

    fraud_numbers = set(fraud_numbers)
    marked = approved = 0
    for assessment in FraudAssessment.objects.filter(status=FraudAssessment.STATUS_PENDING).order_by("placed_at"):
        is_fraud = assessment.order_number in fraud_numbers
        when = assessment.placed_at + timedelta(hours=6)
        assessment.decide("fraud" if is_fraud else "approve", by="demo reviewer", when=when)
        marked += is_fraud
        approved += not is_fraud
    if stdout is not None:
        stdout.write(
            f"Demo reviewers decided {marked + approved} flagged order(s): {marked} fraud, {approved} approved."
        )
    return marked, approved
