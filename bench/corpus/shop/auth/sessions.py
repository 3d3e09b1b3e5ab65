import secrets

SESSION_TTL_SECONDS = 30 * 60


class SessionStore:
    def __init__(self, redis) -> None:
        self.redis = redis

    def create(self, user_id: str) -> str:
        token = secrets.token_urlsafe(32)
        self.redis.setex(f"session:{token}", SESSION_TTL_SECONDS, user_id)
        return token

    def user_for(self, token: str) -> str | None:
        return self.redis.get(f"session:{token}")

    def logout(self, token: str) -> None:
        self.redis.delete(f"session:{token}")
