"""A toy "recommender" trainer for the serving tests (the real one is the SASRec trainer)."""

from ecom_ai.ml.registry import TrainResult, Trainer
from tests.recommend.conftest import FakeRecommender


class FakeRecommenderTrainer(Trainer):
    kind = "recommender"
    primary_metric = ""

    def train(self, params, progress):
        return TrainResult(
            payload={"item_keys": list(params["item_keys"]), "order": list(params["order"])}, metrics={"ndcg@10": 0.5}
        )

    def load(self, payload):
        if not isinstance(payload, dict) or "order" not in payload:
            raise ValueError("not a fake recommender payload")
        return FakeRecommender(payload["item_keys"], payload["order"])


PATH = "tests.recommend.fake_trainer.FakeRecommenderTrainer"
