from shop.orders.cancel import cancel_order
from shop.orders.checkout import checkout


def register_routes(app) -> None:
    app.add_route("POST", "/orders/{id}/checkout", checkout)
    app.add_route("POST", "/orders/{id}/cancel", cancel_order)
    app.add_route("GET", "/healthz", lambda request: {"status": "ok"})
