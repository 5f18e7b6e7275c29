#!/usr/bin/env bash
# Pre-release: ecom_ai's migrations are one 0001_initial generated from the models.
# Run after changing ecom_ai models (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f ecom_ai/migrations/0*.py
cd sandbox_shop && PYTHONPATH=.. ../.venv/bin/python manage.py makemigrations ecom_ai --name initial --skip-checks
