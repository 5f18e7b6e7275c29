"""``manage.py ecom_ai_models [kind]``: list model versions with their status and metrics.

``--check``: load every active version's artifact the way serving does (storage, then the
trainer's ``load``) and say whether it is usable; exits 1 when one is not (its kind is
served by its fallback), for a deploy script or a monitoring probe.
"""

from django.core.management.base import BaseCommand, CommandError

from ecom_ai.ml.registry import primary_metric_value
from ecom_ai.models import ModelVersion

MAX_METRICS = 8


class Command(BaseCommand):
    help = "List model versions (newest first per kind) with status, primary metric and all metrics."

    def add_arguments(self, parser):
        parser.add_argument("kind", nargs="?", help="only this kind")
        parser.add_argument("--limit", type=int, default=10, help="versions per kind (default 10)")
        parser.add_argument(
            "--all-metrics", action="store_true", help=f"show every metric, not the first {MAX_METRICS}"
        )
        parser.add_argument(
            "--check", action="store_true", help="load each active version's artifact; exit 1 when one is unusable"
        )

    def handle(self, kind=None, limit=10, all_metrics=False, check=False, **options):
        if check:
            return self._check(kind)
        self.all_metrics = all_metrics
        versions = ModelVersion.objects.order_by("kind", "-number")
        if kind:
            versions = versions.filter(kind=kind)
        shown: dict[str, int] = {}
        rows = []
        for version in versions.iterator():
            if shown.get(version.kind, 0) >= limit:
                continue
            shown[version.kind] = shown.get(version.kind, 0) + 1
            name, value = primary_metric_value(version)
            primary = (
                f"{name}={value:.4g}" if isinstance(value, (int, float)) and name else (name and f"{name}=-") or "-"
            )
            items = sorted(version.metrics.items())
            metrics = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items[:MAX_METRICS])
            if len(items) > MAX_METRICS:
                metrics += f" (+{len(items) - MAX_METRICS} more: ecom_ai_models {version.kind} --all-metrics)"
                if self.all_metrics:
                    metrics = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items)
            rows.append(
                (
                    version.kind,
                    f"v{version.number}",
                    version.status,
                    primary,
                    f"{version.created_at:%Y-%m-%d %H:%M}",
                    metrics or version.error[:60],
                )
            )
        if not rows:
            self.stdout.write("No model versions" + (f" of kind {kind!r}." if kind else "."))
            return
        header = ("kind", "version", "status", "primary", "created", "metrics")
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header) - 1)]
        for row in [header] + rows:
            self.stdout.write("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + str(row[-1]))

    def _check(self, kind) -> None:
        from ecom_ai.ml.health import check_active

        results = check_active([kind] if kind else None, fresh=True)
        if not results:
            self.stdout.write("No active model version" + (f" of kind {kind!r}." if kind else "."))
            return
        for health in results:
            line = f"{health.kind} v{health.number}: {health.label}"
            self.stdout.write(self.style.SUCCESS(line) if health.ok else self.style.ERROR(line))
        bad = [h for h in results if not h.ok]
        if bad:
            raise CommandError(
                f"{len(bad)} active model(s) unusable: {', '.join(h.kind for h in bad)}; their fallbacks serve.",
                returncode=1,
            )
