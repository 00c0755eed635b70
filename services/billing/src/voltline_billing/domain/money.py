"""Money: exact decimals that always carry their currency, and the one rounding rule billing uses.

Every amount a person sees is rounded half-up (away from zero at exactly .5) to the currency's
minor unit (cents for EUR, none for JPY). Intermediate quantities stay exact (Fractions) until a line
amount is rounded, so the same inputs always give the same cents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from fractions import Fraction

_CURRENCY = re.compile(r"^[A-Z]{3}$")
# ISO 4217 currencies whose minor unit is not 2 digits; every other code uses 2.
_MINOR_UNITS = {"BIF": 0, "CLP": 0, "ISK": 0, "JPY": 0, "KRW": 0, "PYG": 0, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0}
_MINOR_UNITS |= {"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3}


class CurrencyMismatch(ValueError):
    """Two amounts in different currencies met in one sum."""


def check_currency(code: str) -> str:
    if not _CURRENCY.match(code):
        raise ValueError(f"currency must be an ISO 4217 code of three capital letters, got {code!r}")
    return code


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


def quantum(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(currency))


def to_fraction(value: Decimal | int | Fraction) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(value)


def round_half_up(value: Fraction | Decimal, places: int = 0) -> Decimal:
    """Exact half-up rounding of a Fraction (no float, no context precision involved)."""
    frac = to_fraction(value)
    scale = 10**places
    scaled = abs(frac) * scale
    whole, rest = divmod(scaled.numerator, scaled.denominator)
    if 2 * rest >= scaled.denominator:
        whole += 1
    signed = -whole if frac < 0 else whole
    return Decimal(signed).scaleb(-places)


def round_money(value: Fraction | Decimal, currency: str) -> Decimal:
    """The billing rounding rule: half-up to the currency's minor unit."""
    return round_half_up(value, minor_units(currency))


def ceil_to_step(quantity: int, step: int) -> int:
    """OCPI step_size: consumption is billed in whole blocks, rounding up."""
    if step <= 1:
        return quantity
    return -(-quantity // step) * step


def fmt(amount: Decimal, currency: str) -> str:
    """An amount as the API shows it: a decimal string with exactly the currency's minor digits."""
    return str(amount.quantize(quantum(currency), rounding=ROUND_HALF_UP))


def quantize_up(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(quantum(currency), rounding=ROUND_CEILING)


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0).quantize(quantum(currency)), currency)

    @classmethod
    def of(cls, amount: str | Decimal | int, currency: str) -> Money:
        return cls(round_money(Decimal(amount), check_currency(currency)), currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot combine {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    @property
    def minor(self) -> int:
        """The amount in minor units (cents), as payment providers want it."""
        return int(self.amount.scaleb(minor_units(self.currency)))

    @classmethod
    def from_minor(cls, minor: int, currency: str) -> Money:
        return cls(Decimal(minor).scaleb(-minor_units(currency)), currency)

    def __str__(self) -> str:
        return f"{fmt(self.amount, self.currency)} {self.currency}"

    def as_str(self) -> str:
        return fmt(self.amount, self.currency)
