from shop.orders.models import Order, OrderStatus


def cancel_order(order: Order) -> Order:
    """A customer may cancel until the parcel has left the warehouse."""
    if order.status == OrderStatus.SHIPPED:
        raise ValueError("already shipped: ask for a return instead")
    order.status = OrderStatus.CANCELLED
    return order
