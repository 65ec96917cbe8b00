"""OpenPGP packet framing (RFC 9580 §4), ASCII armor and MPIs: the little dentsend needs itself.

Sequoia (through pysequoia) does all cryptography on messages. This module exists for the few
places where pysequoia 0.1.35 offers no API and dentsend must look at or build packets itself:
protecting a generated secret key with a passphrase, writing the self-signatures of a generated
key, telling an encrypted message from a signed-only one, and checking which SEIPD version a
written message uses. It parses untrusted input, so every length is bounds-checked and every
problem is a :class:`PacketError`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from dataclasses import dataclass

# Packet tags (RFC 9580 §5).
PKESK = 1
SIGNATURE = 2
SKESK = 3
ONE_PASS_SIGNATURE = 4
SECRET_KEY = 5
PUBLIC_KEY = 6
SECRET_SUBKEY = 7
COMPRESSED = 8
SYMMETRIC_ENCRYPTED = 9
MARKER = 10
LITERAL = 11
USER_ID = 13
PUBLIC_SUBKEY = 14
SEIPD = 18
AEAD_ENCRYPTED = 20
PADDING = 21

#: Tags a message (as opposed to a key or a detached signature) can start with.
MESSAGE_START_TAGS = frozenset(
    {
        PKESK,
        SKESK,
        ONE_PASS_SIGNATURE,
        SIGNATURE,
        COMPRESSED,
        SYMMETRIC_ENCRYPTED,
        MARKER,
        LITERAL,
        SEIPD,
        AEAD_ENCRYPTED,
        PADDING,
    }
)
ENCRYPTION_TAGS = frozenset({PKESK, SKESK, SYMMETRIC_ENCRYPTED, SEIPD, AEAD_ENCRYPTED})

ARMOR_MESSAGE = "PGP MESSAGE"
ARMOR_PUBLIC_KEY = "PGP PUBLIC KEY BLOCK"
ARMOR_PRIVATE_KEY = "PGP PRIVATE KEY BLOCK"

_ARMOR_BEGIN = re.compile(rb"-----BEGIN PGP ([A-Z ,0-9/]+)-----")


class PacketError(ValueError):
    """The bytes are not well-formed OpenPGP (truncated, bad lengths, bad armor)."""


#: What pysequoia raises: anyhow errors arrive as RuntimeError, but an error met while
#: streaming (for instance a failed check at the end of a large message) arrives through
#: ``std::io::Error`` as OSError, and argument problems as ValueError/TypeError.
SEQUOIA_ERRORS: tuple[type[Exception], ...] = (RuntimeError, OSError, ValueError, TypeError)


@dataclass(frozen=True)
class Packet:
    tag: int
    body: bytes


def is_armored(data: bytes) -> bool:
    return _ARMOR_BEGIN.search(data[:4096]) is not None


def dearmor(data: bytes, *, max_body_chars: int | None = None) -> bytes:
    """The binary content of the first armor block (or ``data`` itself if it is not armored).

    ``max_body_chars`` decodes only the start of a large block, enough to look at the first
    packets without decoding a whole message.
    """
    match = _ARMOR_BEGIN.search(data)
    if match is None:
        return data
    end = None if max_body_chars is None else match.end() + max_body_chars + 16384
    lines = data[match.end() : end].splitlines()
    body: list[bytes] = []
    in_headers = True
    size = 0
    for raw_line in lines[1:] if lines and not lines[0].strip() else lines:
        line = raw_line.strip()
        if in_headers:
            # Armor headers ("Comment: …") end with the first empty line; some writers omit
            # both, so a line that cannot be a header starts the body.
            if not line:
                in_headers = False
                continue
            if b": " in line:
                continue
            in_headers = False
        if line.startswith(b"-----END PGP"):
            break
        if line.startswith(b"=") and len(line) == 5:
            break  # the CRC-24 checksum line; the packets carry their own integrity checks
        if not line:
            continue
        body.append(line)
        size += len(line)
        if max_body_chars is not None and size >= max_body_chars:
            usable = (size // 4) * 4
            joined = b"".join(body)[:usable]
            return _b64decode(joined)
    else:
        if max_body_chars is None:
            raise PacketError("the armor block has no END line")
    return _b64decode(b"".join(body))


def _b64decode(text: bytes) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PacketError(f"the armor is not valid base64 ({exc})") from None


def armor(kind: str, data: bytes, *, comments: tuple[str, ...] = ()) -> bytes:
    """ASCII armor with optional ``Comment:`` headers and the CRC-24 line GnuPG 2.2 expects."""
    lines = [f"-----BEGIN {kind}-----"]
    lines += [f"Comment: {comment}" for comment in comments]
    lines.append("")
    encoded = base64.b64encode(data).decode("ascii")
    lines += [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    crc = base64.b64encode(_crc24(data).to_bytes(3, "big")).decode("ascii")
    lines += [f"={crc}", f"-----END {kind}-----", ""]
    return "\n".join(lines).encode("utf-8")  # armor headers may hold UTF-8 (RFC 9580 §6.2)


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def read_header(data: bytes, offset: int) -> tuple[int, int, int, bool]:
    """``(tag, body_offset, length, partial)`` of the packet at ``offset``.

    ``partial`` means a new-format partial body length: ``length`` is the first chunk only.
    An old-format indeterminate length runs to the end of ``data``.
    """
    if offset >= len(data):
        raise PacketError("the data ends where a packet was expected")
    first = data[offset]
    if not first & 0x80:
        raise PacketError("this is not OpenPGP data (bad packet header)")
    if first & 0x40:  # new format
        tag = first & 0x3F
        return (tag, *_new_length(data, offset + 1))
    tag = (first >> 2) & 0x0F
    length_type = first & 0x03
    position = offset + 1
    if length_type == 3:
        return tag, position, len(data) - position, False
    size = (1, 2, 4)[length_type]
    _need(data, position, size)
    return tag, position + size, int.from_bytes(data[position : position + size], "big"), False


def _new_length(data: bytes, position: int) -> tuple[int, int, bool]:
    _need(data, position, 1)
    octet = data[position]
    if octet < 192:
        return position + 1, octet, False
    if octet < 224:
        _need(data, position, 2)
        return position + 2, ((octet - 192) << 8) + data[position + 1] + 192, False
    if octet == 255:
        _need(data, position, 5)
        return position + 5, int.from_bytes(data[position + 1 : position + 5], "big"), False
    return position + 1, 1 << (octet & 0x1F), True


def _need(data: bytes, position: int, size: int) -> None:
    if position + size > len(data):
        raise PacketError("the data is truncated")


def read_packets(data: bytes, *, max_packets: int | None = None) -> Iterator[Packet]:
    """The top-level packets of binary OpenPGP data, partial bodies joined."""
    offset = 0
    count = 0
    while offset < len(data):
        if max_packets is not None and count >= max_packets:
            return
        tag, position, length, partial = read_header(data, offset)
        chunks = []
        while True:
            _need(data, position, length)
            chunks.append(data[position : position + length])
            position += length
            if not partial:
                break
            position, length, partial = _new_length(data, position)
        yield Packet(tag, b"".join(chunks))
        offset = position
        count += 1


def first_packets(data: bytes, count: int) -> list[tuple[int, bytes]]:
    """``(tag, start of body)`` of the first ``count`` packets, without reading whole bodies.

    For a large message only the start matters (PKESK/SKESK versions, the SEIPD version octet),
    and a partial body may be truncated here on purpose.
    """
    result: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data) and len(result) < count:
        tag, position, length, partial = read_header(data, offset)
        result.append((tag, data[position : position + min(length, 64)]))
        if partial:
            break  # a streamed container: the rest of the message is inside it
        offset = position + length
    return result


def write_packet(tag: int, body: bytes) -> bytes:
    """A new-format packet with a definite length."""
    size = len(body)
    if size < 192:
        header = bytes([0xC0 | tag, size])
    elif size < 8384:
        size -= 192
        header = bytes([0xC0 | tag, (size >> 8) + 192, size & 0xFF])
    else:
        header = bytes([0xC0 | tag, 255]) + size.to_bytes(4, "big")
    return header + body


def read_mpi(data: bytes, offset: int) -> tuple[bytes, int]:
    """An MPI's value bytes (big-endian, no leading zero bytes) and the offset after it."""
    _need(data, offset, 2)
    bits = int.from_bytes(data[offset : offset + 2], "big")
    size = (bits + 7) // 8
    _need(data, offset + 2, size)
    return data[offset + 2 : offset + 2 + size], offset + 2 + size


def write_mpi(value: bytes) -> bytes:
    stripped = value.lstrip(b"\x00")
    bits = (len(stripped) - 1) * 8 + stripped[0].bit_length() if stripped else 0
    return bits.to_bytes(2, "big") + stripped


def mpi_bits(data: bytes, offset: int) -> int:
    _need(data, offset, 2)
    return int.from_bytes(data[offset : offset + 2], "big")
