"""Decoding a WHEP subscription's video: aiortc's own path, or a tap that skips its per-frame handoff.

"track" (aiortc's public path): the receiver's decoder thread decodes every frame and hands each one to the event
loop (`asyncio.run_coroutine_threadsafe` into an unbounded queue) for `track.recv()`; the decoder drains it.

"tap" (the default): the receiver's complete encoded frames go to a decoder thread of ours instead, which decodes
every one of them with the same decoder aiortc would use (`aiortc.codecs.get_decoder`) and only keeps the latest
picture: no event-loop round trip per frame, nothing queued for the loop. It also sees decode errors, so it can ask
for a keyframe at once (aiortc's thread does that itself; ours must).

The tap takes the place of RTCRtpReceiver's private decoder queue before the receiver starts, exactly as the local
edge does to forward encoded frames (luxxon/local/edge/media.py); aiortc is pinned below 2, and `can_tap` lets the
decoder fall back to "track" if a release renames it.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any

import av
from aiortc import RTCRtpReceiver
from aiortc.codecs import get_decoder

_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"


def can_tap(receiver: RTCRtpReceiver) -> bool:
    return isinstance(getattr(receiver, _DECODER_QUEUE, None), queue.Queue)


def single_threaded(decoder: Any) -> Any:
    """One decoding thread per stream: FFmpeg's default (one per core, frame threading for H.264) adds a frame of
    delay and wake-ups per frame, and buys nothing when each process decodes dozens of streams at once."""
    context = getattr(decoder, "codec", None)  # aiortc's Vp8Decoder / H264Decoder wrap a PyAV CodecContext
    if context is not None:
        context.thread_count = 1
    return decoder


class DecodeTap:
    """Stands in for a receiver's decoder queue; decodes on its own thread and hands every picture to `on_frame`
    (called on that thread). `on_error` and `on_end` are called on the event loop."""

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        on_frame: Callable[[Any], None],
        on_error: Callable[[], None],
        on_end: Callable[[], None],
        name: str = "lx-decode",
    ) -> None:
        self.errors = 0
        self.ended = False
        self._on_frame = on_frame
        self._on_error = on_error
        self._on_end = on_end
        self._loop = asyncio.get_running_loop()
        self._input: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._control: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._decode, name=name, daemon=True)
        setattr(receiver, _DECODER_QUEUE, self)
        self._thread.start()

    # The receiver's side (event loop thread). `put(None)` means it stopped: RTCP BYE, transport gone, close().
    def put(self, item: Any) -> None:
        if item is None:
            self._control.put(None)  # release aiortc's own (idle) decoder thread
            self.close()
            return
        self._input.put(item)

    def get(self, block: bool = True, timeout: float | None = None) -> None:
        """What aiortc's own decoder thread waits on: only the stop signal ever comes."""
        return self._control.get(block, timeout)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._input.put(None)

    @property
    def backlog(self) -> int:
        """Encoded frames waiting for the decoder (it keeps up when this stays near 0)."""
        return self._input.qsize()

    def _decode(self) -> None:
        decoder: Any = None
        codec_name = None
        while (item := self._input.get()) is not None:
            codec, encoded_frame = item
            if codec.name != codec_name:
                decoder, codec_name = single_threaded(get_decoder(codec)), codec.name
            try:
                pictures = decoder.decode(encoded_frame)
            except av.FFmpegError:
                self.errors += 1
                self._call_soon(self._on_error)
                continue
            for picture in pictures:
                self._on_frame(picture)
        self.ended = True
        self._call_soon(self._on_end)

    def _call_soon(self, callback: Callable[[], None]) -> None:
        try:
            self._loop.call_soon_threadsafe(callback)
        except RuntimeError:  # the loop is closed (shutdown): nobody is left to tell
            pass
