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
