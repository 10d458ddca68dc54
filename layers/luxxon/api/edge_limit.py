"""The limit per client address at the edge, before anything else answers: one definition for the deployed API and
the local gateway.

Deployed, it is an AWS WAF rate-based rule on the API stage (infra/constructs/edge_limit.py): every request counts
against its source address (WAF cannot tell a valid API key from a made-up one, so a limit on "requests without a
key" would let anyone past it by sending `Bearer lxxn_anything`). Over the limit, WAF blocks the request and API
Gateway answers with its WAF_FILTERED gateway response (luxxon.api.gateway_errors: 429 THROTTLED `rate:client`, the
timestamp `$context.requestTime` like every other answer of the gateway, and `Retry-After` from here). The local
gateway (luxxon.local.gateway) counts the same way and answers the same row with the same header.

The numbers are per stage: an address may send, over a minute, a tenth of what the stage's throttle lets everyone
send together (dev 50/s, prod 500/s; infra/constants.py), so one address can no longer spend the whole stage. In prod
that is 50 requests a second, one workspace's whole budget (luxxon.domain.ratelimit), so a client on one host is held
by its own buckets first. It is coarse on purpose: WAF estimates rates, may take up to several minutes to notice a
flood and usually under 30 s to release it, and is not meant for precise limits (AWS, "Rate-based rule caveats"); the
stage's throttle still caps bursts.
"""

from __future__ import annotations

from dataclasses import dataclass

from luxxon.api.gateway_errors import RETRY_AFTER

# What a WAF rate-based rule accepts (AWS, "Rate-based rule high-level settings"): an evaluation window of 1, 2, 5 or
# 10 minutes and a limit of at least 10 requests in it.
WAF_WINDOWS_S = (60, 120, 300, 600)
WAF_MIN_REQUESTS = 10
WAF_MAX_REQUESTS = 2_000_000_000
# Once an address's rate is back under the limit, WAF may go on blocking it a little: "usually, this delay is below 30
# seconds" (AWS, "Rate-based rule caveats"). Retry-After adds it to the window.
WAF_RELEASE_DELAY_S = 30
ENV = "LX_EDGE_LIMIT"  # the local gateway's limit: "<requests>/<window seconds>", or "off"
OFF = "off"


@dataclass(frozen=True, slots=True)
class EdgeLimit:
    """At most `requests` requests from one address in any `window_s` seconds; the requests it refuses count too
    (a WAF rate-based rule counts every request it evaluates), so a client that keeps sending stays refused and one
    that stops for `window_s` is served again."""

    requests: int
    window_s: int

    def __post_init__(self) -> None:
        if self.window_s not in WAF_WINDOWS_S or not WAF_MIN_REQUESTS <= self.requests <= WAF_MAX_REQUESTS:
            raise ValueError(
                f"WAF takes a window of {', '.join(map(str, WAF_WINDOWS_S))} s and {WAF_MIN_REQUESTS} to "
                f"{WAF_MAX_REQUESTS:,} requests in it, not {self.requests}/{self.window_s}"
            )

    @property
    def retry_after_s(self) -> int:
        """How long a refused client should wait, sending nothing: its window empties, and WAF notices."""
        return self.window_s + WAF_RELEASE_DELAY_S

    @property
    def headers(self) -> dict[str, str]:
        """The refusal's headers (the gateway response's, and the local gateway's)."""
        return {RETRY_AFTER: str(self.retry_after_s)}

    @classmethod
    def parse(cls, text: str) -> EdgeLimit:
        """`"3000/60"`: 3,000 requests from one address in any 60 seconds."""
        requests, _, window = text.partition("/")
        try:
            return cls(int(requests), int(window))
        except ValueError as error:
            raise ValueError(f"{ENV} is <requests>/<window seconds> (e.g. 3000/60) or {OFF!r}: {error}") from None

    def __str__(self) -> str:
        return f"{self.requests}/{self.window_s}"


# Per stage: a tenth of the stage throttle's steady rate, over WAF's shortest window (tests/infra checks the ratio).
EDGE_LIMITS: dict[str, EdgeLimit] = {
    "dev": EdgeLimit(requests=300, window_s=60),  # 5/s of dev's 50/s
    "prod": EdgeLimit(requests=3000, window_s=60),  # 50/s of prod's 500/s
}
# `make run` answers as prod does.
LOCAL_DEFAULT = EDGE_LIMITS["prod"]


def configured(value: str | None) -> EdgeLimit | None:
    """The local gateway's limit from LX_EDGE_LIMIT: unset is LOCAL_DEFAULT, `off` none at all."""
    if value is None or not value.strip():
        return LOCAL_DEFAULT
    if value.strip().lower() == OFF:
        return None
    return EdgeLimit.parse(value.strip())
