"""ICC colour profiles: kept (display needs them), but only what the profile is made of.

A profile is a 128-byte header, a tag table and the tags' data, and says its own size. Anything
past that size, between the tags, or in the header's reserved bytes is read by nobody, so it is
a place to hide a name: it is cut off or zeroed. The tags themselves stay as they are (colour
data and the profile's description).
"""

from __future__ import annotations

import struct

from dentsend.deid.report import Change

_HEADER = 128
_PROFILE_ID = slice(84, 100)
_RESERVED = slice(100, 128)


def normalise_icc(profile: bytes) -> tuple[bytes, int] | None:
    """``(the profile as its structure says, how many hidden bytes were dropped or zeroed)``,
    or ``None`` when the structure is broken (the caller drops the profile)."""
    if len(profile) < _HEADER + 4:
        return None
    (size,) = struct.unpack(">I", profile[:4])
    if not _HEADER + 4 <= size <= len(profile):
        return None
    hidden = _nonzero(profile[size:])
    out = bytearray(profile[:size])
    (count,) = struct.unpack(">I", out[_HEADER : _HEADER + 4])
    table_end = _HEADER + 4 + 12 * count
    if table_end > size:
        return None
    spans = [(0, table_end)]
    for k in range(count):
        _signature, offset, length = struct.unpack(
            ">4sII", out[_HEADER + 4 + 12 * k : _HEADER + 16 + 12 * k]
        )
        if offset < table_end or offset + length > size:
            return None
        spans.append((offset, offset + length))
    position = 0
    for start, end in [*sorted(spans), (size, size)]:
        if start > position:
            gap = out[position:start]
            hidden += _nonzero(gap)
            out[position:start] = bytes(len(gap))
        position = max(position, end)
    if any(out[_RESERVED]):
        hidden += _nonzero(out[_RESERVED])
        out[_RESERVED] = bytes(_RESERVED.stop - _RESERVED.start)
    if hidden:
        # the profile ID is an MD5 of the bytes just changed: zero means "not computed"
        out[_PROFILE_ID] = bytes(_PROFILE_ID.stop - _PROFILE_ID.start)
    return bytes(out), hidden


def _nonzero(data: bytes | bytearray) -> int:
    return len(data) - data.count(0)


def icc_hidden(count: int) -> Change:
    """The report line for bytes taken out of a profile."""
    return Change(
        "ICC hidden data",
        "bytes hidden in the ICC colour profile",
        "stripped",
        f"<{count} bytes>",
        None,
    )
