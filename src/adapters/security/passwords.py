"""argon2id password hashing behind the core's ``PasswordHasher`` port."""

from __future__ import annotations

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class Argon2PasswordHasher:
    def __init__(self, *, time_cost: int = 2, memory_cost: int = 19 * 1024) -> None:
        # OWASP's argon2id minimum (19 MiB, t=2); tests pass smaller costs for speed.
        self._argon = _Argon2(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)

    def hash(self, password: str) -> str:
        return self._argon.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
