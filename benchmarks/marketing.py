"""Personal offers benchmark on the Hillstrom e-mail experiment (a real randomized trial).

    .venv/bin/python benchmarks/marketing.py [--data ../shared/datasets/hillstrom-email] [--splits 10]
        [--serving] [--db sqlite|postgres] [--batch-customers 100000]

Data: 64,000 customers randomized (propensity 1/3 each) to men's e-mail, women's e-mail or
none; outcomes visit, conversion, spend over two weeks. Features: recency, log history, mens,
womens, newbie, zip code and channel (one-hot).

Protocol: ``--splits`` random 50/50 splits (the same splits for every method). On the test
half, the value of each method's policy (which arm each customer gets) is the IPS estimate
with the known propensities 1/3, in dollars of spend per customer **net of a send cost c per
e-mail**, c ∈ {0, 0.5, 1.0}. Qini coefficient and uplift@30 % (scikit-uplift's metrics) for
visit and conversion, each e-mail vs none, for the methods that score uplift.

Methods (all trained on the training half only):

* fixed: no e-mail, men's for all, women's for all; random (1/3 each);
* T-learner LightGBM: one regressor of spend per arm; argmax of predicted spend − cost;
* scikit-uplift two-model (LightGBM, each e-mail vs none) and class transformation (on
  conversion, its uplift × the mean spend of a conversion); the e-mail with the larger
  predicted gain is sent when the gain exceeds c;
* CausalML X-learner (LightGBM), when causalml is installed;
* ours, the code the product trains (``ecom_ai.marketing.learners``): the Q-network greedy
  policy (spend regressed per arm), the two-part Q greedy policy (P(visit | x, arm) from a
  Q-network × spend of a visitor from a pooled value network), the policy-gradient policy
  (trained per c on the DR value), and **ours (safe)**: the best fixed arm is found on the whole
  training half (model-free: SNIPS of the net spend, the product's rule; ``--fallback engagement``:
  visit rate under the arm × mean spend of a visitor − c), and ``select_policy`` on an inner 30 %
  of it picks a learned policy only when its gain over that arm is significant under both DR and
  SNIPS, else the arm.

Paired differences to the best baseline (by mean) with a 95 % t-interval over splits.
``--serving``: ``OfferService.decide`` p50/p99 in process (wall and CPU, statements per decision;
``--db`` SQLite or PostgreSQL, a trained policy loaded) and
batch decisions for ``--batch-customers`` customers (``ecom_ai.marketing.batch``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "sandbox_shop")]
warnings.filterwarnings("ignore")

ARMS = ("No E-Mail", "Mens E-Mail", "Womens E-Mail")
COSTS = (0.0, 0.5, 1.0)


def load(data_dir: Path):
    df = pd.read_csv(data_dir / "hillstrom.csv.gz")
    x = pd.DataFrame(
        {
            "recency": df["recency"].astype(float),
            "history": np.log1p(df["history"].astype(float)),
            "mens": df["mens"].astype(float),
            "womens": df["womens"].astype(float),
            "newbie": df["newbie"].astype(float),
        }
    )
    for col in ("zip_code", "channel"):
        for value in sorted(df[col].unique()):
            x[f"{col}={value}"] = (df[col] == value).astype(float)
    arm = df["segment"].map({name: i for i, name in enumerate(ARMS)}).to_numpy()
    return (
        x.to_numpy(dtype=np.float32),
        arm,
        df["spend"].to_numpy(float),
        df["visit"].to_numpy(float),
        df["conversion"].to_numpy(float),
    )


def ips_value(choice, arm, reward):
    """IPS value of a deterministic policy (propensity 1/3 for every logged arm)."""
    return float(np.mean((choice == arm) * reward * 3.0))


def lgbm(kind="reg", seed=0):
    import lightgbm as lgb

    params = dict(
        n_estimators=100,
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=100,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.9,
        random_state=seed,
        n_jobs=1,
        verbose=-1,
    )
    return lgb.LGBMRegressor(**params) if kind == "reg" else lgb.LGBMClassifier(**params)


def choose(gains, c):
    """Arm per customer from predicted gains over "none" (n, 2): the larger e-mail gain if it exceeds c."""
    best = gains.argmax(axis=1)
    return np.where(gains.max(axis=1) > c, best + 1, 0)


# --------------------------------------------------------------------------- methods


def t_learner(xtr, atr, ytr, xte, seed):
    preds = []
    for k in range(3):
        model = lgbm(seed=seed).fit(xtr[atr == k], ytr[atr == k])
        preds.append(model.predict(xte))
    preds = np.stack(preds, axis=1)
    return preds[:, 1:] - preds[:, :1]


def sklift_two_model(xtr, atr, ytr, xte, seed, classifier=False):
    from sklift.models import TwoModels

    gains = []
    for k in (1, 2):
        keep = (atr == 0) | (atr == k)
        kind = "clf" if classifier else "reg"
        model = TwoModels(estimator_trmnt=lgbm(kind, seed), estimator_ctrl=lgbm(kind, seed), method="vanilla")
        model.fit(xtr[keep], ytr[keep], (atr[keep] == k).astype(int))
        gains.append(model.predict(xte))
    return np.stack(gains, axis=1)


def sklift_class_transformation(xtr, atr, ytr, xte, seed):
    from sklift.models import ClassTransformation

    gains = []
    for k in (1, 2):
        keep = (atr == 0) | (atr == k)
        model = ClassTransformation(estimator=lgbm("clf", seed))
        model.fit(xtr[keep], ytr[keep].astype(int), (atr[keep] == k).astype(int))
        gains.append(model.predict(xte))
    return np.stack(gains, axis=1)


def causalml_x_learner(xtr, atr, ytr, xte, seed):
    from causalml.inference.meta import BaseXRegressor

    model = BaseXRegressor(learner=lgbm(seed=seed), control_name=0)
    model.fit(xtr, atr, ytr, p={1: np.full(len(xtr), 1 / 3), 2: np.full(len(xtr), 1 / 3)})
    return np.asarray(
        model.predict(xte, p={1: np.full(len(xte), 1 / 3), 2: np.full(len(xte), 1 / 3)}, verbose=False)
    ).reshape(len(xte), 2)


def ours(xtr, atr, ytr, vtr, xte, seed, costs, fallback="snips"):
    """Q-network (greedy), two-part Q (greedy), policy gradient (per c) and the safe selection (per c)."""
    import torch

    from ecom_ai.marketing import learners

    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(xtr))
    n_sel = int(0.3 * len(xtr))
    sel_idx, fit_idx = order[:n_sel], order[n_sel:]
    prop = np.full(len(xtr), 1 / 3)
    fit = learners.LoggedData(xtr[fit_idx], atr[fit_idx], ytr[fit_idx], prop[fit_idx])
    q_params = dict(hidden=64, epochs=15, lr=3e-3, weighting="ips", patience=3, batch_size=1024)
    q_model = learners.fit_q_network(fit, 3, seed=seed, **q_params)
    two_part = learners.fit_two_part(fit, vtr[fit_idx], ytr[fit_idx], 3, seed=seed, **q_params)
    q_fit, q_sel, q_te = q_model.predict(fit.x), q_model.predict(xtr[sel_idx]), q_model.predict(xte)
    tp_sel, tp_te = two_part.predict(xtr[sel_idx]), two_part.predict(xte)
    out = {}
    for c in costs:
        cost = np.array([0.0, c, c])
        out[("Q-network (greedy)", c)] = (q_te - cost).argmax(axis=1)
        out[("two-part Q (greedy)", c)] = (tp_te - cost).argmax(axis=1)
        fit_c = learners.LoggedData(fit.x, fit.actions, fit.rewards - cost[fit.actions], fit.propensities)
        pg = learners.fit_policy_gradient(
            fit_c, 3, q_fit - cost, epochs=15, lr=1e-2, batch_size=4096, clip=10.0, seed=seed
        )
        out[("policy gradient", c)] = pg.probabilities(xte).argmax(axis=1)
        sel = learners.LoggedData(xtr[sel_idx], atr[sel_idx], ytr[sel_idx] - cost[atr[sel_idx]], prop[sel_idx])
        engagement = dict(engaged=vtr, value=ytr, offsets=cost) if fallback == "engagement" else {}
        base = learners.best_fixed_arm(learners.LoggedData(xtr, atr, ytr - cost[atr], prop), 3, **engagement)
        selection = learners.select_policy(
            sel,
            3,
            q_sel - cost,
            {"qnet": q_sel - cost, "twopart": tp_sel - cost},
            pg.probabilities(sel.x),
            thresholds=(0.0, 0.5, 0.8),
            bootstrap=100,
            seed=seed,
            base_arm=base,
        )
        chosen_model = (
            two_part.with_offset(cost)
            if getattr(selection.chosen, "model", "") == "twopart"
            else _shifted(q_model, cost)
        )
        payload = learners.policy_payload(
            ["none", "mens", "womens"], selection.chosen, selection.base_arm, chosen_model, pg
        )
        policy = learners.CampaignPolicy(payload)
        out[("ours (safe)", c)] = policy.scores_matrix(xte).argmax(axis=1)
        out[("ours (safe) chose", c)] = selection.chosen.name
    return out, q_model


def _shifted(q_model, cost):
    """The Q-network with the send cost subtracted in its heads' bias (Q_c = Q_0 − cost)."""
    import copy

    import torch

    model = copy.deepcopy(q_model)
    with torch.no_grad():
        model.net.heads.bias -= torch.tensor(cost, dtype=model.net.heads.bias.dtype)
    return model


def ours_uplift(xtr, atr, ytr, xte, seed):
    """Q-network heads' differences (each e-mail − none) as uplift scores, for Qini."""
    import torch

    from ecom_ai.marketing import learners

    torch.set_num_threads(1)
    data = learners.LoggedData(xtr, atr, ytr, np.full(len(xtr), 1 / 3))
    q = learners.fit_q_network(data, 3, hidden=64, epochs=12, lr=3e-3, batch_size=1024, seed=seed).predict(xte)
    return q[:, 1:] - q[:, :1]


# --------------------------------------------------------------------------- protocol


def t_interval(diffs):
    from scipy import stats

    diffs = np.asarray(diffs, dtype=float)
    mean, sd = diffs.mean(), diffs.std(ddof=1) if len(diffs) > 1 else 0.0
    half = stats.t.ppf(0.975, len(diffs) - 1) * sd / np.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
    return mean, mean - half, mean + half


def run_policies(x, arm, spend, visit, conv, splits: int, seed: int, have_causalml: bool, fallback="snips"):
    values: dict = {}  # (method, c) -> [value per split]
    chosen: dict = {}
    qini: dict = {}  # (method, outcome, e-mail) -> [(qini, uplift@30)]
    from sklift.metrics import qini_auc_score, uplift_at_k

    timings: dict = {}
    for s in range(splits):
        rng = np.random.default_rng(seed + s)
        order = rng.permutation(len(arm))
        tr, te = order[: len(order) // 2], order[len(order) // 2 :]
        xtr, xte, atr, ate = x[tr], x[te], arm[tr], arm[te]
        results: dict = {}
        n = len(te)
        for c in COSTS:
            reward = spend[te] - c * (ate != 0)
            results[("no e-mail", c)] = ips_value(np.zeros(n, int), ate, reward)
            results[("men's e-mail for all", c)] = ips_value(np.ones(n, int), ate, reward)
            results[("women's e-mail for all", c)] = ips_value(np.full(n, 2), ate, reward)
            results[("random", c)] = float(np.mean(reward))  # uniform policy = the logging policy
        spend_methods = [
            ("T-learner LightGBM", t_learner, spend, {}),
            ("sklift two-model", sklift_two_model, spend, {}),
            ("sklift class transformation", sklift_class_transformation, conv, {}),
        ]
        if have_causalml:
            spend_methods.append(("CausalML X-learner", causalml_x_learner, spend, {}))
        for name, fn, y, kwargs in spend_methods:
            t0 = time.perf_counter()
            gains = fn(xtr, atr, y[tr], xte, seed + s, **kwargs)
            if name == "sklift class transformation":  # conversion uplift x mean spend of a conversion
                gains = gains * spend[tr][conv[tr] > 0].mean()
            timings.setdefault(name, []).append(time.perf_counter() - t0)
            for c in COSTS:
                results[(name, c)] = ips_value(choose(gains, c), ate, spend[te] - c * (ate != 0))
        t0 = time.perf_counter()
        our, _ = ours(xtr, atr, spend[tr], visit[tr], xte, seed + s, COSTS, fallback)
        timings.setdefault("ours (Q-net + PG + selection)", []).append(time.perf_counter() - t0)
        for (name, c), choice in our.items():
            if name.endswith("chose"):
                chosen.setdefault(c, []).append(choice)
                continue
            results[(name, c)] = ips_value(choice, ate, spend[te] - c * (ate != 0))
        for key, value in results.items():
            values.setdefault(key, []).append(value)
        # uplift scores for Qini: each e-mail vs none, visit and conversion
        for outcome, y in (("visit", visit), ("conversion", conv)):
            scorers = [
                ("T-learner LightGBM", t_learner, {}),
                ("sklift two-model", sklift_two_model, {"classifier": True}),
                ("sklift class transformation", sklift_class_transformation, {}),
                ("ours (Q-network heads)", ours_uplift, {}),
            ]
            if have_causalml:
                scorers.append(("CausalML X-learner", causalml_x_learner, {}))
            for name, fn, kwargs in scorers:
                gains = fn(xtr, atr, y[tr], xte, seed + s, **kwargs)
                for k, email in ((1, "men's"), (2, "women's")):
                    keep = (ate == 0) | (ate == k)
                    yk, tk, uk = y[te][keep], (ate[keep] == k).astype(int), gains[keep, k - 1]
                    qini.setdefault((name, outcome, email), []).append(
                        (qini_auc_score(yk, uk, tk), uplift_at_k(yk, uk, tk, strategy="overall", k=0.3))
                    )
        print(f"split {s + 1}/{splits} done", file=sys.stderr, flush=True)
    return values, chosen, qini, timings


def policy_table(values, chosen) -> str:
    methods = list(dict.fromkeys(name for name, _ in values))
    ours_names = ("ours (safe)", "Q-network (greedy)", "two-part Q (greedy)", "policy gradient")
    baselines = [m for m in methods if m not in ours_names]
    fixed = ["no e-mail", "men's e-mail for all", "women's e-mail for all"]
    lines = ["| method | " + " | ".join(f"c = ${c:.2f}" for c in COSTS) + " |", "|---|" + "---:|" * len(COSTS)]
    for m in methods:
        cells = []
        for c in COSTS:
            v = np.asarray(values[(m, c)])
            cells.append(f"{v.mean():.3f} ± {v.std(ddof=1):.3f}")
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        "Paired difference to the best baseline and to the best fixed policy (mean over splits, 95 % t-interval):"
    )
    lines.append("")
    lines.append("| ours | c | best baseline | diff (95 % CI) | best fixed | diff (95 % CI) |")
    lines.append("|---|---:|---|---:|---|---:|")
    for m in ours_names:
        for c in COSTS:
            best = max(baselines, key=lambda b: np.mean(values[(b, c)]))
            best_fixed = max(fixed, key=lambda b: np.mean(values[(b, c)]))
            d1 = t_interval(np.asarray(values[(m, c)]) - np.asarray(values[(best, c)]))
            d2 = t_interval(np.asarray(values[(m, c)]) - np.asarray(values[(best_fixed, c)]))
            lines.append(
                f"| {m} | {c:.2f} | {best} | {d1[0]:+.3f} ({d1[1]:+.3f} to {d1[2]:+.3f}) | {best_fixed} | "
                f"{d2[0]:+.3f} ({d2[1]:+.3f} to {d2[2]:+.3f}) |"
            )
    lines.append("")
    for c in COSTS:
        counts = pd.Series(chosen.get(c, [])).value_counts().to_dict()
        lines.append(f"- ours (safe) at c = {c:.2f} chose: " + ", ".join(f"{k} ×{v}" for k, v in counts.items()))
    return "\n".join(lines)


def qini_table(qini) -> str:
    lines = ["| method | outcome | e-mail | Qini (mean ± sd) | uplift@30 % (mean ± sd) |", "|---|---|---|---:|---:|"]
    for (name, outcome, email), rows in qini.items():
        q = np.asarray([r[0] for r in rows])
        u = np.asarray([r[1] for r in rows])
        lines.append(
            f"| {name} | {outcome} | {email} | {q.mean():.4f} ± {q.std(ddof=1):.4f} | "
            f"{u.mean():.4f} ± {u.std(ddof=1):.4f} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- serving


def serving(
    x,
    arm,
    spend,
    batch_customers: int,
    decisions: int = 2000,
    db: str = "sqlite",
    commit: str = "durable",
    path: str = "auto",
    compare: bool = False,
) -> dict:
    """decide() p50/p99 (wall and CPU, statements) with a trained policy loaded, and one batch for
    ``batch_customers``, on a fresh test database (``db``: sqlite or postgres). ``commit``: the
    ``MARKETING_DECISION_COMMIT`` setting; ``path="transactional"`` forces the transactional store
    of a new decision (what SQLite and shops with their own coupons use) on PostgreSQL too.
    ``compare``: first, new decisions under each store path × commit mode, interleaved in blocks
    of 50 (a changing machine load hits every mode alike)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ["ECOM_AI_TEST_DB"] = db
    import random
    from decimal import Decimal

    import django
    import torch
    from django.conf import settings

    django.setup()
    from django.test.utils import setup_databases, teardown_databases

    torch.set_num_threads(1)
    settings.MIGRATION_MODULES = {app.label: None for app in django.apps.apps.get_app_configs()}
    settings.DEBUG = False
    settings.ECOM_AI = {**settings.ECOM_AI, "MARKETING_DECISION_COMMIT": commit}
    if path == "transactional":
        from ecom_ai.marketing import store

        store.usable = lambda connection, offer: False  # the benchmark's switch: the pre-one-statement path
    old = setup_databases(verbosity=0, interactive=False)
    try:
        from ecom_ai.marketing import learners
        from ecom_ai.marketing.batch import decide_batch
        from ecom_ai.marketing.service import OfferService
        from ecom_ai.marketing.simulation import simulated_customers
        from ecom_ai.marketing.state import Identity, VECTOR_NAMES, state_matrix
        from ecom_ai.ml.artifacts import save_artifact
        from ecom_ai.models import ModelVersion
        from ecom_ai.models.marketing import Campaign, Offer

        campaign = Campaign.objects.create(
            name="Bench",
            slug="bench",
            channels=["site", "email"],
            control_percent=10,
            exploration_rate=0.1,
            frequency_cap=None,
            policy=Campaign.Policy.LEARNED,
        )
        Offer.objects.create(
            campaign=campaign,
            key="ten",
            title="10 %",
            value=Decimal("10"),
            expected_discount_cost=Decimal("1.00"),
            position=1,
        )
        Offer.objects.create(
            campaign=campaign,
            key="ship",
            title="Free shipping",
            kind="free_shipping",
            expected_discount_cost=Decimal("0.50"),
            position=2,
        )
        # a Q-network over the product's state vector, trained on simulated logged decisions
        rng = random.Random(0)
        states = simulated_customers(4000, rng)
        xs = state_matrix(states)
        acts = np.array([rng.randrange(3) for _ in states])
        data = learners.LoggedData(xs, acts, rng.random() + xs[:, 0] * (acts == 1), np.full(len(xs), 1 / 3))
        q = learners.fit_q_network(data, 3, epochs=3, seed=0)
        payload = {
            "campaigns": {
                "bench": learners.policy_payload(
                    ["none", "ten", "ship"], learners.Candidate("qnet", "qnet"), 0, q, None
                )
            }
        }
        version = ModelVersion.objects.create(
            kind="offers", number=1, status="active", artifact=save_artifact("offers", 1, payload)
        )
        assert len(VECTOR_NAMES) == xs.shape[1] and version.pk
        service = OfferService(rng=random.Random(1))
        for i in range(50):  # warm up: the policy is loaded once per process
            service.decide(Identity(user_key=f"warm-{i}"), "bench")
        compared = compare_modes(service, decisions, db) if compare else {}
        times, cpu = [], []
        for i in range(decisions):
            t0, c0 = time.perf_counter(), time.thread_time()
            service.decide(Identity(user_key=f"c-{i}"), "bench")
            times.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
        sticky, sticky_cpu = [], []
        for i in range(decisions):
            t0, c0 = time.perf_counter(), time.thread_time()
            service.decide(Identity(user_key=f"c-{i}"), "bench")
            sticky.append(time.perf_counter() - t0)
            sticky_cpu.append(time.thread_time() - c0)
        # statements per decision (counted apart from the timed loops): new ones, then sticky
        from django.db import connection

        statements: list = []

        def count(execute, sql, params, many, context):
            statements.append(sql.split(None, 1)[0].upper())
            return execute(sql, params, many, context)

        per_new, per_sticky = [], []
        with connection.execute_wrapper(count):
            for per in (per_new, per_sticky):
                for i in range(200):
                    statements.clear()
                    service.decide(Identity(user_key=f"s-{i}"), "bench")
                    per.append(sum(s not in ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT") for s in statements))
        from ecom_ai.marketing.serving import learned_scores

        policy_times, policy_cpu = [], []
        for state in states[:2000]:
            t0, c0 = time.perf_counter(), time.thread_time()
            learned_scores(campaign, ["none", "ten", "ship"], state)
            policy_times.append(time.perf_counter() - t0)
            policy_cpu.append(time.thread_time() - c0)
        out = {
            **compared,
            "decide p50 ms": np.percentile(times, 50) * 1e3,
            "decide p99 ms": np.percentile(times, 99) * 1e3,
            "sticky p50 ms": np.percentile(sticky, 50) * 1e3,
            "sticky p99 ms": np.percentile(sticky, 99) * 1e3,
            "sticky CPU time p50 ms": np.percentile(sticky_cpu, 50) * 1e3,
            "sticky CPU time p99 ms": np.percentile(sticky_cpu, 99) * 1e3,
            "statements per new decision (mean, max; without BEGIN/COMMIT)": f"{np.mean(per_new):.2f}, {max(per_new)}",
            "statements per sticky decision (mean, max)": f"{np.mean(per_sticky):.2f}, {max(per_sticky)}",
            "decide CPU time p50 ms": np.percentile(cpu, 50) * 1e3,
            "decide CPU time p99 ms": np.percentile(cpu, 99) * 1e3,
            "policy only (state vector + loaded Q-network) p99 ms": np.percentile(policy_times, 99) * 1e3,
            "policy only CPU time p99 ms": np.percentile(policy_cpu, 99) * 1e3,
        }
        campaign.total_budget = Decimal("20000")
        campaign.save()
        customers = [
            (Identity(user_key=f"b-{i}"), s)
            for i, s in enumerate(simulated_customers(batch_customers, random.Random(2)))
        ]
        t0, c0 = time.perf_counter(), time.process_time()
        result = decide_batch(campaign, customers, rng=random.Random(3))
        out["batch seconds"] = time.perf_counter() - t0
        out["batch CPU seconds"] = time.process_time() - c0
        out["batch customers"] = batch_customers
        out["batch offers given"] = result.offers
        out["batch spent"] = float(result.spent)
        return out
    finally:
        teardown_databases(old, verbosity=0)


def compare_modes(service, decisions: int, db: str) -> dict:
    """New decisions p50/p99 (wall, CPU) per (store path, commit mode), interleaved in blocks of 50."""
    from ecom_ai.marketing import store
    from ecom_ai.marketing.state import Identity

    usable, asynchronous = store.usable, store.asynchronous
    paths = ("transactional", "one statement") if db == "postgres" else ("transactional",)
    modes = [(p, c) for p in paths for c in (("durable", "async") if db == "postgres" else ("durable",))]
    wall: dict = {m: [] for m in modes}
    cpu: dict = {m: [] for m in modes}
    n = 0
    try:
        for _block in range(max(1, decisions // 50)):
            for mode in modes:
                path, commit = mode
                # switched in place: override_settings would clear the campaign and policy caches
                store.usable = usable if path == "one statement" else (lambda connection, offer: False)
                store.asynchronous = (lambda: True) if commit == "async" else (lambda: False)
                for _i in range(50):
                    n += 1
                    t0, c0 = time.perf_counter(), time.thread_time()
                    service.decide(Identity(user_key=f"m-{n}"), "bench")
                    wall[mode].append(time.perf_counter() - t0)
                    cpu[mode].append(time.thread_time() - c0)
    finally:
        store.usable, store.asynchronous = usable, asynchronous
    out = {}
    for mode in modes:
        name = f"{mode[0]}, {mode[1]}"
        out[f"new decision [{name}] wall p50 / p99 ms"] = (
            f"{np.percentile(wall[mode], 50) * 1e3:.2f} / {np.percentile(wall[mode], 99) * 1e3:.2f}"
        )
        out[f"new decision [{name}] CPU p50 / p99 ms"] = (
            f"{np.percentile(cpu[mode], 50) * 1e3:.2f} / {np.percentile(cpu[mode], 99) * 1e3:.2f}"
        )
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "hillstrom-email"))
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-policies", action="store_true", help="skip the policy comparison")
    parser.add_argument("--serving", action="store_true")
    parser.add_argument(
        "--fallback",
        choices=("snips", "engagement"),
        default="snips",
        help="how ours (safe) finds the best fixed arm on the training half: SNIPS of the net spend "
        "(the product's rule, default) or visit rate x spend per visitor - c",
    )
    parser.add_argument("--batch-customers", type=int, default=100_000)
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="--serving on a fresh SQLite file or PostgreSQL test database (ECOM_AI_TEST_DB; server at 127.0.0.1:5432)",
    )
    parser.add_argument(
        "--decision-commit",
        choices=("durable", "async"),
        default="durable",
        help="--serving: the MARKETING_DECISION_COMMIT setting (async: synchronous_commit off for the decision only)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="--serving: new decisions under each store path x commit mode, interleaved in blocks of 50",
    )
    parser.add_argument(
        "--decision-path",
        choices=("auto", "transactional"),
        default="auto",
        help="--serving: 'transactional' stores new decisions as before the one-statement write "
        "(BEGIN, budget UPDATE, coupon INSERT, decision INSERT, COMMIT) on PostgreSQL too",
    )
    args = parser.parse_args()
    x, arm, spend, visit, conv = load(Path(args.data))
    print(
        f"Hillstrom: {len(arm)} customers; spend per arm: "
        + ", ".join(f"{a} ${spend[arm == i].mean():.3f}" for i, a in enumerate(ARMS))
    )
    try:
        import causalml  # noqa: F401

        have_causalml = True
    except Exception as exc:
        print(f"CausalML not available ({exc}): its row is left out")
        have_causalml = False
    if not args.no_policies:
        t0 = time.perf_counter()
        values, chosen, qini, timings = run_policies(
            x, arm, spend, visit, conv, args.splits, args.seed, have_causalml, args.fallback
        )
        print(f"\n### Policy value: IPS spend per customer net of send cost ({args.splits} paired 50/50 splits)\n")
        print(policy_table(values, chosen))
        print("\n### Uplift ranking on the test halves (Qini coefficient, uplift@30 %)\n")
        print(qini_table(qini))
        print("\nFit seconds per split (mean): " + ", ".join(f"{k} {np.mean(v):.1f}" for k, v in timings.items()))
        print(f"total {time.perf_counter() - t0:.0f} s")
    if args.serving:
        out = serving(
            x,
            arm,
            spend,
            args.batch_customers,
            db=args.db,
            commit=args.decision_commit,
            path=args.decision_path,
            compare=args.compare,
        )
        out["database"] = args.db
        out["decision commit, path"] = f"{args.decision_commit}, {args.decision_path}"
        out["load average (1, 5, 15 min) at the end"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
        print("\n### Serving\n")
        for key, value in out.items():
            print(f"- {key}: {value:.3f}" if isinstance(value, float) else f"- {key}: {value}")


if __name__ == "__main__":
    main()
