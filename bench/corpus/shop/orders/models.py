from dataclasses import dataclass, field
from enum import StrEnum


class OrderStatus(StrEnum):
    CART = "cart"
    PAID = "paid"
    SHIPPED = "shipped"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


@dataclass
class OrderLine:
    sku: str
    quantity: int
    unit_price_cents: int


@dataclass
class Order:
    id: str
    customer_id: str
    lines: list[OrderLine]
    status: OrderStatus = OrderStatus.CART
    charge_id: str | None = None
    second_approver: str | None = None
    history: list = field(default_factory=list)

    @property
    def total_cents(self) -> int:
        return sum(line.quantity * line.unit_price_cents for line in self.lines)
