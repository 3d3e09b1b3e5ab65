from shop.orders.models import Order, OrderStatus


class RefundNotAllowed(Exception):
    pass


def refund_order(order: Order, client, reason: str) -> None:
    """Give the customer their money back for a paid order."""
    if order.status not in (OrderStatus.PAID, OrderStatus.SHIPPED):
        raise RefundNotAllowed(f"order {order.id} is {order.status}")
    if order.total_cents > 50_000 and not order.second_approver:
        raise RefundNotAllowed("refunds above 500 EUR need a second approver")
    client.refund(order.charge_id)
    order.status = OrderStatus.REFUNDED
    order.history.append(("refunded", reason))
