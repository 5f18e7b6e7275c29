import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from ecom_ai.events import privacy
from ecom_ai.events.identity import identify
from ecom_ai.events.privacy import erase_user_data, export_user_data
from ecom_ai.events.tracking import track
from ecom_ai.models import Event, VisitorIdentity

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_users():
    """alice: own events + a stitched visitor; bob: his own; a shared device visitor."""
    track("view", visitor_key="alice-phone", item_key="1", context={"q": "shoes"}, value="9.90")
    identify("alice-phone", "alice")
    track("view", visitor_key="alice-phone", item_key="2")  # filled: alice
    track("view", user_key="alice", visitor_key="alice-laptop", item_key="3")
    track("view", visitor_key="bob-phone", user_key="bob", item_key="4")
    identify("bob-phone", "bob")
    # a shared device: both logged in on it; its anonymous events are nobody's for certain
    identify("kiosk", "alice")
    identify("kiosk", "bob")
    Event.objects.create(event_type="view", channel="web", visitor_key="kiosk", item_key="5")
    track("view", visitor_key="stranger", item_key="6")


def test_export_contains_the_users_events_and_identities_only(two_users):
    data = export_user_data("alice")
    json.dumps(data)  # serialisable as is
    assert data["user_key"] == "alice" and data["exported_at"]
    assert sorted(e["item_key"] for e in data["events"]) == ["1", "2", "3"]
    assert {e["user_key"] for e in data["events"]} == {"alice"}
    assert sorted(i["visitor_key"] for i in data["identities"]) == ["alice-phone", "kiosk"]
    first = next(e for e in data["events"] if e["item_key"] == "1")
    assert first["context"] == {"q": "shoes"} and first["value"] == "9.90"


def test_erase_removes_the_users_data_and_never_another_users(two_users):
    before_bob = export_user_data("bob")
    counts = erase_user_data("alice")
    assert counts == {"events": 3, "identities": 2}
    assert not Event.objects.filter(user_key="alice").exists()
    assert not VisitorIdentity.objects.filter(user_key="alice").exists()
    after_bob = export_user_data("bob")
    assert [e for e in after_bob["events"] if e["user_key"] == "bob"] == before_bob["events"]
    assert after_bob["identities"] == before_bob["identities"]
    # the shared device's anonymous event and a stranger's stay
    assert set(Event.objects.values_list("item_key", flat=True)) == {"4", "5", "6"}


def test_stitched_anonymous_events_of_an_own_visitor_are_erased():
    Event.objects.create(event_type="view", channel="web", visitor_key="own", item_key="a")
    VisitorIdentity.objects.create(visitor_key="own", user_key="carol")  # link without stitch yet
    assert erase_user_data("carol") == {"events": 1, "identities": 1}
    assert not Event.objects.exists()


def test_unknown_user_exports_and_erases_nothing(two_users):
    assert export_user_data("nobody")["events"] == []
    assert erase_user_data("nobody") == {"events": 0, "identities": 0}
    assert Event.objects.count() == 6


@pytest.mark.parametrize("bad", ["", "   ", None, 5])
def test_a_user_key_is_required(bad):
    with pytest.raises(ValueError):
        export_user_data(bad)
    with pytest.raises(ValueError):
        erase_user_data(bad)


def test_other_areas_register_their_own_data(two_users):
    erased = []
    privacy.register(
        "notes",
        exporter=lambda user_key, visitors: [{"user": user_key, "visitors": visitors}],
        eraser=lambda user_key, visitors: erased.append(user_key) or {"notes": 2},
    )
    try:
        assert "notes" in privacy.registered_sections()
        assert export_user_data("alice")["notes"] == [{"user": "alice", "visitors": ["alice-phone"]}]
        assert erase_user_data("alice")["notes"] == 2 and erased == ["alice"]
    finally:
        privacy.unregister("notes")
    with pytest.raises(ValueError):
        privacy.register("user_key", exporter=lambda u, v: None)


def test_a_failing_eraser_erases_nothing(two_users):
    def broken(user_key, visitors):
        raise RuntimeError("boom")

    privacy.register("zz_broken", eraser=broken)
    try:
        with pytest.raises(RuntimeError):
            erase_user_data("alice")
    finally:
        privacy.unregister("zz_broken")
    assert Event.objects.filter(user_key="alice").count() == 3


def test_export_command_to_stdout_and_file(two_users, tmp_path):
    out = StringIO()
    call_command("ecom_ai_export_user", "alice", stdout=out)
    assert len(json.loads(out.getvalue())["events"]) == 3
    target = tmp_path / "alice.json"
    call_command("ecom_ai_export_user", "alice", "--output", str(target), stderr=StringIO())
    assert json.loads(target.read_text())["user_key"] == "alice"
    with pytest.raises(CommandError):
        call_command("ecom_ai_export_user", "alice", "--output", str(tmp_path / "missing" / "x.json"))


def test_erase_command_needs_confirmation(two_users, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    with pytest.raises(CommandError, match="--yes"):
        call_command("ecom_ai_erase_user", "alice")
    assert Event.objects.filter(user_key="alice").count() == 3
    out = StringIO()
    call_command("ecom_ai_erase_user", "alice", "--yes", stdout=out)
    assert "3 events" in out.getvalue()
    assert not Event.objects.filter(user_key="alice").exists()
    assert Event.objects.filter(user_key="bob").count() == 1


def test_erase_command_interactive_answer(two_users, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    out = StringIO()
    call_command("ecom_ai_erase_user", "alice", stdout=out)
    assert "Aborted" in out.getvalue() and Event.objects.filter(user_key="alice").count() == 3
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    call_command("ecom_ai_erase_user", "alice", stdout=out)
    assert not Event.objects.filter(user_key="alice").exists()
