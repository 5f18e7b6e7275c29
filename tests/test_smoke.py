import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_project_checks_pass():
    call_command("check")


@pytest.mark.django_db
def test_migrations_match_the_models():
    """ecom_ai's (and the sandbox's) migrations are up to date with the models."""
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
