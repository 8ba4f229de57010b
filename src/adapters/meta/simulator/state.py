"""What a simulated Meta remembers: customers, windows, limits, sends, templates, media."""

from __future__ import annotations

import hashlib
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from adapters.meta.simulator.config import SimulatorConfig
from adapters.meta.simulator.wire import Faults
from whatsapp_core.ports import Clock

WINDOW_S = 24 * 3600.0


class SimClock:
    """The injected clock plus an offset the control API can move forward."""

    def __init__(self, base: Clock) -> None:
        self._base = base
        self.offset_s = 0.0

    def now(self) -> float:
        return self._base.now().timestamp() + self.offset_s


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; on monotonic time."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def derive_bsuid(wa_id: str) -> str:
    """A stable BSUID for a phone the simulator has not seen with one."""
    digits = int(hashlib.sha256(wa_id.encode()).hexdigest()[:16], 16)
    return f"US.{digits:020d}"


def new_wamid() -> str:
    return "wamid.HBgL" + secrets.token_urlsafe(24)


@dataclass
class SimTemplate:
    id: str
    waba_id: str
    name: str
    language: str
    category: str
    components: list[dict[str, Any]]
    status: str = "PENDING"
    reason: str | None = None
    parameter_count: int = 0


@dataclass
class MediaItem:
    id: str
    data: bytes
    mime_type: str
    sha256: str


@dataclass
class MediaUrl:
    media_id: str
    expires_at: float


@dataclass
class SentRecord:
    wamid: str
    phone_number_id: str
    user_id: str
    wa_id: str | None
    type: str
    template_category: str | None
    at: float
    monotonic: float
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "wamid": self.wamid,
            "phone_number_id": self.phone_number_id,
            "user_id": self.user_id,
            "wa_id": self.wa_id,
            "type": self.type,
            "at": self.at,
            "monotonic": self.monotonic,
            "body": self.body,
        }


@dataclass
class SimState:
    settings: SimulatorConfig
    clock: SimClock
    faults: Faults = field(default_factory=Faults)
    # customers: BSUID <-> phone (a phone is known once the customer shared it)
    bsuid_by_wa_id: dict[str, str] = field(default_factory=dict)
    wa_id_by_bsuid: dict[str, str] = field(default_factory=dict)
    last_inbound: dict[tuple[str, str], float] = field(default_factory=dict)
    throughput: dict[str, TokenBucket] = field(default_factory=dict)
    pairs: dict[tuple[str, str], TokenBucket] = field(default_factory=dict)
    sent: list[SentRecord] = field(default_factory=list)
    templates: dict[str, SimTemplate] = field(default_factory=dict)
    media: dict[str, MediaItem] = field(default_factory=dict)
    media_urls: dict[str, MediaUrl] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def reset(self, settings: SimulatorConfig) -> None:
        """Forget everything; back to `settings` and the injected clock's own time."""
        self.clock.offset_s = 0.0
        self.__dict__.update(SimState(settings=settings, clock=self.clock).__dict__)

    def new_numeric_id(self, prefix: int) -> str:
        return str(prefix + next(self.ids))

    # -- customers and the 24 h window

    def customer(self, wa_id: str | None, bsuid: str | None) -> str:
        """The customer's BSUID, learning the phone <-> BSUID link when both are given."""
        if bsuid is None:
            assert wa_id is not None
            bsuid = self.bsuid_by_wa_id.get(wa_id) or derive_bsuid(wa_id)
        if wa_id is not None:
            self.bsuid_by_wa_id[wa_id] = bsuid
            self.wa_id_by_bsuid[bsuid] = wa_id
        return bsuid

    def record_inbound(self, phone_number_id: str, bsuid: str) -> None:
        self.last_inbound[(phone_number_id, bsuid)] = self.clock.now()

    def window_open(self, phone_number_id: str, bsuid: str) -> bool:
        last = self.last_inbound.get((phone_number_id, bsuid))
        return last is not None and self.clock.now() - last < WINDOW_S

    # -- limits

    def take_throughput(self, phone_number_id: str) -> bool:
        rate = self.settings.throughput_per_second
        bucket = self.throughput.get(phone_number_id)
        if bucket is None or bucket.rate != rate:
            bucket = self.throughput[phone_number_id] = TokenBucket(rate, max(rate, 1.0))
        return bucket.take()

    def take_pair(self, phone_number_id: str, bsuid: str) -> bool:
        if not self.settings.pair_limit_enabled:
            return True
        key = (phone_number_id, bsuid)
        bucket = self.pairs.get(key)
        if bucket is None:
            rate = 1.0 / max(self.settings.pair_limit_interval_s, 1e-6)
            bucket = self.pairs[key] = TokenBucket(rate, max(self.settings.pair_limit_burst, 1))
        return bucket.take()

    # -- templates

    def find_template(self, waba_id: str, name: str, language: str) -> SimTemplate | None:
        return next(
            (
                t
                for t in self.templates.values()
                if (t.waba_id, t.name, t.language) == (waba_id, name, language)
            ),
            None,
        )

    # -- media

    def media_url_for(self, media_id: str) -> tuple[str, MediaUrl]:
        token = secrets.token_urlsafe(18)
        url = MediaUrl(media_id, self.clock.now() + self.settings.media_url_ttl_s)
        self.media_urls[token] = url
        return token, url

    def media_for_url(self, token: str, media_id: str) -> MediaItem | None:
        url = self.media_urls.get(token)
        if url is None or url.media_id != media_id or self.clock.now() >= url.expires_at:
            return None
        return self.media.get(media_id)
