"""Training the intent classifier through the model registry (kind ``"intent"``).

``IntentTrainer`` reads the enabled intents' examples from the database, holds out a
stratified share for evaluation (per-intent recall and macro-F1 go into the version's
metrics; the admin's report shows them), then trains the final head on all examples.
Params: ``hidden``, ``epochs``, ``lr``, ``holdout`` (default 0.2), ``seed``, ``encoder``
(an encoder spec dict; default from settings), ``lexical`` (TF-IDF n-gram features next to
the embedding, see ``classifier.py``; default: with every encoder but the built-in one).
"""

from __future__ import annotations

import numpy as np

from ecom_ai.chat.baselines import tfidf_baseline_metrics
from ecom_ai.chat.classifier import IntentClassifier, fit_intent_classifier
from ecom_ai.chat.encoders import configured_encoder_spec, encoder_from_spec
from ecom_ai.ml.registry import NotEnoughData, Trainer, TrainResult

MIN_EXAMPLES_PER_INTENT = 2


def training_examples() -> tuple[list[str], list[str]]:
    """(texts, intent names) of all enabled intents (the default pack is loaded if none)."""
    from ecom_ai.chat.pack import ensure_default_pack
    from ecom_ai.models import IntentExample

    ensure_default_pack()
    rows = IntentExample.objects.filter(intent__enabled=True).values_list("text", "intent__name").order_by("id")
    texts, labels = [], []
    for text, name in rows:
        texts.append(text)
        labels.append(name)
    return texts, labels


def stratified_split(labels, holdout: float, seed: int):
    """Indices (train, test): ``holdout`` of each label's rows go to test (at least one row
    stays in train; labels with a single row are train only)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    train, test = [], []
    for label in sorted(set(labels.tolist())):
        rows = np.flatnonzero(labels == label)
        rng.shuffle(rows)
        n_test = int(round(len(rows) * holdout)) if len(rows) > 1 else 0
        n_test = min(n_test, len(rows) - 1)
        test.extend(rows[:n_test].tolist())
        train.extend(rows[n_test:].tolist())
    return np.array(sorted(train)), np.array(sorted(test))


def evaluate(classifier: IntentClassifier, texts, labels, *, vectors=None) -> dict:
    """Accuracy, macro-F1 and per-intent recall/F1 of the raw top intent (no OOS cut)."""
    preds = [p.best_guess for p in classifier.predict_many(texts, vectors=vectors, threshold=0.0, min_similarity=-1.0)]
    labels = list(labels)
    names = sorted(set(labels))
    per_intent, f1s = {}, []
    for name in names:
        tp = sum(1 for p, t in zip(preds, labels) if p == name and t == name)
        support = sum(1 for t in labels if t == name)
        predicted = sum(1 for p in preds if p == name)
        recall = tp / support if support else 0.0
        precision = tp / predicted if predicted else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_intent[name] = {"recall": recall, "f1": f1, "support": support}
        f1s.append(f1)
    return {
        "accuracy": float(np.mean([a == b for a, b in zip(preds, labels)])) if labels else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "per_intent": per_intent,
    }


class IntentTrainer(Trainer):
    kind = "intent"
    primary_metric = "macro_f1"
    # `ecom_ai_train_all --quick` skips it: fewer epochs do not make it faster to a useful model, and
    # until the full version lands the chat answers with its fallback (chat.service.fallback_classifier)
    quick_params = None
    higher_is_better = True
    # the quality floor (ecom_ai.ml.quality); the baseline is chat/baselines.py on the same split
    floor_minimums = {"min_examples_per_intent": (10, "examples in the smallest intent")}
    floor_baselines = {"TF-IDF baseline": "tfidf_macro_f1"}

    def train(self, params, progress) -> TrainResult:
        texts, labels = training_examples()
        counts = {name: labels.count(name) for name in set(labels)}
        usable = {name for name, n in counts.items() if n >= MIN_EXAMPLES_PER_INTENT}
        if len(usable) < 2:
            raise NotEnoughData(
                f"need at least two enabled intents with {MIN_EXAMPLES_PER_INTENT}+ examples each (have {len(usable)})."
            )
        keep = [i for i, name in enumerate(labels) if name in usable]
        texts = [texts[i] for i in keep]
        labels = [labels[i] for i in keep]
        spec = params.get("encoder") or configured_encoder_spec()
        hidden = params.get("hidden")
        hidden = None if hidden is None else int(hidden)  # None: the classifier's default for the encoder
        epochs = int(params.get("epochs", 40))
        lr = params.get("lr")
        lr = None if lr is None else float(lr)
        seed = int(params.get("seed", 1234))
        holdout = float(params.get("holdout", 0.2))
        lexical = params.get("lexical")  # None: the classifier's default for the encoder
        lexical = None if lexical is None else bool(lexical)
        device = str(self.device)

        progress.update(percent=2, message=f"Encoding {len(texts)} examples ({spec.get('kind')}).")
        vectors = encoder_from_spec(spec).encode(texts)
        train_idx, test_idx = stratified_split(labels, holdout, seed)
        metrics: dict = {
            "examples": len(texts),
            "intents": len(usable),
            "min_examples_per_intent": min(counts[name] for name in usable),
        }
        if len(test_idx):

            def report(epoch, total, loss):
                progress.update(epoch=epoch, total_epochs=total * 2, loss=loss)

            held = fit_intent_classifier(
                [texts[i] for i in train_idx],
                [labels[i] for i in train_idx],
                encoder_spec=spec,
                vectors=vectors[train_idx],
                hidden=hidden,
                epochs=epochs,
                lr=lr,
                seed=seed,
                device=device,
                lexical=lexical,
                progress=report,
            )
            scores = evaluate(
                held, [texts[i] for i in test_idx], [labels[i] for i in test_idx], vectors=np.asarray(vectors[test_idx])
            )
            metrics.update(
                accuracy=scores["accuracy"], macro_f1=scores["macro_f1"], holdout_examples=int(len(test_idx))
            )
            metrics.update(
                tfidf_baseline_metrics(
                    [texts[i] for i in train_idx],
                    [labels[i] for i in train_idx],
                    [texts[i] for i in test_idx],
                    [labels[i] for i in test_idx],
                )
            )
            for name, row in scores["per_intent"].items():  # flat: the registry keeps numbers only
                metrics[f"recall/{name}"] = row["recall"]
                metrics[f"f1/{name}"] = row["f1"]
            progress.update(
                message=f"Held-out accuracy {scores['accuracy']:.3f}, macro-F1 {scores['macro_f1']:.3f}; "
                "training on all examples."
            )

        def report_final(epoch, total, loss):
            progress.update(
                epoch=total + epoch if len(test_idx) else epoch,
                total_epochs=total * 2 if len(test_idx) else total,
                loss=loss,
            )

        classifier = fit_intent_classifier(
            texts,
            labels,
            encoder_spec=spec,
            vectors=vectors,
            hidden=hidden,
            epochs=epochs,
            lr=lr,
            seed=seed,
            device=device,
            lexical=lexical,
            progress=report_final,
        )
        return TrainResult(
            payload=classifier.to_payload(),
            metrics=metrics,
            params={
                "encoder": spec,
                "hidden": classifier.hidden,
                "epochs": epochs,
                "lr": lr,
                "seed": seed,
                "holdout": holdout,
                "lexical": classifier.lexical is not None,
            },
        )

    def load(self, payload) -> IntentClassifier:
        return IntentClassifier.from_bytes(payload)
