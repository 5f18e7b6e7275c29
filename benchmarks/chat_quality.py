"""Chat quality on data from other samples: cross-sample intents, BANKING77, out-of-scope
probe and knowledge-base routing (the parts of ``benchmarks/chat.py`` that train on one
set and test on another).

    .venv/bin/python benchmarks/chat.py --suites cross,banking77,oos,kb [--cache /tmp/ecom_ai_chat_bench]

* **cross**: train on ``bitext-customer-support`` (21,534 utterances, 27 intents), test on
  ``bitext-llm-support-4514`` (a different Bitext sample; test only, never trained on):
  top-intent accuracy and **right and in scope** (the top intent is right *and* the
  classifier keeps it in scope with the default ``CHAT_INTENT_THRESHOLD`` and the
  calibrated similarity floor — what the chat acts on).
* **banking77**: its own train (10,003) / test (3,080) split, the same two figures.
* **oos**: hand-written off-topic messages (``benchmarks/data/out_of_scope.json``, 60 EN +
  40 ZH) through the Bitext-trained classifiers: the share sent out of scope.
* **kb**: 67 shop FAQ articles written for this benchmark (``benchmarks/data/shop_faq.json``)
  loaded as the only knowledge articles, the default intent pack as the classifier; each
  article's 4 separately written paraphrases (2 EN, 2 ZH) asked (a) to the chat's article
  retrieval alone and (b) end to end through ``ChatService.reply``: right when the answer
  cites the article.

Every classifier row is ecom_ai's ``fit_intent_classifier`` (frozen encoder + head) on the
encoder named; the baselines (TF-IDF word 1–2-grams + character 2–5-grams, linear SVM / logistic
regression, scikit-learn) are trained and scored on the same data in the same run.
Embeddings are cached per dataset and encoder under ``--cache``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT / ".." / "shared" / "datasets"
DATA = Path(__file__).resolve().parent / "data"

ENCODERS = {
    "builtin": {"kind": "builtin", "dim": 4096},
    "minilm": {"kind": "sentence_transformer", "model": "all-MiniLM-L6-v2"},
    "use": {"kind": "sentence_transformer", "model": "use-multilingual-v3"},
    "hybrid-minilm": {"kind": "hybrid", "model": "all-MiniLM-L6-v2", "dim": 4096},
    "hybrid-use": {"kind": "hybrid", "model": "use-multilingual-v3", "dim": 4096},
    # CHAT_ENCODER = "use-multilingual-v3+all-MiniLM-L6-v2": both embeddings concatenated
    "use+minilm": {
        "kind": "concat",
        "parts": [
            {"kind": "sentence_transformer", "model": "use-multilingual-v3"},
            {"kind": "sentence_transformer", "model": "all-MiniLM-L6-v2"},
        ],
    },
}
LABELS = {
    "builtin": "built-in n-grams (fallback)",
    "minilm": "all-MiniLM-L6-v2 (English)",
    "use": "multilingual USE v3 (default)",
    "hybrid-minilm": "hybrid MiniLM + n-grams",
    "hybrid-use": "hybrid USE + n-grams",
    "use+minilm": "multilingual USE v3 + all-MiniLM-L6-v2, concatenated",
}


def load_bitext(path=None):
    import pandas as pd

    frame = pd.read_csv(
        path or DATASETS / "bitext-customer-support" / "bitext_customer_support_20k.csv", encoding="utf-8-sig"
    )
    # the other Bitext sample spells one intent differently
    return frame["utterance"].astype(str).tolist(), frame["intent"].replace(
        {"check_invoices": "check_invoice"}
    ).tolist()


def load_bitext_llm(path=None):
    import pandas as pd

    frame = pd.read_csv(
        path or DATASETS / "bitext-llm-support-4514" / "Bitext_Sample_Customer_Support_Training_Dataset.csv.gz"
    )
    return frame["instruction"].astype(str).tolist(), frame["intent"].astype(str).tolist()


def load_banking77(folder=None):
    import pandas as pd

    folder = Path(folder or DATASETS / "banking77")
    train = pd.read_csv(folder / "train.csv.gz")
    test = pd.read_csv(folder / "test.csv.gz")
    return (
        train["text"].astype(str).tolist(),
        train["category"].tolist(),
        test["text"].astype(str).tolist(),
        test["category"].tolist(),
    )


class EmbeddingCache:
    """Embeddings of a named text list per encoder, computed once and kept as .npy files."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.seconds: dict[tuple[str, str], float] = {}

    def get(self, name: str, texts: list[str], encoder: str) -> np.ndarray:
        from ecom_ai.chat.encoders import encoder_from_spec, normalise

        if encoder.startswith("hybrid-"):
            half = np.float32(np.sqrt(0.5))
            return np.hstack(
                [self.get(name, texts, encoder[len("hybrid-") :]) * half, self.get(name, texts, "builtin") * half]
            )
        if "+" in encoder:  # a concatenation: its parts' cached embeddings, as ConcatChatEncoder joins them
            parts = encoder.split("+")
            scale = np.float32(1.0 / np.sqrt(len(parts)))
            return np.hstack([self.get(name, texts, part) * scale for part in parts])
        import hashlib

        digest = hashlib.sha1("\x00".join(texts).encode("utf-8")).hexdigest()[:10]
        path = self.folder / f"{name}-{digest}-{encoder}.npy"
        if path.exists():
            return normalise(np.load(path))
        started = time.perf_counter()
        vectors = normalise(encoder_from_spec(ENCODERS[encoder]).encode(texts))
        self.seconds[(name, encoder)] = time.perf_counter() - started
        np.save(path, vectors)
        print(f"  encoded {name} ({len(texts)}) with {encoder} in {self.seconds[(name, encoder)]:.0f} s", flush=True)
        return vectors


def tfidf_baselines(train_x, train_y, test_x):
    """{name: predicted labels} for TF-IDF word+char + linear SVM and + logistic regression."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2)
    train = hstack([word.fit_transform(train_x), char.fit_transform(train_x)]).tocsr()
    test = hstack([word.transform(test_x), char.transform(test_x)]).tocsr()
    out = {}
    out["TF-IDF word+char + linear SVM"] = LinearSVC(C=0.5).fit(train, train_y).predict(test).tolist()
    out["TF-IDF word+char + logistic regression"] = (
        LogisticRegression(C=20.0, max_iter=2000).fit(train, train_y).predict(test).tolist()
    )
    return out


def classifier_rows(cache, train_name, train_x, train_y, test_name, test_x, test_y, encoders, *, ablate=True, oos=None):
    """Rows (label, accuracy, right-and-in-scope, oos-rejected, seconds) for each encoder."""
    from ecom_ai.chat.classifier import fit_intent_classifier
    from ecom_ai.conf import settings as ecom_settings

    threshold = ecom_settings.CHAT_INTENT_THRESHOLD
    rows = []
    runs = [(encoder, None) for encoder in encoders]  # None: the classifier's default for the encoder
    if ablate:  # the default encoder without the TF-IDF part (its previous MLP head)
        runs += [(encoder, False) for encoder in encoders if encoder == "use"]
    for encoder, lexical in runs:
        train_vectors = cache.get(train_name, train_x, encoder)
        test_vectors = cache.get(test_name, test_x, encoder)
        started = time.perf_counter()
        classifier = fit_intent_classifier(
            train_x, train_y, encoder_spec=ENCODERS[encoder], vectors=train_vectors, lexical=lexical
        )
        preds = classifier.predict_many(
            test_x, vectors=test_vectors, threshold=threshold, min_similarity=classifier.calibrated_min_similarity
        )
        seconds = time.perf_counter() - started
        accuracy = float(np.mean([p.best_guess == t for p, t in zip(preds, test_y)]))
        in_scope = float(np.mean([p.intent == t for p, t in zip(preds, test_y)]))
        rejected = None
        if oos is not None:
            oos_preds = classifier.predict_many(
                oos,
                vectors=cache.get("oos", oos, encoder),
                threshold=threshold,
                min_similarity=classifier.calibrated_min_similarity,
            )
            rejected = float(np.mean([p.out_of_scope for p in oos_preds]))
        if classifier.lexical is not None:
            head = " + TF-IDF, linear (L-BFGS)"
        elif classifier.hidden:
            head = ", MLP head (no TF-IDF)"
        else:
            head = ", linear head"
        label = f"ecom_ai: {LABELS[encoder]}{head}"
        rows.append((label, accuracy, in_scope, rejected, seconds))
        print(
            f"  {label}: accuracy {accuracy:.4f}, right and in scope {in_scope:.4f}"
            + (f", off-topic rejected {rejected:.3f}" if rejected is not None else "")
            + f" ({seconds:.0f} s)",
            flush=True,
        )
    return rows


def print_table(title, rows, baselines, test_y, has_oos=False):
    print()
    print(title)
    header = f"| {'classifier':62} | accuracy | right and in scope |" + (" off-topic rejected |" if has_oos else "")
    print(header)
    print("|" + "---|" * (4 if has_oos else 3))
    for name, pred in baselines.items():
        accuracy = float(np.mean([p == t for p, t in zip(pred, test_y)]))
        print(
            f"| {name + ' (baseline)':62} | {accuracy:8.4f} | {'(no scope check)':>18} |" + (" — |" if has_oos else "")
        )
    for label, accuracy, in_scope, rejected, _seconds in rows:
        line = f"| {label:62} | {accuracy:8.4f} | {in_scope:18.4f} |"
        if has_oos:
            line += f" {rejected:.3f} |" if rejected is not None else " — |"
        print(line)
    print(flush=True)


def suite_cross(args, cache):
    train_x, train_y = load_bitext(args.data)
    test_x, test_y = load_bitext_llm(args.cross_test)
    oos = json.loads((DATA / "out_of_scope.json").read_text(encoding="utf-8"))
    oos_texts = oos["en"] + oos["zh"]
    print(
        f"Cross-sample: train Bitext {len(train_x)} ({len(set(train_y))} intents), test Bitext LLM sample "
        f"{len(test_x)}; off-topic probe {len(oos_texts)} messages",
        flush=True,
    )
    baselines = tfidf_baselines(train_x, train_y, test_x)
    rows = classifier_rows(
        cache, "bitext20k", train_x, train_y, "llm4514", test_x, test_y, args.encoders, oos=oos_texts
    )
    print_table(
        "Cross-sample (train bitext-customer-support, test bitext-llm-support-4514)",
        rows,
        baselines,
        test_y,
        has_oos=True,
    )


def suite_banking77(args, cache):
    train_x, train_y, test_x, test_y = load_banking77(args.banking77)
    print(f"BANKING77: train {len(train_x)}, test {len(test_x)}, {len(set(train_y))} intents", flush=True)
    baselines = tfidf_baselines(train_x, train_y, test_x)
    rows = classifier_rows(cache, "b77train", train_x, train_y, "b77test", test_x, test_y, args.encoders)
    print_table("BANKING77 (own train/test)", rows, baselines, test_y)


KB_SPLITS = ("tune", "check", "held-out")


def kb_questions(faq, ids):
    """``[(text, article id, language, split)]``: the first EN and first ZH paraphrase of each article
    are the *tune* half (the only ones the ranker was tuned on), the second ones the *check* half, and
    ``shop_faq_heldout.json`` (written before any tuning, never tuned on) the *held-out* set."""
    questions = []
    for n, article in enumerate(faq):
        for language, texts in article["paraphrases"].items():
            for k, text in enumerate(texts):
                questions.append((text, ids[n], language, "tune" if k == 0 else "check"))
    heldout = json.loads((DATA / "shop_faq_heldout.json").read_text(encoding="utf-8"))["paraphrases"]
    by_title = {article["title"]: ids[n] for n, article in enumerate(faq)}
    for entry in heldout:
        for language in ("en", "zh"):
            for text in entry.get(language, []):
                questions.append((text, by_title[entry["title"]], language, "held-out"))
    return questions


def suite_kb(args, encoders):
    """Knowledge-base routing: retrieval alone vs the chat end to end, per encoder and split."""
    from ecom_ai.chat import retrieval
    from ecom_ai.chat.classifier import fit_intent_classifier
    from ecom_ai.chat.pack import read_pack
    from ecom_ai.chat.service import ChatService
    from ecom_ai.models import KnowledgeArticle

    faq = json.loads((DATA / "shop_faq.json").read_text(encoding="utf-8"))["articles"]
    KnowledgeArticle.objects.all().delete()  # the pack's samples would compete with the FAQ
    ids = []
    for article in faq:
        ids.append(
            KnowledgeArticle.objects.create(
                title=article["title"],
                body=article["body"],
                topic=article["topic"],
                questions="\n".join(article["questions"]),
            ).pk
        )
    title_of = dict(zip(ids, (a["title"] for a in faq)))
    questions = kb_questions(faq, ids)
    splits = [s for s in KB_SPLITS if s in set(getattr(args, "kb_splits", None) or KB_SPLITS)]
    questions = [q for q in questions if q[3] in splits]
    texts, labels = [], []
    for intent in read_pack()["intents"]:
        for examples in intent["examples"].values():
            texts.extend(examples)
            labels.extend([intent["name"]] * len(examples))
    print(
        f"Knowledge-base routing: {len(faq)} articles, {len(questions)} paraphrases "
        + ", ".join(f"{s} {sum(1 for q in questions if q[3] == s)}" for s in splits)
        + f"; default pack {len(texts)} examples, {len(set(labels))} intents",
        flush=True,
    )
    probe = []
    if "probe" in set(getattr(args, "kb_splits", None) or [*KB_SPLITS, "probe"]):
        oos = json.loads((DATA / "out_of_scope.json").read_text(encoding="utf-8"))
        probe = [(text, language) for language in ("en", "zh") for text in oos[language]]
    rows = []
    dump = []
    probe_summary: list = []
    for encoder in encoders:
        spec = ENCODERS[encoder]
        classifier = fit_intent_classifier(texts, labels, encoder_spec=spec)
        retrieval.clear_indexes()
        service = ChatService(classifier=classifier)
        # counts[split][language][what]
        counts: dict = {}
        for n, (text, article_id, language, split) in enumerate(questions):
            tally = counts.setdefault(split, {}).setdefault(
                language, dict.fromkeys(("n", "retrieval", "chat", "asked", "asked_right", "miss", "other"), 0)
            )
            tally["n"] += 1
            vector = classifier.encode([text])[0]
            top = retrieval.knowledge_matches(vector, classifier.encoder, limit=1)
            retrieved = bool(top) and top[0].article_id == article_id
            tally["retrieval"] += int(retrieved)
            conversation = ChatService.start_conversation(visitor_key=f"kb{encoder}{n}")
            bot = service.reply(conversation, text)
            sources = bot.sources if bot is not None else []
            cited = [s.get("id") for s in sources if s.get("type") == "article"]
            right = bool(cited) and cited[0] == article_id
            tally["chat"] += int(right)
            outcome = "right" if right else "wrong article" if cited else "other"
            if bot is not None and not cited and bot.suggestions and not _is_off_topic(bot):
                tally["asked"] += 1  # a clarifying question (buttons): not counted as right
                conversation.refresh_from_db()
                offered = (conversation.state or {}).get("offered", {})
                tally["asked_right"] += int(f"article:{article_id}" in offered.values())
                outcome = "asked back"
            elif bot is not None and not cited and bot.suggestions:
                tally["miss"] += 1
                outcome = "off-topic"
            elif not cited:
                tally["other"] += 1
                outcome = "handler: " + (bot.intent if bot is not None else "silent")
            dump.append(
                {
                    "encoder": encoder,
                    "split": split,
                    "language": language,
                    "text": text,
                    "article": title_of[article_id],
                    "retrieved": (top[0].title if top else ""),
                    "outcome": outcome,
                    "answer": (bot.text[:80] if bot is not None else None),
                    "intent": (bot.intent if bot is not None else ""),
                }
            )
        if probe:
            rows_probe = probe_rows(service, classifier, encoder, probe, title_of)
            answered = [r for r in rows_probe if r["outcome"] != "off-topic"]
            by_outcome: dict = {}
            for r in answered:
                by_outcome[r["outcome"]] = by_outcome.get(r["outcome"], 0) + 1
            print(
                f"  {encoder} off-topic probe ({len(rows_probe)}): answered with something else "
                f"{len(answered) / max(1, len(rows_probe)):.3f} ("
                + ", ".join(f"{k} {v}" for k, v in sorted(by_outcome.items(), key=lambda kv: -kv[1]))
                + ")",
                flush=True,
            )
            probe_summary.append((LABELS[encoder], len(rows_probe), len(answered), by_outcome))
            dump.extend({"encoder": encoder, "split": "probe", **r} for r in rows_probe)
        for split in [*splits, "all"]:
            parts = (
                [counts[split]]
                if split in counts
                else ([counts[s] for s in splits if s in counts] if split == "all" else [])
            )
            if not parts:
                continue
            per_lang: dict = {}
            for part in parts:
                for language, tally in part.items():
                    into = per_lang.setdefault(language, dict.fromkeys(tally, 0))
                    for key, value in tally.items():
                        into[key] += value
            both = {key: sum(t[key] for t in per_lang.values()) for key in next(iter(per_lang.values()))}
            en, zh = per_lang.get("en", both), per_lang.get("zh", both)
            row = (
                LABELS[encoder],
                split,
                both["n"],
                both["retrieval"] / both["n"],
                en["retrieval"] / max(1, en["n"]),
                zh["retrieval"] / max(1, zh["n"]),
                both["chat"] / both["n"],
                en["chat"] / max(1, en["n"]),
                zh["chat"] / max(1, zh["n"]),
                both["asked"] / both["n"],
                both["miss"] / both["n"],
                both["other"] / both["n"],
                both["asked_right"],
            )
            rows.append(row)
            print(
                f"  {encoder} {split} ({both['n']}): retrieval {row[3]:.3f} (EN {row[4]:.3f}, ZH {row[5]:.3f}); "
                f"chat {row[6]:.3f} (EN {row[7]:.3f}, ZH {row[8]:.3f}); asked back {row[9]:.3f}, "
                f"(right article offered {row[12]}), off-topic {row[10]:.3f}, handler {row[11]:.3f}",
                flush=True,
            )
    if getattr(args, "kb_dump", None):
        Path(args.kb_dump).write_text(json.dumps(dump, ensure_ascii=False, indent=1), encoding="utf-8")
    print()
    print(
        "| encoder | part | messages | retrieval alone | EN | ZH | chat end to end | EN | ZH "
        "| asked back | off-topic answer | other answer (handler) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row[0]} | {row[1]} | {row[2]} | " + " | ".join(f"{v:.3f}" for v in row[3:12]) + " |")
    print(flush=True)
    if probe_summary:
        print("| encoder | off-topic probe messages | answered with something else | by what |")
        print("|---|---|---|---|")
        for label, n, answered, by_outcome in probe_summary:
            what = ", ".join(f"{k} {v}" for k, v in sorted(by_outcome.items(), key=lambda kv: -kv[1]))
            print(f"| {label} | {n} | {answered / max(1, n):.2f} | {what} |")
        print(flush=True)


def probe_rows(service, classifier, encoder, probe, title_of) -> list[dict]:
    """Each off-topic probe message through ``ChatService.reply``: what answered it, with the
    classifier's top intent (probability, prototype similarity) and the closest article on the
    ranker's calibrated scale — the evidence for why an off-topic message got an answer."""
    from ecom_ai.chat import retrieval
    from ecom_ai.chat.service import ChatService, _knowledge_scale

    out = []
    for n, (text, language) in enumerate(probe):
        conversation = ChatService.start_conversation(visitor_key=f"probe{encoder}{n}")
        bot = service.reply(conversation, text)
        prediction = classifier.predict(text)
        top = retrieval.knowledge_matches(prediction.vector, classifier.encoder, limit=1)
        scale = _knowledge_scale(classifier.encoder)
        sources = bot.sources if bot is not None else []
        cited = [s for s in sources if s.get("type") == "article"]
        if bot is None:
            outcome = "silent"
        elif cited:
            outcome = "article"
        elif bot.suggestions and _is_off_topic(bot):
            outcome = "off-topic"
        elif bot.suggestions and not bot.intent:
            outcome = "asked back"
        else:
            outcome = "handler: " + (bot.intent or "?")
        out.append(
            {
                "language": language,
                "text": text,
                "outcome": outcome,
                "answer": (bot.text[:80] if bot is not None else None),
                "intent": prediction.best_guess,
                "in_scope": not prediction.out_of_scope,
                "confidence": round(prediction.confidence, 3),
                "similarity": round(prediction.similarity, 3),
                "min_similarity": round(float(classifier.calibrated_min_similarity), 3),
                "cited": (title_of.get(cited[0].get("id"), "") if cited else ""),
                "article": (title_of.get(top[0].root_id, top[0].title) if top else ""),
                "article_score": (round(scale.normalise(top[0].score), 3) if top else None),
            }
        )
    return out


def _is_off_topic(bot) -> bool:
    """The off-topic answer (suggestion buttons of the default topics), not a clarifying question."""
    from ecom_ai.chat import phrases

    return any(bot.text.startswith(phrases.phrase("off_topic", code)[:30]) for code in ("en", "zh"))
