"""Choosing the intent classifier's settings on the training data only (issue 14).

Bitext's 20K training set is templated: a random hold-out of it scores ~98 % with any model
and tells nothing about another sample's phrasing. This split holds out *phrasings*: each
intent's utterances are grouped into 4 clusters (spherical k-means of their USE embeddings,
``ecom_ai.chat.classifier.intent_prototypes``); the classifier trains on one cluster per
intent (``--fold``) and is scored on the other three (~16K utterances). The 4,514 test set and
BANKING77's test split are never read here.

    nice -n 10 .venv/bin/python benchmarks/chat_validation.py --encoders use,use+minilm --c 10,100,1000

Prints accuracy and right-and-in-scope (top intent right and kept in scope by the default
``CHAT_INTENT_THRESHOLD`` and the calibrated similarity floor), fit CPU seconds. Embeddings come
from the cache of ``benchmarks/chat.py`` (``--cache``; computed when missing).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoders", default="use,use+minilm", help="comma list (chat_quality.ENCODERS names)")
    parser.add_argument("--c", default="10,100", help="comma list of the logistic head's c")
    parser.add_argument("--fold", type=int, default=0, help="the cluster (0-3) each intent trains on")
    parser.add_argument("--data", default=None, help="bitext-customer-support CSV (default: ../shared/datasets)")
    parser.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "ecom_ai_chat_bench"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    import chat

    db_file = tempfile.NamedTemporaryFile(suffix=".sqlite3", delete=False)
    db_file.close()
    try:
        chat.setup_django(db_file.name, "sqlite")
        import chat_quality as cq

        from ecom_ai.chat.classifier import fit_intent_classifier, intent_prototypes
        from ecom_ai.conf import settings as ecom_settings

        cache = cq.EmbeddingCache(args.cache)
        texts, labels = cq.load_bitext(args.data)
        names = sorted(set(labels))
        y = np.array([names.index(label) for label in labels])
        use = cache.get("bitext20k", texts, "use")
        protos, owners = intent_prototypes(use, y, len(names), max_per_intent=4, seed=7)
        cluster = np.zeros(len(y), dtype=int)
        for label in range(len(names)):
            rows = np.flatnonzero(y == label)
            cluster[rows] = (use[rows] @ protos[owners == label].T).argmax(axis=1)
        train = cluster == args.fold
        train_x = [t for t, keep in zip(texts, train) if keep]
        train_y = [t for t, keep in zip(labels, train) if keep]
        val_x = [t for t, keep in zip(texts, train) if not keep]
        val_y = [t for t, keep in zip(labels, train) if not keep]
        print(f"Bitext phrasing-cluster validation: train {len(train_x)}, validate {len(val_x)}", flush=True)
        print("| encoder | c | accuracy | right and in scope | fit CPU s |")
        print("|---|---|---|---|---|")
        for encoder in args.encoders.split(","):
            vectors = cache.get("bitext20k", texts, encoder)
            for c in [float(v) for v in args.c.split(",")]:
                started = time.process_time()
                classifier = fit_intent_classifier(
                    train_x, train_y, encoder_spec=cq.ENCODERS[encoder], vectors=vectors[train], c=c
                )
                seconds = time.process_time() - started
                preds = classifier.predict_many(
                    val_x,
                    vectors=vectors[~train],
                    threshold=ecom_settings.CHAT_INTENT_THRESHOLD,
                    min_similarity=classifier.calibrated_min_similarity,
                )
                accuracy = np.mean([p.best_guess == t for p, t in zip(preds, val_y)])
                in_scope = np.mean([p.intent == t for p, t in zip(preds, val_y)])
                print(f"| {encoder} | {c:g} | {accuracy:.4f} | {in_scope:.4f} | {seconds:.0f} |", flush=True)
    finally:
        os.unlink(db_file.name)


if __name__ == "__main__":
    main()
