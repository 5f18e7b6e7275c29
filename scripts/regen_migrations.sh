#!/usr/bin/env bash
# Pre-release: ecom_ai's migrations are one 0001_initial generated from the models.
# Run after changing ecom_ai models (idempotent). The old file is kept aside and put back
# when makemigrations fails (a settings import error, a model error), so a failed run
# never leaves the package without its migration.
set -euo pipefail
cd "$(dirname "$0")/.."
backup=$(mktemp -d)
cp ecom_ai/migrations/0*.py "$backup"/ 2>/dev/null || true
rm -f ecom_ai/migrations/0*.py
if ! (cd sandbox_shop && PYTHONPATH=.. ../.venv/bin/python manage.py makemigrations ecom_ai --name initial --skip-checks); then
  rm -f ecom_ai/migrations/0*.py
  cp "$backup"/0*.py ecom_ai/migrations/ 2>/dev/null || true
  rm -rf "$backup"
  echo "regen_migrations: makemigrations failed; the previous migration is restored" >&2
  exit 1
fi
rm -rf "$backup"
