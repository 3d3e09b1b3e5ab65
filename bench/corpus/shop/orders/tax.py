VAT_RATES = {"DE": 0.19, "FR": 0.20, "IT": 0.22, "NL": 0.21}


def vat_for(country: str, net_cents: int) -> int:
    """Value added tax owed on a net amount, rounded to the cent."""
    rate = VAT_RATES.get(country, 0.0)
    return round(net_cents * rate)


def gross_total(country: str, net_cents: int) -> int:
    return net_cents + vat_for(country, net_cents)
