"""Scripted conversations through the real chat widget in Chromium, and p95 per message in process.

    .venv/bin/python benchmarks/chat_conversations.py [--suite benchmarks/data/chat_conversations.json]
        [--browser-only | --in-process-only] [--repeat 3]

The sandbox shop (its own settings: the chat's default encoder as a new shop gets it) on a
temporary SQLite file, with a small catalog (running shoes at 35/45/89, a yoga mat, an
espresso machine...), two customers with orders and a guest order, the default intent pack and
its sample articles (English + Chinese). A live server thread serves it; Chromium (390x844,
a phone) opens the chat bubble and types every turn of the suite (81 turns, English and
Chinese: orders logged in and anonymous, returns, shipping, payment, product search with price
limits, off-topic, hand-off and hand-back, redaction), clicks the buttons the bot offered, and
a "staff member" answers from the server side. Each turn is checked against the suite's
expectations; the table gives the turns right and the turns that got no answer although no
staff member held the conversation.

Then the same conversations run in process through ``ChatService.reply`` (no HTTP, no browser)
after the chat's start-up warm-up, every message timed, the first one included: p50 / p95 / max.

The browser part is also a test (a subset): tests/chat/test_conversation_suite.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SUITE = ROOT / "benchmarks" / "data" / "chat_conversations.json"
CHAT_URL = "/ecom-ai/api/v1/chat/messages/"
PHONE = {"width": 390, "height": 844}
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def load_suite(path=DEFAULT_SUITE) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)["conversations"]


def count_turns(conversations) -> int:
    return sum(1 for conv in conversations for turn in conv["turns"] if "say" in turn or "click" in turn)


# --------------------------------------------------------------------------- the shop


def seed_shop() -> dict:
    """Catalog, customers and orders of the suite; returns the placeholders ({alice_order}...)."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from shop.models import Category, Order, Product

    from ecom_ai.catalog.sync import sync_catalog
    from ecom_ai.chat.pack import load_pack

    load_pack(articles=True)
    shoes = Category.objects.create(name="Shoes", slug="shoes")
    sports = Category.objects.create(name="Sports", slug="sports")
    kitchen = Category.objects.create(name="Kitchen", slug="kitchen")
    clothing = Category.objects.create(name="Clothing", slug="clothing")
    for category, title, price, stock, description in [
        (shoes, "Trail Running Shoes", "89.00", 5, "Light running shoes with a grippy outsole for trails."),
        (shoes, "Road Running Shoes", "45.00", 8, "Cushioned running shoes for the road."),
        (shoes, "Kids Running Shoes", "35.00", 4, "Running shoes for children."),
        (shoes, "Leather Dress Shoes", "120.00", 3, "Classic leather shoes for the office."),
        (sports, "Yoga Mat", "25.00", 10, "Non-slip yoga mat, 6 mm."),
        (sports, "Dumbbell Set", "60.00", 2, "Adjustable dumbbells, 2 x 10 kg."),
        (kitchen, "Espresso Coffee Maker", "149.00", 2, "Espresso machine that makes espresso and cappuccino."),
        (kitchen, "Tea Kettle", "29.00", 6, "Stainless steel kettle."),
        (clothing, "Wool Winter Coat", "199.00", 0, "Warm wool coat for cold winters."),
        (clothing, "Waterproof Hiking Jacket", "95.00", 3, "Breathable waterproof jacket."),
    ]:
        Product.objects.create(
            category=category,
            title=title,
            slug=re.sub(r"\W+", "-", title.lower()),
            price=Decimal(price),
            stock=stock,
            description=description,
        )
    sync_catalog()
    User = get_user_model()
    alice = User.objects.create_user("alice", "alice@example.com", "pw-alice")
    bob = User.objects.create_user("bob", "bob@example.com", "pw-bob")
    User.objects.create_user("agent", "agent@example.com", "pw-agent", is_staff=True)
    alice_order = Order.objects.create(
        user=alice, email="alice@example.com", total=Decimal("59.90"), status="shipped", tracking_number="TRK-ALICE-1"
    )
    Order.objects.create(user=alice, email="alice@example.com", total=Decimal("25.00"), status="delivered")
    bob_order = Order.objects.create(
        user=bob, email="bob@example.com", total=Decimal("120.00"), status="paid", tracking_number="TRK-BOB-9"
    )
    guest_order = Order.objects.create(user=None, email="guest@example.com", total=Decimal("15.00"), status="delivered")
    return {"alice_order": alice_order.number, "bob_order": bob_order.number, "guest_order": guest_order.number}


def fill(text: str, placeholders: dict) -> str:
    for key, value in placeholders.items():
        text = text.replace("{" + key + "}", str(value))
    return text


# --------------------------------------------------------------------------- checking


@dataclass
class TurnResult:
    conversation: str
    text: str
    ok: bool
    answered: bool  # a bot answer came back
    quiet_expected: bool  # staff held the conversation: no bot answer is right
    problems: list = field(default_factory=list)
    answer: str = ""
    ms: float = 0.0


def check(expect: dict, bot: dict | None, status: str, placeholders: dict, *, staff_seen: bool | None = None):
    """Problems of one answer (empty: right)."""
    problems = []
    if expect.get("quiet"):
        if bot is not None:
            problems.append(f"expected no bot answer (staff holds the conversation), got {bot['text'][:60]!r}")
        if "staff_seen" in expect and not staff_seen:
            problems.append("the staff reply is not shown in the widget")
        return problems
    if bot is None:
        return ["no answer"]
    text = bot.get("text", "")
    labels = [s.get("label") for s in bot.get("sources", [])]
    types = [s.get("type") for s in bot.get("sources", [])]
    if "article" in expect and (not labels or labels[0] != expect["article"] or types[0] != "article"):
        problems.append(f"article {expect['article']!r} expected, sources {labels}")
    if "type" in expect and expect["type"] not in types:
        problems.append(f"a {expect['type']!r} source expected, got {types}")
    for needle in expect.get("contains", []):
        if fill(needle, placeholders) not in text:
            problems.append(f"{fill(needle, placeholders)!r} missing")
    if expect.get("any_of") and not any(fill(n, placeholders) in text for n in expect["any_of"]):
        problems.append(f"none of {expect['any_of']} in the answer")
    for needle in expect.get("absent", []):
        if fill(needle, placeholders) in text:
            problems.append(f"{fill(needle, placeholders)!r} must not be in the answer")
    if "suggestions" in expect and bool(bot.get("suggestions")) != expect["suggestions"]:
        problems.append(f"suggestions {'expected' if expect['suggestions'] else 'not expected'}")
    if "status" in expect and status != expect["status"]:
        problems.append(f"status {status!r}, expected {expect['status']!r}")
    return problems


# --------------------------------------------------------------------------- the browser


def login_cookies(username: str, base_url: str) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}]


def run_conversation_in_browser(browser, base_url: str, conversation: dict, placeholders: dict) -> list[TurnResult]:
    from django.contrib.auth import get_user_model

    from ecom_ai.chat.service import ChatService
    from ecom_ai.models import Conversation

    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    if conversation.get("user"):
        context.add_cookies(login_cookies(conversation["user"], base_url))
    page = context.new_page()
    page.set_default_timeout(20000)
    page.goto(base_url + "/")
    page.click(".ecom-ai-chat__bubble")
    results: list[TurnResult] = []
    conversation_id = None
    staff_text = None
    try:
        for turn in conversation["turns"]:
            if "staff" in turn or "hand_back" in turn:
                conv = Conversation.objects.filter(pk=conversation_id).first()
                if conv is None:
                    continue
                if "staff" in turn:
                    staff_text = turn["staff"]
                    ChatService.staff_reply(conv, get_user_model().objects.get(username="agent"), staff_text)
                else:
                    ChatService.return_to_bot(conv)
                continue
            text = fill(turn.get("say") or turn["click"], placeholders)
            started = time.perf_counter()
            try:
                with page.expect_response(
                    lambda r: r.url.endswith(CHAT_URL) and r.request.method == "POST", timeout=20000
                ) as info:
                    if "say" in turn:
                        page.fill(".ecom-ai-chat__input", text)
                        page.click(".ecom-ai-chat__send")
                    else:
                        page.locator(".ecom-ai-chat__suggestion", has_text=text).last.click(timeout=5000)
                data = info.value.json()
            except Exception as exc:  # a button that is not there, no response: the turn is wrong
                results.append(
                    TurnResult(
                        conversation["name"],
                        text,
                        False,
                        False,
                        False,
                        [f"could not run the turn: {type(exc).__name__}"],
                        "",
                        0.0,
                    )
                )
                continue
            elapsed = (time.perf_counter() - started) * 1000
            messages = data.get("messages", [])
            for message in messages:  # the widget shows every message the server returned
                page.locator(f'.ecom-ai-chat__log li[data-id="{message["id"]}"]').wait_for()
            conversation_id = (data.get("conversation") or {}).get("id", conversation_id)
            status = (data.get("conversation") or {}).get("status", "")
            shopper_at = max((i for i, m in enumerate(messages) if m["sender"] == "shopper"), default=-1)
            bots = [m for m in messages[shopper_at + 1 :] if m["sender"] == "bot"]
            bot = bots[-1] if bots else None
            staff_seen = None
            if staff_text is not None:
                staff_seen = page.locator(".ecom-ai-chat__msg--staff", has_text=staff_text[:12]).count() > 0
            expect = turn.get("expect", {})
            problems = check(expect, bot, status, placeholders, staff_seen=staff_seen)
            results.append(
                TurnResult(
                    conversation["name"],
                    text,
                    not problems,
                    bot is not None,
                    bool(expect.get("quiet")),
                    problems,
                    (bot or {}).get("text", ""),
                    elapsed,
                )
            )
    finally:
        context.close()
    return results


def start_live_server():
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test.testcases import LiveServerThread

    server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    return server, f"http://127.0.0.1:{server.port}"


# --------------------------------------------------------------------------- in process


def run_in_process(conversations, placeholders) -> tuple[list[float], list[TurnResult]]:
    """Every turn through ``ChatService.reply`` (no HTTP); per-message milliseconds."""
    from django.contrib.auth import get_user_model

    from ecom_ai.api.chat.views import serialize_message
    from ecom_ai.chat.service import ChatService
    from ecom_ai.models import Conversation

    User = get_user_model()
    service = ChatService()
    timings, results = [], []
    for n, conversation in enumerate(conversations):
        user = User.objects.get(username=conversation["user"]) if conversation.get("user") else None
        conv = ChatService.start_conversation(visitor_key=f"bench-{n}-{time.monotonic_ns()}", user=user)
        for turn in conversation["turns"]:
            if "staff" in turn:
                ChatService.staff_reply(conv, User.objects.get(username="agent"), turn["staff"])
                continue
            if "hand_back" in turn:
                ChatService.return_to_bot(conv)
                continue
            text = fill(turn.get("say") or turn["click"], placeholders)
            started = time.perf_counter()
            message = service.reply(conv, text, user=user, client_ip="127.0.0.1")
            timings.append((time.perf_counter() - started) * 1000)
            status = Conversation.objects.get(pk=conv.pk).status
            bot = serialize_message(message) | {"suggestions": message.suggestions} if message is not None else None
            expect = turn.get("expect", {})
            problems = check(expect, bot, status, placeholders, staff_seen=True)
            results.append(
                TurnResult(
                    conversation["name"],
                    text,
                    not problems,
                    bot is not None,
                    bool(expect.get("quiet")),
                    problems,
                    (bot or {}).get("text", ""),
                    timings[-1],
                )
            )
    return timings, results


# --------------------------------------------------------------------------- main


def setup_django(db_path: str):
    sys.path[:0] = [str(ROOT), str(ROOT / "sandbox_shop")]
    os.environ["DJANGO_SETTINGS_MODULE"] = "sandbox.settings"
    os.environ["SANDBOX_DB"] = "sqlite"
    os.environ["SANDBOX_SQLITE"] = db_path
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread
    import django
    from django.conf import settings

    # warmed up below (timed); every simulated shopper comes from 127.0.0.1: no per-IP message throttle
    settings.ECOM_AI = {**getattr(settings, "ECOM_AI", {}), "CHAT_WARM_UP": False, "CHAT_THROTTLE_RATE": None}
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["*"]
    django.setup()
    from django.apps import apps
    from django.db import connection

    with connection.schema_editor() as editor:
        for model in apps.get_models():
            if model._meta.managed and not model._meta.proxy:
                editor.create_model(model)


def summarize(results: list[TurnResult]) -> dict:
    turns = len(results)
    right = sum(r.ok for r in results)
    silent = sum(1 for r in results if not r.answered and not r.quiet_expected)
    return {
        "turns": turns,
        "right": right,
        "pct": 100.0 * right / max(1, turns),
        "silent": silent,
        "quiet": sum(r.quiet_expected for r in results),
    }


def percentile(values, q):
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default=str(DEFAULT_SUITE))
    parser.add_argument("--browser-only", action="store_true")
    parser.add_argument("--in-process-only", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="in-process passes over the suite (timing)")
    parser.add_argument("--verbose", action="store_true", help="print every wrong turn")
    args = parser.parse_args(argv)

    conversations = load_suite(args.suite)
    tmp = tempfile.mkdtemp(prefix="ecom_ai_chat_conv_")
    setup_django(os.path.join(tmp, "bench.sqlite3"))
    import torch

    torch.set_num_threads(1)  # docs/chat.md "Serving performance": one torch thread per web process
    from ecom_ai.chat import warmup
    from ecom_ai.chat.encoders import configured_encoder_spec

    placeholders = seed_shop()
    started = time.perf_counter()
    warm = warmup.warm_up()  # what a web process does at start-up, before its first request
    warm_s = time.perf_counter() - started
    print(
        f"suite: {len(conversations)} conversations, {count_turns(conversations)} turns; "
        f"encoder {configured_encoder_spec()}; start-up warm-up {warm_s:.1f} s {warm}",
        flush=True,
    )
    rows = []
    if not args.in_process_only:
        from playwright.sync_api import sync_playwright

        server, base_url = start_live_server()
        browser_results: list[TurnResult] = []
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for conversation in conversations:
                browser_results += run_conversation_in_browser(browser, base_url, conversation, placeholders)
            browser.close()
        server.terminate()
        summary = summarize(browser_results)
        ms = [r.ms for r in browser_results]
        rows.append(("through the widget in Chromium (390x844)", summary, ms))
        if args.verbose:
            for r in browser_results:
                if not r.ok:
                    print(f"  WRONG [{r.conversation}] {r.text!r}: {'; '.join(r.problems)} | {r.answer[:80]!r}")
    if not args.browser_only:
        all_ms: list[float] = []
        process_results: list[TurnResult] = []
        for n in range(max(1, args.repeat)):
            timings, results = run_in_process(conversations, placeholders)
            if n == 0:
                print(f"in process: the first message after start-up took {timings[0]:.0f} ms", flush=True)
            all_ms += timings
            process_results = results
        summary = summarize(process_results)
        rows.append((f"in process (ChatService.reply), {max(1, args.repeat)} passes", summary, all_ms))
        if args.verbose and args.in_process_only:
            for r in process_results:
                if not r.ok:
                    print(f"  WRONG [{r.conversation}] {r.text!r}: {'; '.join(r.problems)} | {r.answer[:80]!r}")
    print()
    print(
        "| run | turns | right | % right | turns without an answer | quiet (staff holds) | p50 ms | p95 ms | max ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, s, ms in rows:
        print(
            f"| {name} | {s['turns']} | {s['right']} | {s['pct']:.1f} % | {s['silent']} | {s['quiet']} | "
            f"{percentile(ms, 50):.0f} | {percentile(ms, 95):.0f} | {max(ms) if ms else float('nan'):.0f} |"
        )
    try:
        load = os.getloadavg()
        print(f"\nload average during the run: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} ({os.cpu_count()} CPUs)")
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
