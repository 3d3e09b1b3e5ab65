import bcrypt

MIN_LENGTH = 12


def hash_password(plain: str) -> bytes:
    return bcrypt.hashpw(plain.encode(), bcrypt.gensalt(rounds=12))


def check_password(plain: str, hashed: bytes) -> bool:
    return bcrypt.checkpw(plain.encode(), hashed)


def password_is_strong(plain: str) -> bool:
    return len(plain) >= MIN_LENGTH and any(c.isdigit() for c in plain) and any(c.isupper() for c in plain)
