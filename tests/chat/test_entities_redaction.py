from ecom_ai.chat.entities import extract_entities, extract_order_numbers
from ecom_ai.chat.redaction import luhn_valid, redact


def test_order_numbers_and_emails():
    e = extract_entities("Where is order #4F3A2B9C1D? My e-mail is Bob.Smith@Example.com.")
    assert e.order_numbers == ["4F3A2B9C1D"]
    assert e.emails == ["bob.smith@example.com"]


def test_order_number_forms():
    assert extract_order_numbers("status of order 12345") == ["12345"]
    assert extract_order_numbers("order number: A-1042 please") == ["A-1042"]
    assert extract_order_numbers("订单号 4F3A2B9C1D 到哪了") == ["4F3A2B9C1D"]
    assert extract_order_numbers("I need size 42 in blue") == []  # no code-like token
    assert extract_order_numbers("write to me at a1b2c3@example.com") == []  # e-mails are not orders


def test_product_mentions_longest_title_first():
    titles = {"1": "Coat", "2": "Wool Winter Coat", "3": "Mug"}
    e = extract_entities("is the wool winter coat warm?", product_titles=titles)
    assert e.product_keys == ["2", "1"]


def test_luhn():
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")


def test_redacts_card_numbers_security_codes_and_passwords():
    r = redact("my card 4111 1111 1111 1111 cvv 123, password: hunter2")
    assert "4111" not in r.text and "123" not in r.text and "hunter2" not in r.text
    assert "[card number removed]" in r.text
    assert set(r.kinds) == {"card_number", "security_code", "password"}


def test_keeps_non_card_numbers_and_order_data():
    text = "order 4F3A2B9C1D, tracking 1234567890123 is wrong, mail bob@example.com"
    r = redact(text)
    # 1234567890123 fails the Luhn check: not a card number
    assert r.text == text and not r.changed


def test_redacts_iban_and_ssn():
    r = redact("IBAN DE89 3704 0044 0532 0130 00 and SSN 123-45-6789")
    assert "3704" not in r.text and "123-45-6789" not in r.text
    assert set(r.kinds) == {"iban", "ssn"}
