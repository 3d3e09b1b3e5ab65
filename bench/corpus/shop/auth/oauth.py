from urllib.parse import urlencode


def authorization_url(client_id: str, redirect_uri: str, state: str) -> str:
    """Where to send the browser to sign in with the identity provider."""
    query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "state": state, "response_type": "code"})
    return f"https://idp.example.com/authorize?{query}"


def exchange_code_for_token(http, code: str, client_id: str, client_secret: str) -> dict:
    return http.post(
        "https://idp.example.com/token", data={"code": code, "client_id": client_id, "client_secret": client_secret}
    ).json()
