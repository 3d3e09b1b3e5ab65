"""Thin client around the card processor's REST API."""

import hashlib
import hmac


class CardProcessorClient:
    def __init__(self, api_key: str, base_url: str) -> None:
        self.api_key = api_key
        self.base_url = base_url

    def charge(self, amount_cents: int, currency: str, card_token: str) -> dict:
        return self._post("/charges", {"amount": amount_cents, "currency": currency, "source": card_token})

    def refund(self, charge_id: str, amount_cents: int | None = None) -> dict:
        body = {"charge": charge_id}
        if amount_cents is not None:
            body["amount"] = amount_cents
        return self._post("/refunds", body)


def verify_webhook_signature(payload: bytes, header: str, secret: str) -> bool:
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)
