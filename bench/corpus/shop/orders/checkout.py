from shop.inventory.stock import release_stock, reserve_stock
from shop.orders.models import Order, OrderStatus


def checkout(order: Order, client, card_token: str) -> Order:
    """Reserve the items, charge the card, and mark the order paid."""
    reservation = reserve_stock(order.lines)
    try:
        charge = client.charge(order.total_cents, "EUR", card_token)
    except Exception:
        release_stock(reservation)
        raise
    order.charge_id = charge["id"]
    order.status = OrderStatus.PAID
    return order
