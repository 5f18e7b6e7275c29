"""``manage.py ecom_ai_import_chargebacks chargebacks.csv``: chargebacks become fraud labels.

The CSV has a header row with the columns ``order`` (the order number or key; ``order_number``
and ``order_key`` are accepted too), ``date`` (ISO date or date-time) and ``reason``
(optional). Every row is checked first; if any row is wrong, the errors are listed with
their line numbers and nothing is written (all or nothing). ``--skip-unknown`` skips orders
that have no fraud assessment instead of failing.
"""

from __future__ import annotations

import csv
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

ORDER_COLUMNS = ("order", "order_number", "order_key")
MAX_ERRORS_SHOWN = 50


def _parse_when(text: str):
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = parse_datetime(text)
        if value is None:
            day = parse_date(text)
            value = datetime.combine(day, time.min) if day else None
    except ValueError:
        return None
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, dt_timezone.utc)
    return value


class RowError(Exception):
    """One CSV row that cannot be imported (the message names its line)."""


class Command(BaseCommand):
    help = "Import chargebacks from a CSV file (order, date, reason) as fraud labels; all rows or none."

    def add_arguments(self, parser):
        parser.add_argument("csv_path")
        parser.add_argument(
            "--skip-unknown", action="store_true", help="skip orders without a fraud assessment instead of failing"
        )
        parser.add_argument("--dry-run", action="store_true", help="check the file, write nothing")

    def handle(self, *args, csv_path, skip_unknown=False, dry_run=False, **options):
        rows, header = read_chargeback_csv(csv_path)
        order_col = order_column(csv_path, header)
        parsed, skipped, errors = check_rows(rows, order_col, skip_unknown=skip_unknown)
        if errors:
            raise CommandError(error_report(csv_path, errors))
        if dry_run:
            self.stdout.write(f"{len(parsed)} chargeback(s) would be imported, {skipped} skipped (dry run).")
            return
        import_chargebacks(parsed)
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(parsed)} chargeback(s) as fraud labels"
                + (f"; skipped {skipped} unknown order(s)." if skipped else ".")
            )
        )


def read_chargeback_csv(csv_path) -> tuple[list[dict], list[str]]:
    """The rows and the lower-cased header of the file; a ``CommandError`` when it cannot be read."""
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = [str(h or "").strip().lower() for h in (reader.fieldnames or [])]
    except FileNotFoundError:
        raise CommandError(f"{csv_path}: no such file.") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise CommandError(f"{csv_path}: not a readable UTF-8 CSV file ({exc}).") from None
    if not rows:
        raise CommandError(f"{csv_path}: no chargeback rows (a header row, then one row per chargeback).")
    return rows, header


def order_column(csv_path, header) -> str:
    """The column naming the order (``order``, ``order_number`` or ``order_key``); the header
    must also have ``date``."""
    order_col = next((c for c in ORDER_COLUMNS if c in header), None)
    if order_col is None or "date" not in header:
        raise CommandError(
            f"{csv_path}: the header must have an 'order' (or order_number / order_key) and a "
            f"'date' column; found {', '.join(header) or 'nothing'}."
        )
    return order_col


def check_rows(rows, order_col: str, *, skip_unknown: bool) -> tuple[list, int, list[str]]:
    """``(parsed [(assessment pk, date, reason)], skipped, errors)``: every row is checked."""
    errors, parsed, skipped = [], [], 0
    seen: dict = {}
    for line, raw in enumerate(rows, start=2):
        try:
            row = parse_row(line, raw, order_col, seen)
            pk = find_assessment(line, row[0])
        except RowError as exc:
            errors.append(str(exc))
            continue
        if pk is None:
            if skip_unknown:
                skipped += 1
                continue
            errors.append(f"line {line}: order {row[0]} has no fraud assessment.")
            continue
        parsed.append((pk, row[1], row[2]))
    return parsed, skipped, errors


def parse_row(line: int, raw: dict, order_col: str, seen: dict) -> tuple[str, object, str]:
    """``(order, date, reason)`` of one row; ``RowError`` when it is wrong."""
    if None in raw:
        raise RowError(f"line {line}: more values than columns.")
    row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
    order = row.get(order_col, "")
    when = _parse_when(row.get("date", ""))
    reason = row.get("reason", "")
    if not order:
        raise RowError(f"line {line}: the order is empty.")
    if when is None:
        raise RowError(f"line {line}: date {row.get('date', '')!r} is not a date (use YYYY-MM-DD).")
    if when > timezone.now() + timedelta(days=1):
        raise RowError(f"line {line}: date {row.get('date')} is in the future.")
    if len(reason) > 255:
        raise RowError(f"line {line}: the reason is longer than 255 characters.")
    if order in seen:
        raise RowError(f"line {line}: order {order} is also on line {seen[order]}.")
    seen[order] = line
    return order, when, reason


def find_assessment(line: int, order: str):
    """The pk of the assessment of ``order`` (number or key), ``None`` when there is none."""
    from ecom_ai.models.fraud import FraudAssessment

    matches = list(
        FraudAssessment.objects.filter(Q(order_number=order) | Q(order_key=order)).values_list("pk", flat=True)[:2]
    )
    if len(matches) > 1:
        raise RowError(f"line {line}: {order} matches more than one order; use the order key.")
    return matches[0] if matches else None


def error_report(csv_path, errors: list[str]) -> str:
    shown = errors[:MAX_ERRORS_SHOWN]
    more = f"\n... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
    return f"{csv_path}: {len(errors)} row(s) with errors, nothing was imported:\n" + "\n".join(shown) + more


def import_chargebacks(parsed) -> None:
    """Label the assessments as fraud, all in one transaction."""
    from ecom_ai.models.fraud import FraudAssessment

    with transaction.atomic():
        for pk, when, reason in parsed:
            FraudAssessment.objects.filter(pk=pk).update(
                label=True,
                status=FraudAssessment.STATUS_FRAUD,
                chargeback_at=when,
                chargeback_reason=reason,
                decided_by="chargeback",
                decided_at=timezone.now(),
                updated_at=timezone.now(),
            )
