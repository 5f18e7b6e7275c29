from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ecom_ai.events.retention import purge_old_events
from ecom_ai.models import Event
from ecom_ai.tasks import events as event_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def aged_events():
    now = timezone.now()
    ages = [1, 10, 40, 40, 800, 900]
    Event.objects.bulk_create(
        [
            Event(event_type="view", channel="web", visitor_key=f"v{i}", occurred_at=now - timedelta(days=age))
            for i, age in enumerate(ages)
        ]
    )
    return ages


def test_purge_uses_retention_days_by_default(aged_events):
    assert purge_old_events() == 2  # RETENTION_DAYS = 730
    assert Event.objects.count() == 4


def test_purge_with_days_in_small_chunks(aged_events):
    assert purge_old_events(30, chunk_size=1) == 4
    assert sorted(Event.objects.values_list("visitor_key", flat=True)) == ["v0", "v1"]


def test_purge_keeps_everything_when_retention_is_none(aged_events, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "RETENTION_DAYS": None}
    assert purge_old_events() == 0
    assert Event.objects.count() == 6


def test_purge_dry_run_deletes_nothing(aged_events):
    assert purge_old_events(30, dry_run=True) == 4
    assert Event.objects.count() == 6


@pytest.mark.parametrize("days", [0, -1, "7", True])
def test_purge_rejects_bad_days(days):
    with pytest.raises(ValueError):
        purge_old_events(days)


def test_purge_task_runs_inline(aged_events):
    assert event_tasks.purge_old_events.apply(kwargs={"days": 30}).get() == 4


def test_purge_command(aged_events):
    out = StringIO()
    call_command("ecom_ai_purge_events", "--days", "30", "--dry-run", stdout=out)
    assert "Would delete 4" in out.getvalue() and Event.objects.count() == 6
    call_command("ecom_ai_purge_events", "--days", "30", stdout=out)
    assert "Deleted 4" in out.getvalue() and Event.objects.count() == 2
    with pytest.raises(CommandError):
        call_command("ecom_ai_purge_events", "--days", "0")


def test_purge_command_with_retention_none(aged_events, settings):
    settings.ECOM_AI = {**settings.ECOM_AI, "RETENTION_DAYS": None}
    out = StringIO()
    call_command("ecom_ai_purge_events", stdout=out)
    assert "kept forever" in out.getvalue() and Event.objects.count() == 6
