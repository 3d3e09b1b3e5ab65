from decimal import ROUND_HALF_EVEN, Decimal

RATES_TO_EUR = {"EUR": Decimal("1"), "USD": Decimal("0.92"), "GBP": Decimal("1.17")}


def convert_to_eur(amount: Decimal, currency: str) -> Decimal:
    rate = RATES_TO_EUR[currency]
    return (amount * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def format_money(cents: int, currency: str) -> str:
    return f"{cents / 100:.2f} {currency}"
