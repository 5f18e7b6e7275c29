"""Learned offer policies in the web process.

``learned_scores(campaign, arm_keys, state)`` → ``(scores, version, why)``: the predicted value
of each arm for this customer under the campaign's learned policy — the version the campaign
names, else the active ``"offers"`` version — or ``(None, None, why)`` when there is none, it
does not cover this campaign or its arms, or its artifact is corrupt (never raises).
"""

from __future__ import annotations

import logging
import threading

from ecom_ai.marketing.state import state_vector

logger = logging.getLogger("ecom_ai.marketing")

KIND = "offers"

_pinned: dict[int, object] = {}
_pinned_lock = threading.Lock()


def _pinned_policies(version):
    with _pinned_lock:
        if version.pk in _pinned:
            return _pinned[version.pk]
    from ecom_ai.ml.artifacts import load_artifact
    from ecom_ai.ml.registry import get_trainer

    try:
        policies = get_trainer(KIND).load(load_artifact(version.artifact))
    except Exception as exc:
        logger.error("ecom_ai: offers v%s cannot be loaded: %s", version.number, exc)
        policies = None
    with _pinned_lock:
        if len(_pinned) > 20:
            _pinned.clear()
        _pinned[version.pk] = policies
    return policies


_versions: dict[int, object] = {}


def _version_of(policies, lookup):
    """The version row of the loaded policies (one query per loaded artifact, not per decision)."""
    key = id(policies)
    version = _versions.get(key)
    if version is None or getattr(version, "_policies", None) is not policies:
        version = lookup(KIND)
        if version is not None:
            version._policies = policies
            if len(_versions) > 20:
                _versions.clear()
            _versions[key] = version
    return version


def clear_pinned() -> None:
    _versions.clear()
    with _pinned_lock:
        _pinned.clear()


def learned_policy(campaign, arm_keys):
    """``(CampaignPolicy, version, why)`` of the campaign, or ``(None, None, why)``."""
    from ecom_ai.ml.registry import active_version, load_active

    if campaign.policy_version_id:
        version = campaign.policy_version
        if version.kind != KIND:
            return None, None, f"version {version} is not an offers policy"
        policies = _pinned_policies(version)
    else:
        policies = load_active(KIND)
        version = _version_of(policies, active_version) if policies is not None else None
    if policies is None:
        return None, None, "no usable trained version"
    policy = policies.get(campaign.slug)
    if policy is None:
        return None, None, "the trained version does not cover this campaign"
    if sorted(policy.arms) != sorted(arm_keys):
        return None, None, "the campaign's offers changed since training"
    return policy, version, policy.describe()


def learned_scores(campaign, arm_keys, state):
    try:
        policy, version, why = learned_policy(campaign, arm_keys)
        if policy is None:
            return None, None, why
        scores = policy.arm_scores(state_vector(state), list(arm_keys))
        if scores is None:
            return None, None, "the campaign's offers changed since training"
        return scores, version, policy.describe()
    except Exception as exc:  # a broken artifact or bad numbers: fall back, never fail the page
        logger.exception("ecom_ai: learned offer policy failed for %s", getattr(campaign, "slug", campaign))
        return None, None, f"error: {type(exc).__name__}"
