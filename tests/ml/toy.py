"""Tiny trainers for the registry tests: a real (small) torch model trained on toy data."""

from __future__ import annotations

import torch
from django.db import OperationalError

from ecom_ai.ml.registry import NotEnoughData, TrainResult, Trainer, train_model

TOY = "tests.ml.toy"


class ToyModel:
    def __init__(self, weight: torch.Tensor):
        self.weight = weight

    def predict(self, x: float) -> float:
        return float(self.weight.item() * x)


class ToyTrainer(Trainer):
    """Fits y = 2x with one weight; ``params["score"]`` sets the reported accuracy."""

    kind = "toy"
    primary_metric = "accuracy"
    higher_is_better = True

    def train(self, params, progress):
        epochs = int(params.get("epochs", 3))
        x = torch.linspace(-1, 1, 16)
        y = 2 * x
        weight = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([weight], lr=1.0)
        for epoch in range(1, epochs + 1):
            loss = ((weight * x - y) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            progress.update(epoch=epoch, total_epochs=epochs, loss=loss.item(), metrics={"accuracy": 0.5 + epoch / 10})
        return TrainResult(
            payload={"weight": weight.detach(), "format": 1},
            metrics={"accuracy": params.get("score", 0.8), "loss": loss.item()},
            params={"epochs": epochs},
        )

    def load(self, payload):
        return ToyModel(payload["weight"])


class LowerIsBetterTrainer(ToyTrainer):
    kind = "toy"
    primary_metric = "error"
    higher_is_better = False

    def train(self, params, progress):
        result = super().train(params, progress)
        result.metrics = {"error": params.get("score", 0.2)}
        return result


class BrokenTrainer(ToyTrainer):
    def train(self, params, progress):
        progress.update(epoch=1, total_epochs=2, loss=1.0)
        raise RuntimeError("boom in epoch 2")


class EmptyTrainer(ToyTrainer):
    def train(self, params, progress):
        raise NotEnoughData("only 3 orders, need 40")


class NumpyPayloadTrainer(ToyTrainer):
    def train(self, params, progress):
        import numpy as np

        return TrainResult(payload={"weights": np.zeros(3)}, metrics={"accuracy": 1.0})


class ReentrantTrainer(ToyTrainer):
    """Tries to start a second training of the same kind while training."""

    seen = []

    def train(self, params, progress):
        try:
            train_model("toy")
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            ReentrantTrainer.seen.append(exc)
        return super().train(params, progress)


class FlakyDatabaseTrainer(ToyTrainer):
    """Raises a transient database error on its first call only."""

    calls = 0

    def train(self, params, progress):
        FlakyDatabaseTrainer.calls += 1
        if FlakyDatabaseTrainer.calls == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return super().train(params, progress)


def trainers(**kinds):
    """ECOM_AI["TRAINERS"] mapping: trainers(toy="ToyTrainer") -> {"toy": "tests.ml.toy.ToyTrainer"}."""
    return {kind: f"{TOY}.{name}" for kind, name in kinds.items()}


class CancelledMidwayTrainer(ToyTrainer):
    """Its run gets cancelled (as by an admin in another process) during epoch 2."""

    def train(self, params, progress):
        from ecom_ai.ml.registry import cancel_run

        progress.update(epoch=1, total_epochs=3, loss=1.0)
        cancel_run(progress.run)
        progress.update(epoch=2, total_epochs=3, loss=0.5)  # raises TrainingCancelled
        raise AssertionError("not reached")


class FlooredTrainer(ToyTrainer):
    """A toy with a quality floor: ``params["rows"]`` rows of data, a baseline scoring ``params["baseline"]``."""

    floor_minimums = {"rows": (100, "training rows")}
    floor_baselines = {"coin flip": "baseline_accuracy"}

    def train(self, params, progress):
        result = super().train(params, progress)
        result.metrics.update(rows=params.get("rows", 500))
        if params.get("baseline") is not None:
            result.metrics["baseline_accuracy"] = params["baseline"]
        result.validation = {
            "method": "holdout",
            "rows": 40,
            "positives": params.get("positives", 40),
            "intervals": {"accuracy": params.get("interval", [0.7, 0.85])},
        }
        return result
