"""The settings declared in ecom_ai/conf.py are the single source of validation and docs."""

import pytest
from django.test import override_settings

from ecom_ai.conf import DEFAULTS, SETTINGS, settings as ecom_settings, validate
from scripts import settings_doc


def test_settings_page_is_generated_from_the_declarations():
    page = settings_doc.PAGE.read_text(encoding="utf-8")
    assert settings_doc.render(page) == page, "docs/settings.md is stale: run `make docs`"


def test_every_declared_key_is_on_the_page_once():
    page = settings_doc.PAGE.read_text(encoding="utf-8")
    for key in SETTINGS:
        assert page.count(f"| `{key}` |") == 1, key


def test_every_default_passes_its_own_declaration():
    assert validate(dict(DEFAULTS)) == []
    for setting in SETTINGS.values():
        assert setting.doc.strip() and "\n" not in setting.doc and "|" not in setting.doc.replace("\\|", ""), (
            setting.key
        )


def test_a_stale_page_is_detected():
    page = settings_doc.PAGE.read_text(encoding="utf-8")
    stale = page.replace("| `MAX_BATCH_SIZE` |", "| `MAX_BATCH_SIZE_OLD` |")
    assert settings_doc.render(stale) == page


def test_a_page_without_a_group_table_is_an_error():
    page = settings_doc.PAGE.read_text(encoding="utf-8")
    without = page.replace("<!-- settings table: fraud", "<!-- removed: fraud")
    with pytest.raises(ValueError, match="fraud"):
        settings_doc.render(without)


def test_dotted_path_settings_are_imported_once_per_value():
    from ecom_ai.adapters import DefaultShopAdapter
    from ecom_ai.fraud.training import FraudTrainer

    with override_settings(ECOM_AI={}):
        assert ecom_settings.imported("ADAPTER") is DefaultShopAdapter
        assert ecom_settings.imported("TRAINERS", "fraud") is FraudTrainer
        assert ecom_settings._imported[("ADAPTER", DEFAULTS["ADAPTER"])] is DefaultShopAdapter
    with override_settings(ECOM_AI={"ADAPTER": "tests.no_such_module.Adapter"}):
        assert not ecom_settings._imported  # cleared with the settings
        with pytest.raises(ImportError):
            ecom_settings.imported("ADAPTER")
    with pytest.raises(ValueError, match="not a dotted-path setting"):
        ecom_settings.imported("MAX_BATCH_SIZE")
