def normalize_phone_number(raw: str, default_country_code: str = "+49") -> str:
    digits = "".join(c for c in raw if c.isdigit() or c == "+")
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.startswith("+"):
        digits = default_country_code + digits.lstrip("0")
    return digits
