"""How a simulator behaves: credentials, callback, limits and timings."""

from __future__ import annotations

import msgspec


class SimulatorConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Settings of one simulated Meta. Decodable from JSON/TOML like any wire shape.

    ``callback_url`` is where webhooks go (None: nothing is posted, inbound still
    opens the window). Limits default to Meta's; the pair limit is off by default so
    tests that talk to one customer quickly do not trip it by accident.
    """

    access_token: str
    app_secret: str
    callback_url: str | None = None
    api_version: str = "v23.0"
    # WABA of each phone number id (used for webhook envelopes and template checks);
    # numbers not listed belong to `default_waba_id`.
    waba_ids: dict[str, str] = msgspec.field(default_factory=dict)
    default_waba_id: str = "100000000000001"
    display_phone_number: str = "15550001111"
    # What ``GET /{phone_number_id}`` says of a known number (one profile for all):
    # known are the numbers in ``waba_ids`` or, when none are listed, any numeric id.
    verified_name: str = "Simulated Business"
    quality_rating: str = "GREEN"
    messaging_limit_tier: str = "TIER_2K"
    throughput_per_second: float = 80.0
    pair_limit_enabled: bool = False
    pair_limit_interval_s: float = 6.0
    pair_limit_burst: int = 1
    template_decision_delay_s: float = 0.2
    reject_prefix: str = "reject_"
    rejection_reason: str = "INVALID_FORMAT"
    media_url_ttl_s: float = 300.0
    auto_statuses: bool = True
    status_delay_ms: int = 20
    # Base of the media download urls handed out; None: the address the request came to.
    public_base_url: str | None = None
    webhook_timeout_s: float = 5.0
    webhook_retries: int = 2

    def knows_number(self, phone_number_id: str) -> bool:
        return phone_number_id in self.waba_ids if self.waba_ids else phone_number_id.isdigit()

    def waba_of(self, phone_number_id: str) -> str:
        return self.waba_ids.get(phone_number_id, self.default_waba_id)
