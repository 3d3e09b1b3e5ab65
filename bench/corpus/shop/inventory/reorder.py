REORDER_POINT = 20


def skus_to_reorder(levels: dict[str, int]) -> list[str]:
    """Products whose stock fell below the reorder point and need a purchase order."""
    return sorted(sku for sku, level in levels.items() if level < REORDER_POINT)
