"""The sandbox provider's hosted fields: a test card number becomes a token (as Stripe Elements would make a
PaymentMethod), so the payment page never handles a card number. Stripe's documented test numbers:

| number              | token                      |
|---------------------|----------------------------|
| 4242 4242 4242 4242 | `tok_visa` (succeeds)      |
| 5555 5555 5555 4444 | `tok_mastercard` (succeeds)|
| 4000 0000 0000 0002 | `tok_declined`             |
| 4000 0000 0000 9995 | `tok_insufficient_funds`   |

Any other number that passes the Luhn check succeeds too (`tok_visa`); one that does not is refused.
"""

from __future__ import annotations

import re

TEST_CARDS = {
    "4242424242424242": "tok_visa",
    "5555555555554444": "tok_mastercard",
    "4000000000000002": "tok_declined",
    "4000000000009995": "tok_insufficient_funds",
}


class CardRefused(ValueError):
    """Not a card number; the message says why."""


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def tokenize(number: str) -> tuple[str, str]:
    """(token, label) for a card number typed with or without spaces."""
    digits = re.sub(r"[\s-]", "", number)
    if not re.fullmatch(r"\d{12,19}", digits) or not luhn_ok(digits):
        raise CardRefused("This card number is not valid.")
    brand = "Visa" if digits.startswith("4") else "Mastercard" if digits[0] in "25" else "Card"
    return TEST_CARDS.get(digits, "tok_visa"), f"{brand} •••• {digits[-4:]}"
