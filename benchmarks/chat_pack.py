"""How well a classifier trained on the default intent pack routes messages.

    .venv/bin/python benchmarks/chat_pack.py [--encoders builtin,minilm,hybrid] [--seeds 5]

1. Held-out accuracy and macro-F1 exactly as ``IntentTrainer`` measures them (stratified 20 %
   of each intent's examples, seed 1234, the trainer's head and epochs), plus the mean over
   ``--seeds`` other split seeds (a 20 % holdout of a small pack is only a few messages per
   intent, so one split is noisy).
2. The fixed routing set ``tests/chat/routing_messages.json`` (hand-written messages that are
   not in the pack), with the classifier trained on the whole pack as the chat serves it:
   top-intent accuracy, and the share routed to the right intent *and* in scope with the
   default thresholds (``CHAT_INTENT_THRESHOLD``, calibrated similarity floor).

No database: the pack is read from JSON in the order ``load_pack`` stores it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "sandbox_shop")]
ROUTING = ROOT / "tests" / "chat" / "routing_messages.json"


def specs(model):
    return {
        "builtin": {"kind": "builtin", "dim": 4096},
        "minilm": {"kind": "sentence_transformer", "model": model},
        "hybrid": {"kind": "hybrid", "model": model, "dim": 4096},
    }


def pack_examples(path=None):
    from ecom_ai.chat.pack import read_pack

    texts, labels = [], []
    for intent in read_pack(path)["intents"]:
        for examples in intent["examples"].values():
            texts.extend(examples)
            labels.extend([intent["name"]] * len(examples))
    return texts, labels


def holdout(texts, labels, spec, vectors, seed):
    from ecom_ai.chat.classifier import fit_intent_classifier
    from ecom_ai.chat.training import evaluate, stratified_split

    hidden = 0 if spec["kind"] == "builtin" else 256
    train, test = stratified_split(labels, 0.2, seed)
    clf = fit_intent_classifier(
        [texts[i] for i in train],
        [labels[i] for i in train],
        encoder_spec=spec,
        vectors=vectors[train],
        hidden=hidden,
        epochs=40,
        seed=seed,
    )
    return evaluate(clf, [texts[i] for i in test], [labels[i] for i in test], vectors=vectors[test])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", default=None, help="a pack JSON (default: the shipped default pack)")
    parser.add_argument("--encoders", default="builtin,minilm,hybrid")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--seeds", type=int, default=5, help="extra split seeds averaged")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--show-errors", action="store_true")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import django
    import torch

    torch.set_num_threads(args.threads)
    django.setup()
    from ecom_ai.chat.classifier import fit_intent_classifier
    from ecom_ai.chat.encoders import encoder_from_spec, normalise

    texts, labels = pack_examples(args.pack)
    routing = json.loads(ROUTING.read_text(encoding="utf-8"))["messages"]
    r_texts = [t for ts in routing.values() for t in ts]
    r_labels = [name for name, ts in routing.items() for _ in ts]
    leaked = set(r_texts) & set(texts)
    print(
        f"pack: {len(texts)} examples, {len(set(labels))} intents; routing set: {len(r_texts)} messages"
        + (f" ({len(leaked)} ALSO IN THE PACK)" if leaked else "")
    )
    print(
        f"{'encoder':8} {'holdout acc':>11} {'macro-F1':>9} {'mean F1 (seeds)':>16} {'fixed top-1':>12} {'fixed routed':>13}"
    )
    for name in args.encoders.split(","):
        spec = specs(args.model)[name]
        try:
            encoder = encoder_from_spec(spec)
        except Exception as exc:  # model not installed
            print(f"{name:8} not available: {exc}")
            continue
        vectors = normalise(encoder.encode(texts))
        main_scores = holdout(texts, labels, spec, vectors, 1234)
        extra = [holdout(texts, labels, spec, vectors, seed)["macro_f1"] for seed in range(args.seeds)]
        clf = fit_intent_classifier(texts, labels, encoder_spec=spec, vectors=vectors)
        top = clf.predict_many(r_texts, threshold=0.0, min_similarity=-1.0)
        served = clf.predict_many(r_texts)
        top1 = np.mean([p.best_guess == t for p, t in zip(top, r_labels)])
        routed = np.mean([p.intent == t for p, t in zip(served, r_labels)])
        print(
            f"{name:8} {main_scores['accuracy']:11.3f} {main_scores['macro_f1']:9.3f} "
            f"{(f'{np.mean(extra):.3f}' if extra else '-'):>16} {top1:12.3f} {routed:13.3f}",
            flush=True,
        )
        if args.show_errors:
            for p, s, text, truth in zip(top, served, r_texts, r_labels):
                if p.best_guess != truth or s.intent != truth:
                    print(
                        f"    {truth:16} -> {p.best_guess:16} conf {p.confidence:.2f} sim {p.similarity:.2f}"
                        f"{'' if s.intent else ' (OOS)'}  {text}"
                    )


if __name__ == "__main__":
    main()
