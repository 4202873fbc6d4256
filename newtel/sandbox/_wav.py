"""The recording every answered sandbox call links to: a short two-tone WAV, 8 kHz mono, like telephony audio."""

from __future__ import annotations

import array
import functools
import io
import math
import sys
import wave

RATE = 8_000


@functools.cache
def recording() -> bytes:
    """1.5 s: 440 Hz then 660 Hz, 16-bit PCM. Built once; every link serves the same bytes."""
    samples = array.array("h")
    for index in range(int(RATE * 1.5)):
        frequency = 440 if index < RATE * 0.75 else 660
        samples.append(int(8_000 * math.sin(2 * math.pi * frequency * index / RATE)))
    if sys.byteorder == "big":  # WAV samples are little-endian
        samples.byteswap()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()
