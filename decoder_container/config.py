"""Decoder settings, from `LX_DECODER_<FIELD>` environment variables (the rest comes from luxxon.config:
DATABASE_URL / LX_DATABASE_SECRET_ARN, LX_FRAME_STORE, LX_REDIS_URL, LX_FRAMES_BUCKET, LX_FRAME_TTL_S)."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Cloudflare's STUN server: what its WHEP examples use. Behind NAT (Fargate in private subnets) it gives the
# server-reflexive candidate that Cloudflare's ICE-lite media servers answer to.
DEFAULT_ICE_SERVERS = ("stun:stun.cloudflare.com:3478",)


class DecoderConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Worker processes per task (0: one per CPU this process may run on) and sessions each process decodes at most.
    # A process also stops claiming while it uses more than `max_cpu` of a core (what streams cost varies with
    # resolution and bitrate: 640x480@30 VP8 ~5% of a core, H.264 ~3%, 1080p several times that).
    processes: int = Field(default=0, ge=0)
    max_sessions: int = Field(default=32, ge=1)
    max_cpu: float = Field(default=0.8, gt=0)
    # Leases: claimed `claim_batch` at a time every `claim_interval_s` while there is room; renewed every
    # `renew_interval_s` for `lease_ttl_s`. A dead process's sessions are taken over `lease_ttl_s` after its last
    # renewal at the latest (plus one claim interval).
    lease_ttl_s: float = Field(default=6.0, gt=0)
    renew_interval_s: float = Field(default=2.0, gt=0)
    claim_interval_s: float = Field(default=0.25, gt=0)
    claim_batch: int = Field(default=2, ge=1)
    # Frames: the latest decoded frame is stored as a JPEG every `frame_interval_s` (the first one at once).
    frame_interval_s: float = Field(default=1.0, gt=0)
    jpeg_quality: int = Field(default=90, ge=1, le=100)  # libjpeg's scale, mapped to MJPEG's (session.py)
    encode_threads: int = Field(default=2, ge=1)
    # How frames are decoded: "tap" (our decode thread per subscription, no per-frame handoff; decode.py) or
    # "track" (aiortc's decoder thread and track.recv()). "tap" falls back to "track" if aiortc changes.
    decode: Literal["tap", "track"] = "tap"
    # WebRTC. ICE servers as comma-separated URLs ("" for none). `loopback`: "auto" pins ICE to 127.0.0.1 and
    # uses no ICE server when a WHEP URL is on loopback (the local edge); "on" always; "off" never.
    ice_servers: tuple[str, ...] = DEFAULT_ICE_SERVERS
    loopback: Literal["auto", "on", "off"] = "auto"
    connect_timeout_s: float = Field(default=10.0, gt=0)
    # Offer abs-send-time so aiortc estimates bandwidth and sends REMB (costs CPU on every packet; see webrtc.py).
    bandwidth_estimation: bool = False
    # Recovery: ask for a keyframe (PLI) when nothing decoded for `keyframe_after_s` on a connected subscription;
    # subscribe again when frames stopped for `stall_timeout_s`, or never came for `idle_resubscribe_s`.
    keyframe_after_s: float = Field(default=1.0, gt=0)
    stall_timeout_s: float = Field(default=5.0, gt=0)
    idle_resubscribe_s: float = Field(default=30.0, gt=0)
    # Media gaps: when a LIVE session has decoded no frame for `media_gap_s`, the decoder opens its NETWORK_ERROR
    # window at the last decoded frame's time, and closes it at the first frame after.
    media_gap_s: float = Field(default=3.0, gt=0)
    backoff_initial_s: float = Field(default=0.05, gt=0)
    backoff_max_s: float = Field(default=5.0, gt=0)
    # Shutdown: how long the supervisor waits for workers to hand their sessions back (ECS stop timeout: 30 s).
    stop_grace_s: float = Field(default=20.0, gt=0)
    # The DecoderBacklog metric (sessions waiting for a decoder), published by the supervisor; 0 disables it.
    metrics_interval_s: float = Field(default=60.0, ge=0)

    @field_validator("ice_servers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(u.strip() for u in value.split(",") if u.strip())
        return value

    @property
    def process_count(self) -> int:
        if self.processes:
            return self.processes
        try:
            return len(os.sched_getaffinity(0)) or 1  # the CPUs a container may use (cpusets), not the host's
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> DecoderConfig:
        env = os.environ if environ is None else environ
        values = {name: env[key] for name in cls.model_fields if (key := f"LX_DECODER_{name.upper()}") in env}
        return cls.model_validate(values)
