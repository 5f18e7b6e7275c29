"""The co-occurrence trainer and the placements command."""

import pytest
from django.core.management import call_command

from ecom_ai.ml.registry import NotEnoughData, train_model
from ecom_ai.models import ModelVersion, Placement
from ecom_ai.recommend.cooccurrence import build_model

pytestmark = pytest.mark.django_db


def test_cooccurrence_needs_data(rec_settings):
    rec_settings()
    with pytest.raises(NotEnoughData, match="need at least"):
        train_model("cooccurrence")
    assert not ModelVersion.objects.filter(kind="cooccurrence").exists()


def test_build_model_scores_and_neighbours():
    rows = [
        ("p1", "a", "purchase"),
        ("p1", "b", "purchase"),
        ("p2", "a", "purchase"),
        ("p2", "b", "purchase"),
        ("p3", "a", "purchase"),
        ("p3", "c", "purchase"),
        ("p4", "d", "view"),
        ("p4", "a", "view"),
    ]
    model = build_model(rows, top_k=10)
    bought = model.neighbors("a", "bought", 5)
    assert [k for k, _ in bought] == ["b", "c"] and bought[0][1] > bought[1][1]
    assert "d" not in dict(bought) and "d" in dict(model.neighbors("a", "viewed", 5))
    assert model.neighbors("unknown", "bought", 5) == []
    assert model.related({"b": 1.0, "c": 1.0}, "bought", 5)[0][0] == "a"


def test_setup_placements_command_is_idempotent(capsys):
    call_command("ecom_ai_setup_placements")
    assert "Created placements: home, product, cart, email" in capsys.readouterr().out
    Placement.objects.filter(slug="home").update(default_limit=3)
    call_command("ecom_ai_setup_placements")
    assert "exist already" in capsys.readouterr().out
    assert Placement.objects.get(slug="home").default_limit == 3
