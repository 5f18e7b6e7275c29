import pytest
from django.core.exceptions import ValidationError

from ecom_ai.fraud.rules import ConditionError, evaluate_rules, parse_condition

FEATURES = {
    "amount": 600.0,
    "ip_country": "NG",
    "shipping_country": "US",
    "orders_ip_24h": 4,
    "first_order": 1,
    "channel": "web",
    "accounts_on_device": None,
    "amount_vs_user_mean": 2.5,
}


@pytest.mark.parametrize(
    "condition, expected",
    [
        ("amount > 500", True),
        ("amount > 500 and ip_country != shipping_country", True),
        ("amount > 1000 or orders_ip_24h >= 3", True),
        ("not first_order", False),
        ('channel in ("app", "store")', False),
        ('channel not in ["app", "store"]', True),
        ("amount > 2 * 250 - 1", True),
        ("amount / 0 > 1", False),  # division by zero is None, never an error
        ("accounts_on_device > 2", False),  # unknown (None) compares false
        ("accounts_on_device == None", True),
        ("ip_country < 3", False),  # incompatible types compare false
        ("100 < amount <= 600", True),
        ("-amount < 0", True),
        ("amount_vs_user_mean >= 2.5", True),
    ],
)
def test_valid_conditions(condition, expected):
    assert parse_condition(condition).evaluate(FEATURES) is expected


@pytest.mark.parametrize(
    "condition, message",
    [
        ("", "empty"),
        ("amount >", "Syntax error"),
        ("amout > 5", "Did you mean amount"),
        ("__import__('os').system('rm -rf /')", "not allowed"),
        ("amount.__class__", "Attribute access"),
        ("open('/etc/passwd')", "Function calls"),
        ("[x for x in ()]", "Comprehensions"),
        ("lambda: 1", "Lambda"),
        ("amount ** 99999999", "not allowed"),
        ("amount if amount else 0", "If/else"),
        ("channel[0] == 'w'", "Indexing"),
        ("(amount := 5)", "not allowed"),
        ("amount is None", "is"),
        ("channel in channel", "'in' needs a list"),
        ("amount > 1; import os", "Syntax error"),
        ("f'{amount}' == '1'", "F-strings"),
        ("{'a': 1} == amount", "Dicts"),
        ("amount > b'1'", "not allowed"),
        ("amount > 1 " + "and amount > 1 " * 300, "too"),
    ],
)
def test_invalid_conditions_are_rejected_with_a_message(condition, message):
    with pytest.raises(ConditionError) as info:
        parse_condition(condition)
    assert message.lower() in str(info.value).lower()


def test_deep_nesting_is_rejected():
    with pytest.raises(ConditionError, match="nested too deeply"):
        parse_condition("not " * 50 + "amount")
    with pytest.raises(ConditionError):
        parse_condition("(" * 300 + "amount" + ")" * 300)  # the parser's own limit


@pytest.mark.django_db
def test_rule_model_validates_on_save_and_in_admin_form(staff_client):
    from ecom_ai.models.fraud import FraudRule

    with pytest.raises(ValidationError) as info:
        FraudRule.objects.create(name="bad", condition="os.system('x')", action="block")
    assert "condition" in info.value.message_dict
    assert not FraudRule.objects.exists()
    response = staff_client.post(
        "/admin/ecom_ai/fraudrule/add/",
        {"name": "evil", "condition": "__import__('os')", "action": "block", "priority": 1, "enabled": "on"},
    )
    assert response.status_code == 200
    assert "not allowed" in response.content.decode()
    assert not FraudRule.objects.exists()
    response = staff_client.post(
        "/admin/ecom_ai/fraudrule/add/",
        {"name": "big", "condition": "amount > 500", "action": "review", "priority": 1, "enabled": "on"},
    )
    assert response.status_code == 302
    assert FraudRule.objects.get().condition == "amount > 500"


@pytest.mark.django_db
def test_evaluate_rules_in_priority_order_and_skips_broken_rows():
    from ecom_ai.models.fraud import FraudRule

    FraudRule.objects.create(name="late", condition="amount > 1", action="allow", priority=50)
    FraudRule.objects.create(name="early", condition="amount > 500", action="block", priority=10)
    FraudRule.objects.bulk_create([FraudRule(name="broken", condition="renamed_feature > 1", priority=1)])
    fired = evaluate_rules(FraudRule.objects.order_by("priority"), FEATURES)
    assert [r.name for r in fired] == ["early", "late"]
