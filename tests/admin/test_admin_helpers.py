"""The large-table paginator and the server-side SVG chart."""

import pytest
from django.db import connection

from ecom_ai.admin.pagination import LargeTablePaginator, approximate_count, planner_row_estimate
from ecom_ai.admin.svg_chart import nice_ceiling, stacked_bar_chart
from ecom_ai.models import Event

pytestmark = pytest.mark.django_db


def make_events(n):
    Event.objects.bulk_create([Event(event_type="view", channel="web", visitor_key=f"v{i}") for i in range(n)])


def test_small_tables_are_counted_exactly():
    make_events(5)
    paginator = LargeTablePaginator(Event.objects.order_by("-occurred_at"), 2)
    assert paginator.count == 5 and paginator.num_pages == 3
    assert not paginator.is_estimate
    assert approximate_count(Event.objects.all()) == (5, False)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner estimates are PostgreSQL only")
def test_large_tables_use_the_planner_estimate_on_postgresql():
    make_events(50)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ecom_ai_event")
    assert planner_row_estimate(Event.objects.filter(channel="web")) > 0

    class Tiny(LargeTablePaginator):
        exact_count_limit = 10

    paginator = Tiny(Event.objects.all(), 20)
    assert paginator.count == pytest.approx(50, rel=0.5)
    assert paginator.is_estimate
    assert approximate_count(Event.objects.filter(channel="nope"))[0] == 0  # tiny estimate: exact count
    # an impossible filter never reaches the database
    assert LargeTablePaginator(Event.objects.none(), 10).count == 0


def test_planner_estimate_is_none_elsewhere():
    if connection.vendor == "postgresql":
        pytest.skip("sqlite only")
    assert planner_row_estimate(Event.objects.all()) is None


def test_chart_is_svg_with_escaped_labels():
    svg = stacked_bar_chart(["01", "02"], {"web": [1, 2], "<b>evil": [0, 3]}, title="T")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<b>evil" not in svg and "&lt;b&gt;evil" in svg
    assert svg.count("<rect") == 3 + 2  # three non-zero segments, two legend swatches
    assert "no events" not in svg
    assert "no events in this period" in stacked_bar_chart(["01"], {})


def test_nice_ceiling():
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 11, 180, 4000)] == [1, 1, 5, 10, 20, 200, 5000]


def _events_at(*moments):
    from django.utils import timezone as tz

    Event.objects.bulk_create(
        [Event(event_type="view", channel="web", visitor_key="v", occurred_at=tz.make_aware(m)) for m in moments]
    )


def test_indexed_date_drilldown_matches_djangos_distinct_query():
    from datetime import datetime

    from django.db.models import QuerySet

    from ecom_ai.admin.date_drilldown import IndexedDateDrilldownQuerySet

    _events_at(
        datetime(2024, 12, 31, 23, 59),
        datetime(2025, 1, 1, 0, 0),
        datetime(2025, 3, 5, 10),
        datetime(2025, 3, 9, 1),
        datetime(2025, 3, 9, 22),
        datetime(2026, 7, 1),
    )
    fast = IndexedDateDrilldownQuerySet(model=Event)
    slow = QuerySet(model=Event)
    for kind, qs_filter in (
        ("year", {}),
        ("month", {"occurred_at__year": 2025}),
        ("day", {"occurred_at__year": 2025, "occurred_at__month": 3}),
    ):
        expected = list(slow.filter(**qs_filter).datetimes("occurred_at", kind))
        assert list(fast.filter(**qs_filter).datetimes("occurred_at", kind)) == expected, kind
        assert expected
    assert list(fast.filter(channel="web").datetimes("occurred_at", "year", order="DESC"))[0].year == 2026
    assert fast.filter(channel="nope").datetimes("occurred_at", "day") == []


def test_event_changelist_drilldown_never_selects_distinct(admin_client):
    from datetime import datetime

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    _events_at(datetime(2024, 5, 1), datetime(2025, 6, 2), datetime(2025, 6, 3))
    changelist = reverse("admin:ecom_ai_event_changelist")
    for params in ({}, {"occurred_at__year": "2025"}, {"occurred_at__year": "2025", "occurred_at__month": "6"}):
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(changelist, params)
        assert response.status_code == 200
        assert not [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"].upper()], params
    page = admin_client.get(changelist, {"occurred_at__year": "2025", "occurred_at__month": "6"}).content.decode()
    assert "occurred_at__day=2" in page and "occurred_at__day=3" in page and "occurred_at__day=4" not in page
    page = admin_client.get(changelist).content.decode()
    assert "occurred_at__year=2024" in page and "occurred_at__year=2025" in page
