"""Short-lived signed access tokens (JWT, HS256) carrying a principal."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import jwt

from whatsapp_core.domain.model import Principal
from whatsapp_core.errors import Unauthenticated
from whatsapp_core.policies.access import Role

_ALGORITHM = "HS256"


class JwtTokenIssuer:
    def __init__(self, secret: str, *, ttl: timedelta = timedelta(minutes=15)) -> None:
        self._secret = secret
        self.ttl = ttl

    def issue(self, principal: Principal, now: datetime) -> str:
        assert principal.user_id is not None
        claims = {
            "sub": str(principal.user_id),
            "tid": str(principal.tenant_id),
            "role": principal.role.value,
            "iat": int(now.timestamp()),
            "exp": int((now + self.ttl).timestamp()),
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def principal(self, token: str) -> Principal:
        """Refuses expired, forged and ``alg: none`` tokens alike."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                options={"require": ["exp", "sub", "tid", "role"]},
            )
            return Principal(
                tenant_id=uuid.UUID(claims["tid"]),
                role=Role(claims["role"]),
                user_id=uuid.UUID(claims["sub"]),
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the session expired; sign in again") from None
        except (jwt.InvalidTokenError, ValueError, KeyError):
            raise Unauthenticated("invalid access token") from None
