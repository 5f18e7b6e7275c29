"""``OfferPolicyTrainer`` (model kind ``"offers"``): learns every campaign's policy from its logged decisions.

Per campaign with at least ``min_decisions`` settled decisions (expired, or converted) that a
policy drew (``for_learning``; control group and forced "no offer" rows are left out):

1. rows: the logged customer state (``state_vector``), the arm (``"none"`` + the campaign's
   enabled offers, in order), the logged propensity, the reward of the campaign's objective
   (net revenue = order value − discount − send cost; conversions = 1/0), and the index of the
   customer's next decision in the campaign (multi-step targets when ``gamma > 0``);
2. the **newest** ``validation_fraction`` of decisions (by time) is the held-out window; the older
   ones are split at random into a fitting part and a selection part;
3. a Q-network and a policy-gradient policy are fitted on the fitting part
   (``ecom_ai.marketing.learners``), and ``select_policy`` picks, on the selection part, a learned
   policy only when its doubly-robust gain over the best fixed arm is significant — else the
   best fixed arm;
4. on the held-out window: IPS, SNIPS and DR estimates (bootstrap 95 % intervals) of the chosen
   policy, the logging policy, "no offer" and each fixed offer, stored in the version's
   ``validation`` for the admin.

Metrics: ``dr_value`` (the gate's metric: the chosen policies' DR value per decision, averaged
over campaigns weighted by held-out decisions), ``dr_logging`` and ``dr_none`` (the quality
floor's baselines: a version must beat both), ``decisions``, ``campaigns``.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from django.db.models import Q
from django.utils import timezone

from ecom_ai.conf import settings as ecom_settings
from ecom_ai.marketing import ope
from ecom_ai.marketing.learners import (
    CampaignPolicy,
    LoggedData,
    OfferPolicies,
    best_fixed_arm,
    fit_policy_gradient,
    fit_q_network,
    policy_payload,
    select_policy,
)
from ecom_ai.marketing.state import state_vector
from ecom_ai.ml.registry import NotEnoughData, ProgressReporter, Trainer, TrainResult

DEFAULT_PARAMS = {
    "min_decisions": 200,
    "validation_fraction": 0.25,
    "selection_fraction": 0.3,
    "hidden": 64,
    "epochs": 30,
    "lr": 2e-3,
    "gamma": 0.0,
    "clip": 20.0,
    "pg_epochs": 40,
    "bootstrap": 200,
    "thresholds": [0.0, 0.5, 0.8],
    "campaigns": None,
}


def reward_of(campaign, row) -> float:
    """The campaign objective's reward of one decision row (a dict of OfferDecision values)."""
    converted = row["converted_at"] is not None
    if campaign.objective == "conversions":
        return 1.0 if converted else 0.0
    value = Decimal(row["order_value"] or 0) if converted else Decimal("0")
    if campaign.objective == "margin" and converted and row.get("order_margin") is not None:
        value = Decimal(row["order_margin"])  # the adapter's margin; unknown: net revenue
    return float(value - Decimal(row["discount"] or 0) - Decimal(row["offer__send_cost"] or 0))


def campaign_rows(campaign, now=None) -> list[dict]:
    """The campaign's settled, learnable decisions, oldest first."""
    from ecom_ai.models.marketing import OfferDecision

    now = now or timezone.now()
    settled = Q(expires_at__lte=now) | Q(converted_at__isnull=False)
    return list(
        OfferDecision.objects.filter(settled, campaign=campaign, for_learning=True, is_control=False)
        .order_by("created_at", "pk")
        .values(
            "pk",
            "subject_key",
            "offer__key",
            "offer__send_cost",
            "propensity",
            "probabilities",
            "state",
            "created_at",
            "converted_at",
            "order_value",
            "order_margin",
            "discount",
        )
    )


def logged_data(campaign, rows, arm_keys) -> tuple[LoggedData, np.ndarray, list]:
    """``(LoggedData, logging-policy matrix (n, K), created times)`` of rows whose arm still exists."""
    index = {key: i for i, key in enumerate(arm_keys)}
    kept = [r for r in rows if (r["offer__key"] or "none") in index and 0 < (r["propensity"] or 0) <= 1]
    last_seen: dict[str, int] = {}
    next_index = np.full(len(kept), -1, dtype=np.int64)
    for i in range(len(kept) - 1, -1, -1):
        subject = kept[i]["subject_key"]
        next_index[i] = last_seen.get(subject, -1)
        last_seen[subject] = i
    x = np.stack([state_vector(r["state"] or {}) for r in kept]) if kept else np.zeros((0, 20), dtype=np.float32)
    logging = np.zeros((len(kept), len(arm_keys)))
    for i, r in enumerate(kept):
        probs = r["probabilities"] if isinstance(r["probabilities"], dict) else {}
        for key, p in probs.items():
            if key in index:
                logging[i, index[key]] = float(p)
        if logging[i].sum() <= 0:
            logging[i, index[r["offer__key"] or "none"]] = 1.0
        logging[i] /= logging[i].sum()
    data = LoggedData(
        x,
        [index[r["offer__key"] or "none"] for r in kept],
        [reward_of(campaign, r) for r in kept],
        [r["propensity"] for r in kept],
        next_index,
    )
    return data, logging, [r["created_at"] for r in kept]


def _estimates(data: LoggedData, target, q, bootstrap: int, seed: int) -> dict:
    return {
        name: est.as_dict()
        for name, est in ope.evaluate(
            data.rewards, data.actions, data.propensities, target, q, bootstrap=bootstrap, seed=seed
        ).items()
    }


def train_campaign(
    campaign, arm_keys, data: LoggedData, logging, params: dict, *, seed: int, device="cpu", progress=None
) -> tuple[dict, dict]:
    """Fit, select and evaluate one campaign's policy; ``(payload, evaluation)``."""
    n, arms = len(data), len(arm_keys)
    cut = int(round(n * (1 - float(params["validation_fraction"]))))
    held = np.arange(cut, n)
    rng = np.random.default_rng(seed)
    older = rng.permutation(cut)
    n_sel = int(round(cut * float(params["selection_fraction"])))
    select_rows, fit_rows = np.sort(older[:n_sel]), np.sort(older[n_sel:])
    fit, sel, test = data.subset(fit_rows), data.subset(select_rows), data.subset(held)
    q_params = dict(
        hidden=int(params["hidden"]),
        epochs=int(params["epochs"]),
        lr=float(params["lr"]),
        gamma=float(params["gamma"]),
        clip=float(params["clip"]),
        seed=seed,
        device=device,
    )
    q_model = fit_q_network(fit, arms, progress=progress, **q_params)
    pg = fit_policy_gradient(
        fit,
        arms,
        q_model.predict(fit.x),
        epochs=int(params["pg_epochs"]),
        clip=float(params["clip"]),
        seed=seed,
        device=device,
    )
    q_sel = q_model.predict(sel.x)
    base = best_fixed_arm(data.subset(np.arange(cut)), arms)
    selection = select_policy(
        sel,
        arms,
        q_sel,
        {"qnet": q_sel},
        pg.probabilities(sel.x),
        base_arm=base,
        thresholds=tuple(params["thresholds"]),
        bootstrap=int(params["bootstrap"]),
        seed=seed,
    )
    payload = policy_payload(arm_keys, selection.chosen, selection.base_arm, q_model, pg)
    policy = CampaignPolicy(payload)
    q_test = q_model.predict(test.x)
    chosen = ope.one_hot(policy.scores_matrix(test.x).argmax(axis=1), arms)
    bootstrap = int(params["bootstrap"])
    evaluation = {
        "arms": list(arm_keys),
        "decisions": n,
        "fit_rows": len(fit_rows),
        "selection_rows": len(select_rows),
        "held_out_rows": len(held),
        "chosen": selection.chosen.name,
        "reason": selection.reason,
        "selection": selection.table,
        "policies": {
            "learned": _estimates(test, chosen, q_test, bootstrap, seed),
            "logging": _estimates(test, logging[held], q_test, bootstrap, seed),
            **{
                f"fixed:{key}": _estimates(test, ope.fixed(len(test), arms, k), q_test, bootstrap, seed)
                for k, key in enumerate(arm_keys)
            },
        },
    }
    if len(test):
        diff = ope.compare(
            "dr",
            test.rewards,
            test.actions,
            test.propensities,
            chosen,
            logging[held],
            q_test,
            bootstrap=bootstrap,
            seed=seed,
        )
        evaluation["dr_gain_over_logging"] = diff.as_dict()
    payload["evaluation"] = {"chosen": selection.chosen.name, "reason": selection.reason}
    return payload, evaluation


class OfferPolicyTrainer(Trainer):
    kind = "offers"
    primary_metric = "dr_value"
    higher_is_better = True
    floor_minimums = {"decisions": (200, "logged offer decisions")}
    floor_baselines = {"logging policy": "dr_logging", "no offer": "dr_none"}

    def train(self, params: dict, progress: ProgressReporter) -> TrainResult:
        from ecom_ai.marketing.service import arm_key, campaign_arms
        from ecom_ai.models.marketing import Campaign

        params = {**DEFAULT_PARAMS, **(params or {})}
        seed = int(params.get("seed") or ecom_settings.SEED)
        campaigns = Campaign.objects.all().order_by("pk")
        if params.get("campaigns"):
            campaigns = campaigns.filter(slug__in=list(params["campaigns"]))
        payloads, evaluations, skipped = {}, {}, {}
        weights, values, logging_values, none_values = [], [], [], []
        times = []
        campaigns = list(campaigns)
        for number, campaign in enumerate(campaigns):
            arm_keys = [arm_key(arm) for arm in campaign_arms(campaign)]
            data, logging, created = logged_data(campaign, campaign_rows(campaign), arm_keys)
            if len(data) < int(params["min_decisions"]) or len(arm_keys) < 2:
                skipped[campaign.slug] = f"{len(data)} settled decisions (at least {params['min_decisions']})"
                continue
            progress.update(
                percent=100.0 * number / max(1, len(campaigns)),
                message=f"Campaign {campaign.slug}: {len(data)} decisions.",
            )

            def on_epoch(epoch, epochs, row, _campaign=campaign.slug):
                progress.update(
                    epoch=epoch,
                    total_epochs=epochs,
                    loss=row.get("loss"),
                    metrics={"val_loss": row.get("val_loss")},
                    message=f"Campaign {_campaign}: Q-network.",
                )

            payload, evaluation = train_campaign(
                campaign, arm_keys, data, logging, params, seed=seed, device=self.device, progress=on_epoch
            )
            payloads[campaign.slug] = payload
            evaluations[campaign.slug] = evaluation
            held = evaluation["held_out_rows"]
            if held:
                weights.append(held)
                values.append(evaluation["policies"]["learned"]["dr"]["value"])
                logging_values.append(evaluation["policies"]["logging"]["dr"]["value"])
                none_values.append(evaluation["policies"]["fixed:none"]["dr"]["value"])
            times.extend(created)
        if not payloads:
            why = "; ".join(f"{slug}: {reason}" for slug, reason in skipped.items()) or "no campaigns"
            raise NotEnoughData(f"No campaign has enough settled offer decisions to learn from ({why}).")
        w = np.asarray(weights, dtype=np.float64)

        def average(v):
            return float(np.dot(w, v) / w.sum()) if len(v) else None

        metrics = {
            "dr_value": average(values),
            "dr_logging": average(logging_values),
            "dr_none": average(none_values),
            "decisions": int(sum(e["decisions"] for e in evaluations.values())),
            "held_out_decisions": int(w.sum()),
            "campaigns": len(payloads),
        }
        if len(evaluations) == 1:
            only = next(iter(evaluations.values()))["policies"]["learned"]["dr"]
            metrics.update(dr_value_low=only["low"], dr_value_high=only["high"])
        validation = {
            "method": "newest_window",
            "rows": int(w.sum()),
            "cases": int(w.sum()),
            "campaigns": evaluations,
            "skipped": skipped,
        }
        return TrainResult(
            payload={"campaigns": payloads},
            metrics=metrics,
            params={k: params[k] for k in DEFAULT_PARAMS},
            data_start=min(times) if times else None,
            data_end=max(times) if times else None,
            validation=validation,
        )

    def load(self, payload):
        if not isinstance(payload, dict) or not isinstance(payload.get("campaigns"), dict):
            raise ValueError("not an offers artifact")
        return OfferPolicies({str(slug): CampaignPolicy(p) for slug, p in payload["campaigns"].items()})
