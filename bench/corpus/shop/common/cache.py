import time


class TTLCache:
    """Keep values for a limited number of seconds, evicting the oldest when full."""

    def __init__(self, max_items: int = 1024, ttl: float = 60.0) -> None:
        self.items: dict = {}
        self.max_items = max_items
        self.ttl = ttl

    def get(self, key):
        value, expires = self.items.get(key, (None, 0.0))
        return value if expires > time.monotonic() else None

    def put(self, key, value) -> None:
        if len(self.items) >= self.max_items:
            oldest = min(self.items, key=lambda k: self.items[k][1])
            del self.items[oldest]
        self.items[key] = (value, time.monotonic() + self.ttl)
