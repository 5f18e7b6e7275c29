"""The model registry: train, evaluate, activate, roll back and serve model versions.

A domain package (fraud, chat, recommend...) subclasses ``Trainer`` and names it in
``ECOM_AI["TRAINERS"] = {"fraud": "ecom_ai.fraud.training.FraudTrainer"}``. Then::

    version = train_model("fraud")         # synchronous; the Celery task calls this
    model = load_active("fraud")           # in the web process: servable object or None

``train_model`` never touches the active version until the new one has trained, been
stored, loaded back, and passed the evaluation gate (``passes_gate``). A kind has at most
one queued or running ``TrainingRun`` (the database refuses a second: ``TrainingLocked``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from ecom_ai import signals
from ecom_ai.conf import settings as ecom_settings
from ecom_ai.resilient_cache import cache
from ecom_ai.ml.artifacts import ArtifactError, load_artifact, save_artifact
from ecom_ai.ml.device import get_device, seed_everything
from ecom_ai.ml import unusable
from ecom_ai.ml.quality import check_floor
from ecom_ai.models.registry import ModelVersion, TrainingRun

logger = logging.getLogger("ecom_ai.ml")
#: one INFO line per finished epoch of every training ("fraud run #3: epoch 5/40 · loss 0.41 · auc 0.93");
#: the demo and ``ecom_ai_train_all`` print it on the console
progress_logger = logging.getLogger("ecom_ai.ml.progress")

__all__ = [
    "TrainResult",
    "ProgressReporter",
    "Trainer",
    "TrainingLocked",
    "NotEnoughData",
    "TrainingCancelled",
    "UnknownModelKind",
    "cancel_run",
    "get_trainer",
    "train_model",
    "passes_gate",
    "gate_verdict",
    "GateVerdict",
    "activate",
    "rollback",
    "active_version",
    "load_active",
    "queue_training_run",
    "release_stale_runs",
    "clear_loaded_models",
]


class TrainingLocked(Exception):
    """Another training of the same kind is queued or running."""


class NotEnoughData(Exception):
    """Raised by a trainer when there is too little data to train; the message says why."""


class TrainingCancelled(Exception):
    """The run was cancelled (or released as stale) while training; raised by ``ProgressReporter``."""


class UnknownModelKind(ImproperlyConfigured):
    """The kind is not in ``ECOM_AI["TRAINERS"]`` or its trainer cannot be imported."""


@dataclass
class TrainResult:
    """What ``Trainer.train`` returns.

    ``payload`` is stored as the artifact (see ``ecom_ai.ml.artifacts`` for allowed types);
    ``metrics`` must hold the trainer's ``primary_metric`` for the evaluation gate;
    ``params`` are merged into the version's parameters (e.g. defaults filled in);
    ``data_start``/``data_end`` describe the training data window;
    ``validation`` says what the metrics were measured on (JSON: ``method``, ``rows``,
    ``positives``, ``start``/``end``, ``intervals`` ``{metric: [low, high]}``...), stored with
    the version and shown in the admin.
    """

    payload: Any
    metrics: dict
    params: dict = field(default_factory=dict)
    data_start: datetime | None = None
    data_end: datetime | None = None
    validation: dict = field(default_factory=dict)


class ProgressReporter:
    """Handed to ``Trainer.train``: records progress on the ``TrainingRun``.

    Call ``update()`` as often as you like (e.g. every batch); the database is written at
    most once per ``min_interval`` seconds, except when an epoch ends (a new ``epoch``
    value) and at the end. Every call with an ``epoch`` adds to or updates that epoch's
    row in the run's ``history`` (``{"epoch", "loss", **metrics}``), which the admin draws.
    Without a run (``ProgressReporter()``) nothing is written: handy in benchmarks.
    When the run was cancelled meanwhile (admin action, or released as stale), the next
    write raises ``TrainingCancelled``, which ends the training.
    """

    def __init__(self, run: TrainingRun | None = None, *, min_interval: float = 1.0):
        self.run = run
        self.min_interval = min_interval
        self.percent = run.percent if run else 0.0
        self.epoch = run.epoch if run else None
        self.total_epochs = run.total_epochs if run else None
        self.loss = run.loss if run else None
        self.message = run.message if run else ""
        self.history: list[dict] = list(run.history) if run else []
        self._last_write = 0.0
        self._dirty = False
        self._logged_epoch: int | None = None
        self._started = time.monotonic()
        # a running run must still be running when written: else it was cancelled meanwhile
        self._guard = bool(run and run.status == TrainingRun.Status.RUNNING)

    def update(self, *, percent=None, epoch=None, total_epochs=None, loss=None, metrics=None, message="") -> None:
        new_epoch = epoch is not None and epoch != self.epoch
        if total_epochs is not None:
            self.total_epochs = int(total_epochs)
        if epoch is not None:
            self.epoch = int(epoch)
        if loss is not None:
            self.loss = _finite(loss)
        if message:
            self.message = str(message)[:2000]
        if percent is None and epoch is not None and self.total_epochs:
            percent = 100.0 * int(epoch) / self.total_epochs
        if percent is not None:
            self.percent = max(0.0, min(100.0, float(percent)))
        if epoch is not None and (loss is not None or metrics):
            row = {"epoch": self.epoch}
            if loss is not None:
                row["loss"] = _finite(loss)
            for key, value in (metrics or {}).items():
                row[str(key)] = _finite(value)
            if self.history and self.history[-1].get("epoch") == self.epoch:
                self.history[-1].update(row)
            else:
                self.history.append(row)
            if self._logged_epoch != self.epoch:
                self._logged_epoch = self.epoch
                self._log_epoch(row)
        self._dirty = True
        if new_epoch or time.monotonic() - self._last_write >= self.min_interval:
            self.flush()

    def _log_epoch(self, row: dict) -> None:
        if not progress_logger.isEnabledFor(logging.INFO):
            return
        name = f"{self.run.kind} run #{self.run.pk}" if self.run is not None else "training"
        parts = [f"epoch {self.epoch}" + (f"/{self.total_epochs}" if self.total_epochs else "")]
        parts += [
            f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
            for key, value in row.items()
            if key != "epoch"
        ]
        seconds = int(time.monotonic() - self._started)
        parts.append(f"{seconds // 60}:{seconds % 60:02d} elapsed")
        progress_logger.info("%s: %s", name, " · ".join(parts))

    def flush(self, **extra) -> None:
        """Write the current state (and ``extra`` fields) to the run now."""
        if self.run is None:
            return
        now = timezone.now()
        fields = {
            "percent": self.percent,
            "epoch": self.epoch,
            "total_epochs": self.total_epochs,
            "loss": self.loss,
            "history": self.history,
            "message": self.message,
            "heartbeat_at": now,
            **extra,
        }
        rows = TrainingRun.objects.filter(pk=self.run.pk)
        if self._guard:
            rows = rows.filter(status=TrainingRun.Status.RUNNING)
        if not rows.update(**fields) and self._guard:
            current = TrainingRun.objects.filter(pk=self.run.pk).values_list("status", "message").first()
            why = f"{current[0]}: {current[1]}" if current else "the run was deleted"
            raise TrainingCancelled(f"Training run #{self.run.pk} was stopped ({why})")
        for key, value in fields.items():
            setattr(self.run, key, value)
        if fields.get("status", TrainingRun.Status.RUNNING) != TrainingRun.Status.RUNNING:
            self._guard = False
        self._last_write = time.monotonic()
        self._dirty = False


def _finite(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return value if isinstance(value, (str, bool)) or value is None else str(value)
    return value if math.isfinite(value) else None


class Trainer:
    """Base class of a model kind's trainer.

    ``kind`` names the model; ``primary_metric`` is the key in ``TrainResult.metrics`` the
    evaluation gate compares (``higher_is_better`` says which way is better; leave it empty
    to activate every new version). ``train`` raises ``NotEnoughData("why")`` when it cannot
    train yet. ``load`` turns a stored payload back into the object serving uses.

    The quality floor (``ecom_ai.ml.quality``): ``floor_minimums`` maps metric names to
    ``(minimum, "what it counts")`` — the data a version needs; ``floor_baselines`` maps a
    baseline's name to the metric holding *its* primary metric on the same validation
    data — the simple methods a version must beat.

    ``quick_params``: the parameters of a fast first version (``ecom_ai_train_all --quick``), or
    ``None`` when a quick version would not be good enough to serve.
    """

    kind = ""
    primary_metric = ""
    higher_is_better = True
    floor_minimums: dict = {}
    floor_baselines: dict = {}
    #: parameters of a fast, smaller first version (``ecom_ai_train_all --quick``, the demo): the
    #: shop serves it within a minute while the full training runs in the background; ``None``: the
    #: kind has no quick version (``--quick`` skips it; its fallback serves until the full one lands)
    quick_params: dict | None = {}

    @property
    def device(self):
        """The torch device training should use (``ECOM_AI["DEVICE"]``)."""
        return get_device()

    def train(self, params: dict, progress: ProgressReporter) -> TrainResult:
        raise NotImplementedError(f"{type(self).__name__}.train() is not implemented")

    def load(self, payload):
        return payload


# --------------------------------------------------------------------------- trainers


def get_trainer(kind) -> Trainer:
    """Instantiate the trainer configured for ``kind`` in ``ECOM_AI["TRAINERS"]``."""
    trainers = ecom_settings.TRAINERS
    path = trainers.get(kind)
    if not path:
        known = ", ".join(sorted(trainers)) or "none configured"
        raise UnknownModelKind(f"No trainer for model kind {kind!r} in ECOM_AI['TRAINERS'] (known kinds: {known}).")
    try:
        cls = ecom_settings.imported("TRAINERS", kind)
    except ImportError as exc:
        raise UnknownModelKind(f"ECOM_AI['TRAINERS'][{kind!r}] = {path!r} cannot be imported: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Trainer)):
        raise UnknownModelKind(
            f"ECOM_AI['TRAINERS'][{kind!r}] = {path!r} is not a subclass of ecom_ai.ml.registry.Trainer."
        )
    trainer = cls()
    if not trainer.kind:
        trainer.kind = kind
    return trainer


def _metric_spec(kind) -> tuple[str, bool]:
    try:
        trainer = get_trainer(kind)
    except ImproperlyConfigured:
        return "", True
    return trainer.primary_metric, trainer.higher_is_better


def primary_metric_value(version: ModelVersion):
    """``(name, value)`` of the version's primary metric; value ``None`` when absent."""
    name, _ = _metric_spec(version.kind)
    value = (version.metrics or {}).get(name) if name else None
    return name, value


# --------------------------------------------------------------------------- locking

#: the start of a run's message when it was released because its worker stopped beating
WORKER_LOST = "Worker lost:"


def release_stale_runs(kind: str | None = None) -> list[TrainingRun]:
    """Mark dead runs failed and release their kind's lock; returns the released runs.

    Dead: a *running* run whose heartbeat is older than ``TRAINING_HEARTBEAT_TIMEOUT`` (the
    process training it was killed: SIGKILL, out of memory, a lost machine), or a *queued*
    run that no worker started within ``TRAINING_LOCK_TIMEOUT``. Their ``training``
    versions are marked failed too. Called when a training of the kind is requested and
    by the periodic ``ecom_ai.tasks.ml.watch_trainings`` task.
    """
    now = timezone.now()
    running_cutoff = now - timedelta(seconds=float(ecom_settings.TRAINING_HEARTBEAT_TIMEOUT))
    queued_cutoff = now - timedelta(seconds=ecom_settings.TRAINING_LOCK_TIMEOUT)
    stale = TrainingRun.objects.filter(
        Q(status=TrainingRun.Status.RUNNING)
        & (Q(heartbeat_at__lt=running_cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=running_cutoff))
        | Q(status=TrainingRun.Status.QUEUED, created_at__lt=queued_cutoff)
    )
    if kind is not None:
        stale = stale.filter(kind=kind)
    released = []
    for run in stale:
        last = run.heartbeat_at or run.created_at
        if run.status == TrainingRun.Status.RUNNING:
            message = (
                f"{WORKER_LOST} no sign of life since {last:%Y-%m-%d %H:%M:%S %Z} (more than "
                f"TRAINING_HEARTBEAT_TIMEOUT = {ecom_settings.TRAINING_HEARTBEAT_TIMEOUT} s); the process "
                "training it was probably killed."
            )
        else:
            message = (
                f"Marked failed: queued since {run.created_at:%Y-%m-%d %H:%M:%S %Z} and never started (more "
                f"than TRAINING_LOCK_TIMEOUT = {ecom_settings.TRAINING_LOCK_TIMEOUT} s); is a worker "
                "consuming the training queue?"
            )
        updated = TrainingRun.objects.filter(pk=run.pk, status=run.status).update(
            status=TrainingRun.Status.FAILED, finished_at=timezone.now(), message=message
        )
        if updated:
            run.status, run.message = TrainingRun.Status.FAILED, message
            released.append(run)
            logger.warning("ecom_ai: released dead %s training run #%s: %s", run.kind, run.pk, message)
            if run.version_id:
                ModelVersion.objects.filter(pk=run.version_id, status=ModelVersion.Status.TRAINING).update(
                    status=ModelVersion.Status.FAILED, error=message
                )
    return released


class Heartbeat:
    """While training runs, a thread writes the run's ``heartbeat_at`` every
    ``TRAINING_HEARTBEAT_TIMEOUT / 4`` seconds (at most every 60 s), so that a run is
    recognised as dead by its silence only when its process is gone — even in a long epoch
    without progress updates. Not started inside the caller's transaction (the thread's
    connection could wait on the caller's row locks): progress updates beat there."""

    def __init__(self, run: TrainingRun):
        self.run_pk = run.pk
        self.interval = max(0.2, min(60.0, float(ecom_settings.TRAINING_HEARTBEAT_TIMEOUT) / 4))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        from django.db import connection

        if not connection.in_atomic_block:
            self._thread = threading.Thread(target=self._beat, name=f"ecom_ai-heartbeat-{self.run_pk}", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _beat(self) -> None:
        from django.db import connection

        try:
            while not self._stop.wait(self.interval):
                try:
                    TrainingRun.objects.filter(pk=self.run_pk, status=TrainingRun.Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # noqa: BLE001 - a database hiccup: the next beat tries again
                    logger.warning(
                        "ecom_ai: could not write the heartbeat of training run #%s", self.run_pk, exc_info=True
                    )
                    connection.close()
        finally:
            connection.close()


def cancel_run(run: TrainingRun, user=None) -> bool:
    """Stop a queued or running run: it is marked failed at once (releasing the lock).

    A queued run is then never started; a running trainer stops at its next progress
    update (``TrainingCancelled``) and its version is marked failed. Returns False when the
    run had already finished.
    """
    who = f" by {user}" if getattr(user, "pk", None) else ""
    message = f"Cancelled{who} at {timezone.now():%Y-%m-%d %H:%M:%S %Z}."
    cancelled = TrainingRun.objects.filter(pk=run.pk, status__in=TrainingRun.LOCKING_STATUSES).update(
        status=TrainingRun.Status.FAILED, message=message, finished_at=timezone.now()
    )
    if cancelled:
        ModelVersion.objects.filter(training_runs=run, status=ModelVersion.Status.TRAINING).update(
            status=ModelVersion.Status.FAILED, error=message
        )
        logger.info("ecom_ai: %s training run #%s cancelled%s", run.kind, run.pk, who)
    run.refresh_from_db()
    return bool(cancelled)


def _create_locked_run(kind, params, user, status) -> TrainingRun:
    now = timezone.now()
    values = {"kind": kind, "status": status, "params": params or {}, "requested_by": user}
    if status == TrainingRun.Status.RUNNING:
        values.update(started_at=now, heartbeat_at=now)
    for attempt in range(2):
        try:
            with transaction.atomic():
                return TrainingRun.objects.create(**values)
        except IntegrityError:
            if attempt == 0 and release_stale_runs(kind):
                continue
            break
    holder = TrainingRun.objects.filter(kind=kind, status__in=TrainingRun.LOCKING_STATUSES).first()
    where = (
        f" (run #{holder.pk}, {holder.status} since {holder.started_at or holder.created_at:%Y-%m-%d %H:%M})"
        if holder
        else ""
    )
    raise TrainingLocked(f"A {kind} training is already queued or running{where}; try again when it has finished.")


def queue_training_run(kind: str, params: dict | None = None, user=None) -> TrainingRun:
    """Create a *queued* run for ``kind`` (taking its training lock); the task then runs it.

    Raises ``UnknownModelKind`` for a kind without trainer, ``TrainingLocked`` when busy.
    """
    get_trainer(kind)
    return _create_locked_run(kind, dict(params or {}), _user(user), TrainingRun.Status.QUEUED)


def _user(user):
    return user if getattr(user, "pk", None) else None


def _start_run(kind, params, user, run) -> TrainingRun:
    if run is None:
        return _create_locked_run(kind, params, user, TrainingRun.Status.RUNNING)
    if run.kind != kind:
        raise ValueError(f"Training run #{run.pk} is for {run.kind!r}, not {kind!r}.")
    now = timezone.now()
    started = TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.RUNNING, started_at=now, heartbeat_at=now, params=params
    )
    run.refresh_from_db()
    if not started:
        raise TrainingLocked(f"Training run #{run.pk} is {run.status}, not queued; it is not started again.")
    return run


# --------------------------------------------------------------------------- training


def train_model(kind, params=None, *, user=None, run=None) -> ModelVersion:
    """Train a new version of ``kind`` now, in this process; return it.

    The new version becomes active when it passes the evaluation gate, otherwise it stays
    ``ready`` (activate it by hand). On any error the version and the run are marked
    failed with the message, the active version is left as it was, and the error is
    re-raised (``NotEnoughData`` too: its run is failed, its empty version deleted).
    ``run`` is a queued ``TrainingRun`` (from ``queue_training_run``) to carry on with.
    """
    params = dict(params or {})
    user = _user(user)
    try:
        trainer = get_trainer(kind)
    except ImproperlyConfigured as exc:
        if run is not None:
            TrainingRun.objects.filter(pk=run.pk, status__in=TrainingRun.LOCKING_STATUSES).update(
                status=TrainingRun.Status.FAILED, message=str(exc), finished_at=timezone.now()
            )
        raise
    run = _start_run(kind, params, user, run)
    with Heartbeat(run):
        return _train(kind, params, user, run, trainer)


def _train(kind, params, user, run, trainer) -> ModelVersion:
    user = user or run.requested_by
    version = None
    progress = ProgressReporter(run)
    try:
        seed_everything(params.get("seed"))
        number = (ModelVersion.objects.filter(kind=kind).aggregate(top=Max("number"))["top"] or 0) + 1
        version = ModelVersion.objects.create(
            kind=kind, number=number, status=ModelVersion.Status.TRAINING, params=params
        )
        TrainingRun.objects.filter(pk=run.pk).update(version=version)
        run.version = version
        progress.update(percent=0, message=f"Training {kind} v{number} on {get_device()}.")
        progress_logger.info("%s run #%s: training %s v%s on %s", kind, run.pk, kind, number, get_device())

        result = trainer.train(params, progress)
        if not isinstance(result, TrainResult):
            raise TypeError(f"{type(trainer).__name__}.train() must return a TrainResult, not {type(result).__name__}.")
        progress.message = "Storing the artifact."
        progress.flush()  # also: stop here if the run was cancelled meanwhile
        version.artifact = save_artifact(kind, version.number, result.payload)
        trainer.load(load_artifact(version.artifact))  # the stored artifact must be servable
        version.metrics = {str(k): _finite(v) for k, v in (result.metrics or {}).items()}
        version.params = {**params, **(result.params or {})}
        version.data_start, version.data_end = result.data_start, result.data_end
        version.validation = _json_safe(result.validation or {})
        version.quality = check_floor(trainer, version.metrics).as_dict()
        version.status = ModelVersion.Status.READY
        version.save()

        current = active_version(kind)
        verdict = gate_verdict(version, current)
        if verdict.passed:
            activate(version, user=user)
            outcome = f"{kind} v{version.number} trained and activated."
        else:
            version.notes = verdict.reason
            version.save(update_fields=["notes"])
            outcome = f"{kind} v{version.number} trained; kept as ready. {version.notes}"
        progress.flush(status=TrainingRun.Status.SUCCEEDED, percent=100.0, message=outcome, finished_at=timezone.now())
        logger.info("ecom_ai: %s", outcome)
        progress_logger.info("%s run #%s: %s (%.0f s)", kind, run.pk, outcome, time.monotonic() - progress._started)
        return version
    except BaseException as exc:
        _record_failure(kind, run, version, exc)
        raise


def _record_failure(kind, run, version, exc) -> None:
    if isinstance(exc, NotEnoughData):
        message = f"Not enough data to train {kind}: {exc}"
    elif isinstance(exc, TrainingCancelled):
        message = str(exc)
    else:
        message = f"{type(exc).__name__}: {exc}"
    try:
        if version is not None and version.pk:
            if isinstance(exc, NotEnoughData):
                version.delete()  # nothing was trained: no version to keep
            else:
                ModelVersion.objects.filter(pk=version.pk).update(
                    status=ModelVersion.Status.FAILED, error=message[:10000]
                )
                version.status, version.error = ModelVersion.Status.FAILED, message
                if version.artifact:
                    from ecom_ai.ml.artifacts import delete_artifact

                    delete_artifact(version.artifact)
        TrainingRun.objects.filter(pk=run.pk).update(
            status=TrainingRun.Status.FAILED,
            message=message[:10000],
            finished_at=timezone.now(),
            heartbeat_at=timezone.now(),
        )
        run.status, run.message = TrainingRun.Status.FAILED, message
    except Exception:  # the database may be what failed: never hide the original error
        logger.exception("ecom_ai: could not record the failure of %s training run #%s", kind, run.pk)
    if isinstance(exc, NotEnoughData):
        logger.info("ecom_ai: %s", message)
    else:
        logger.error("ecom_ai: %s training run #%s failed: %s", kind, run.pk, message)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


@dataclass
class GateVerdict:
    passed: bool
    reason: str = ""


def gate_verdict(candidate: ModelVersion, active: ModelVersion | None) -> GateVerdict:
    """Whether ``candidate`` may become active, and why not (the text stored in its notes).

    First its kind's quality floor (``ecom_ai.ml.quality``: enough data, better than the
    simple method it replaces), for every version including the first; then the
    comparison with the active version (``passes_gate``'s second half).
    """
    try:
        trainer = get_trainer(candidate.kind)
    except ImproperlyConfigured:
        trainer = None
    if trainer is not None:
        floor = check_floor(trainer, candidate.metrics)
        if not floor.passed:
            serving = (
                f"the active v{active.number} keeps serving"
                if active is not None and active.pk != candidate.pk
                else "nothing is active, so the fallback keeps serving"
            )
            return GateVerdict(False, f"Not activated: below its quality floor ({floor.summary()}); {serving}.")
    if _beats_active(candidate, active):
        return GateVerdict(True)
    assert active is not None  # without an active version, _beats_active is True
    name, value = primary_metric_value(candidate)
    _, active_value = primary_metric_value(active)
    return GateVerdict(
        False,
        f"Not activated: {name} {_fmt(value)} is worse than the active v{active.number}'s "
        f"{_fmt(active_value)} (tolerance {ecom_settings.EVALUATION_TOLERANCE}).",
    )


def passes_gate(candidate: ModelVersion, active: ModelVersion | None) -> bool:
    """True when ``candidate`` may replace ``active`` (see ``gate_verdict``).

    It must be above its kind's quality floor — also when nothing is active. Then it may
    when there is no active version, the kind has no primary metric, or the active
    version lacks that metric; otherwise its primary metric must be no worse than the
    active one's, within ``ECOM_AI["EVALUATION_TOLERANCE"]`` (absolute). A candidate
    without the metric (or with NaN) never replaces a measured active version.
    """
    return gate_verdict(candidate, active).passed


def _beats_active(candidate: ModelVersion, active: ModelVersion | None) -> bool:
    if active is None or active.pk == candidate.pk:
        return True
    name, higher_is_better = _metric_spec(candidate.kind)
    if not name:
        return True
    old = _number((active.metrics or {}).get(name))
    if old is None:
        return True
    new = _number((candidate.metrics or {}).get(name))
    if new is None:
        return False
    tolerance = float(ecom_settings.EVALUATION_TOLERANCE)
    return new >= old - tolerance if higher_is_better else new <= old + tolerance


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _json_safe(value):
    """Dates as ISO text, non-finite numbers as None: what a JSONField stores on every database."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_safe(value.item())
    return value


# --------------------------------------------------------------------------- activation


def active_version(kind) -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, status=ModelVersion.Status.ACTIVE).first()


def activate(version: ModelVersion, user=None) -> ModelVersion:
    """Make ``version`` the active one of its kind; the previous active one is retired.

    Only ``ready``, ``retired`` (and already ``active``) versions with an artifact can be
    activated. Sends ``ecom_ai.signals.model_activated(version=, previous=)``.
    """
    allowed = (ModelVersion.Status.READY, ModelVersion.Status.RETIRED, ModelVersion.Status.ACTIVE)
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status not in allowed:
            raise ValueError(
                f"{locked.kind} v{locked.number} is {locked.status}; only ready or retired versions can be activated."
            )
        if not locked.artifact:
            raise ValueError(f"{locked.kind} v{locked.number} has no artifact and cannot be activated.")
        if locked.status == ModelVersion.Status.ACTIVE:
            version.refresh_from_db()
            return version
        previous = (
            ModelVersion.objects.select_for_update().filter(kind=locked.kind, status=ModelVersion.Status.ACTIVE).first()
        )
        if previous is not None:
            previous.status = ModelVersion.Status.RETIRED
            previous.save(update_fields=["status"])
        locked.status = ModelVersion.Status.ACTIVE
        locked.activated_at = timezone.now()
        locked.activated_by = _user(user)
        locked.save(update_fields=["status", "activated_at", "activated_by"])
        transaction.on_commit(lambda: _bump_active_token(locked.kind))
    version.refresh_from_db()
    _bump_active_token(version.kind)
    logger.info(
        "ecom_ai: activated %s v%s (previous: %s)",
        version.kind,
        version.number,
        f"v{previous.number}" if previous else "none",
    )
    signals.model_activated.send(sender=ModelVersion, version=version, previous=previous)
    return version


def rollback(kind, user=None) -> ModelVersion:
    """Re-activate the most recently retired version of ``kind`` (the one active before)."""
    candidate = (
        ModelVersion.objects.filter(kind=kind, status=ModelVersion.Status.RETIRED)
        .exclude(artifact="")
        .order_by("-activated_at", "-number")
        .first()
    )
    if candidate is None:
        raise ValueError(f"There is no retired {kind} version to roll back to.")
    return activate(candidate, user=user)


# --------------------------------------------------------------------------- serving

# a reader may cache a value read just before an activation committed: bound how long
_TOKEN_TTL = 60


def _token_key(kind) -> str:
    return f"ecom_ai:ml:active:{kind}"


def _shared_cache() -> bool:
    """A process-local cache cannot tell this process about another's activation."""
    from django.core.cache import DEFAULT_CACHE_ALIAS, caches
    from django.core.cache.backends.dummy import DummyCache
    from django.core.cache.backends.locmem import LocMemCache

    # ``django.core.cache.cache`` is a proxy: look at the real backend behind it
    return not isinstance(caches[DEFAULT_CACHE_ALIAS], (LocMemCache, DummyCache))


def _bump_active_token(kind) -> None:
    """Tell readers that ``kind``'s active version changed.

    This process forgets its loaded servable at once (its next call reloads), and the
    shared cache key is cleared so other processes re-check within their interval.
    """
    _loaded.pop(kind, None)
    try:
        cache.delete(_token_key(kind))
    except Exception:  # a cache outage must not break activation; readers fall back to the DB
        logger.warning("ecom_ai: could not clear the active-model cache key for %s", kind, exc_info=True)


@dataclass
class _Loaded:
    version_id: int | None
    servable: Any
    checked_at: float


_loaded: dict[str, _Loaded] = {}
_load_lock = threading.Lock()  # guards _kind_locks and clearing
_kind_locks: dict[str, threading.Lock] = {}


def clear_loaded_models() -> None:
    """Forget every in-process servable object (they are loaded again on next use)."""
    with _load_lock:
        _loaded.clear()


def _current_active(kind) -> tuple[int | None, str]:
    """``(pk, artifact)`` of the active version: from a shared cache when it has it, else the DB."""
    use_cache = _shared_cache()
    if use_cache:
        try:
            hit = cache.get(_token_key(kind))
        except Exception:
            hit, use_cache = None, False
        if hit is not None:
            return tuple(hit) if hit[0] else (None, "")
    row = (
        ModelVersion.objects.filter(kind=kind, status=ModelVersion.Status.ACTIVE).values_list("pk", "artifact").first()
    )
    value = row or (0, "")
    if use_cache:
        try:
            cache.set(_token_key(kind), value, timeout=_TOKEN_TTL)
        except Exception:
            pass
    return (value[0] or None, value[1])


def load_active(kind):
    """The servable object of ``kind``'s active version, or ``None``.

    Loaded once per process and kept in memory; every ``ACTIVE_MODEL_CHECK_SECONDS`` the
    next call checks (a shared-cache read, or one indexed query) whether another version
    became active and loads it. ``None`` when nothing is active or the artifact is
    unusable (the error is logged); never raises into serving.
    """
    now = time.monotonic()
    entry = _loaded.get(kind)
    if entry is not None and now - entry.checked_at < ecom_settings.ACTIVE_MODEL_CHECK_SECONDS:
        return entry.servable
    with _load_lock:
        kind_lock = _kind_locks.setdefault(kind, threading.Lock())
    with kind_lock:  # one loader per kind; other kinds are served meanwhile
        entry = _loaded.get(kind)
        if entry is not None and now - entry.checked_at < ecom_settings.ACTIVE_MODEL_CHECK_SECONDS:
            return entry.servable
        try:
            version_id, artifact = _current_active(kind)
        except Exception:
            logger.exception("ecom_ai: could not look up the active %s model", kind)
            return entry.servable if entry else None
        if entry is not None and entry.version_id == version_id:
            entry.checked_at = now
            return entry.servable
        servable = None
        if version_id is not None:
            try:
                servable = get_trainer(kind).load(load_artifact(artifact))
            except Exception as exc:
                since = unusable.record_unusable(version_id)
                logger.error(
                    "ecom_ai: the active %s model (version id %s) cannot be loaded, its fallback serves (since %s): %s",
                    kind,
                    version_id,
                    f"{since:%Y-%m-%d %H:%M:%S %Z}",
                    exc,
                    exc_info=not isinstance(exc, ArtifactError),
                )
                servable = None
            else:
                unusable.record_usable(version_id)
        _loaded[kind] = _Loaded(version_id, servable, now)
        return servable


def _on_setting_changed(*, setting, **kwargs):
    if setting in ("ECOM_AI", "CACHES", "STORAGES"):
        clear_loaded_models()


setting_changed.connect(_on_setting_changed)
