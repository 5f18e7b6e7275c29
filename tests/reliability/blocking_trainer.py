"""A toy trainer that keeps training (one epoch every 0.1 s) while ``params["block_file"]`` exists."""

from __future__ import annotations

import os
import time

from tests.ml.toy import ToyTrainer


class BlockingTrainer(ToyTrainer):
    kind = "ml_worker_blocking"

    def train(self, params, progress):
        block_file = params.get("block_file", "")
        epoch = 0
        while block_file and os.path.exists(block_file):
            epoch += 1
            progress.update(epoch=epoch, total_epochs=10_000, loss=1.0 / epoch)
            time.sleep(0.1)
        return super().train({**params, "epochs": 2}, progress)


class SilentTrainer(ToyTrainer):
    """Sleeps ``params["sleep"]`` seconds without any progress update, and reports how far the
    run's heartbeat moved meanwhile (``metrics["heartbeat_moved_s"]``)."""

    kind = "silent"

    def train(self, params, progress):
        from ecom_ai.models import TrainingRun

        before = TrainingRun.objects.get(pk=progress.run.pk).heartbeat_at
        time.sleep(float(params.get("sleep", 1.5)))
        after = TrainingRun.objects.get(pk=progress.run.pk).heartbeat_at
        result = super().train({"epochs": 1}, progress)
        result.metrics["heartbeat_moved_s"] = (after - before).total_seconds()
        return result
