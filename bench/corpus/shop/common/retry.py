import random
import time


def with_backoff(fn, attempts: int = 5, base: float = 0.2):
    """Call fn again after transient failures, waiting exponentially longer with jitter."""
    for attempt in range(attempts):
        try:
            return fn()
        except (TimeoutError, ConnectionError):
            if attempt == attempts - 1:
                raise
            time.sleep(base * 2**attempt + random.uniform(0, base))
