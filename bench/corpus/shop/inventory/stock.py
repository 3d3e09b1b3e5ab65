class OutOfStock(Exception):
    pass


def reserve_stock(lines, db=None) -> list[tuple[str, int]]:
    """Hold the quantities of an order so nobody else can buy them."""
    reserved = []
    for line in lines:
        available = db.available(line.sku) if db else 0
        if available < line.quantity:
            raise OutOfStock(line.sku)
        db.decrement(line.sku, line.quantity)
        reserved.append((line.sku, line.quantity))
    return reserved


def release_stock(reservation, db=None) -> None:
    for sku, quantity in reservation:
        db.increment(sku, quantity)
