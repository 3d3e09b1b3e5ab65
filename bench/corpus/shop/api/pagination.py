import base64
import json


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode()


def decode_cursor(cursor: str) -> str:
    return json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"]


def paginate(items: list, cursor: str | None, page_size: int = 50) -> tuple[list, str | None]:
    start = 0
    if cursor:
        after = decode_cursor(cursor)
        start = next(i for i, item in enumerate(items) if item["id"] == after) + 1
    page = items[start : start + page_size]
    return page, encode_cursor(page[-1]["id"]) if len(page) == page_size else None
