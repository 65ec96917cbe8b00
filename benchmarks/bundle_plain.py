"""The baseline the bundle is measured against: a plain self-decrypting page.

It does only what every "password-protected HTML" tool does: PBKDF2 (same iterations as the
bundle), AES-256-GCM over 1 MiB chunks, base64 in script elements, and a page that decrypts the
chunks back into Blobs. No compression, no predictor, no records, no checks beyond GCM's tag,
no viewer. The bundle's figures are reported relative to this one, on the same input bytes.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK = 1 << 20

PAGE_SCRIPT = """
async function plainOpen(passphrase) {
  const t0 = performance.now();
  const header = JSON.parse(document.getElementById("plain-header").textContent);
  const fromB64 = (t) => Uint8Array.fromBase64 ? Uint8Array.fromBase64(t)
      : Uint8Array.from(atob(t), (c) => c.charCodeAt(0));
  const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(passphrase),
      "PBKDF2", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
      {name: "PBKDF2", hash: "SHA-256", salt: fromB64(header.salt), iterations: header.iterations},
      material, {name: "AES-GCM", length: 256}, false, ["decrypt"]);
  const parts = [];
  const chunks = document.querySelectorAll("script.plain-chunk");
  for (let i = 0; i < chunks.length; i++) {
    const iv = new Uint8Array(12);
    new DataView(iv.buffer).setUint32(8, i);
    const sealed = fromB64(chunks[i].textContent);
    const plain = await crypto.subtle.decrypt({name: "AES-GCM", iv}, key, sealed);
    parts.push(new Uint8Array(plain));
  }
  const all = new Blob(parts);
  let offset = 0;
  const files = header.files.map(([name, size]) => {
    const blob = all.slice(offset, offset + size);
    offset += size;
    return {name, blob};
  });
  return {ms: performance.now() - t0, files: files.length};
}
"""


def write_plain(paths: Sequence[Path], output: Path, passphrase: str, iterations: int) -> int:
    """Write the plain page for ``paths``; return its size in bytes."""
    salt = os.urandom(16)
    key = hashlib.pbkdf2_hmac("sha256", passphrase.encode(), salt, iterations, 32)
    aead = AESGCM(key)
    header = {
        "salt": binascii.b2a_base64(salt, newline=False).decode(),
        "iterations": iterations,
        "files": [[p.name, p.stat().st_size] for p in paths],
    }
    with output.open("wb") as out:
        out.write(b"<!DOCTYPE html><html><head><meta charset='utf-8'><title>plain</title></head>")
        out.write(b"<body><script id='plain-header' type='application/json'>")
        out.write(json.dumps(header).encode())
        out.write(b"</script>\n")
        index = 0
        pending = bytearray()

        def seal(block: bytes) -> None:
            nonlocal index
            iv = bytes(8) + index.to_bytes(4, "big")
            sealed = aead.encrypt(iv, block, None)
            out.write(b"<script type='application/octet-stream' class='plain-chunk'>")
            out.write(binascii.b2a_base64(sealed, newline=False))
            out.write(b"</script>\n")
            index += 1

        for path in paths:
            with path.open("rb") as f:
                while block := f.read(CHUNK):
                    pending += block
                    while len(pending) >= CHUNK:
                        seal(bytes(pending[:CHUNK]))
                        del pending[:CHUNK]
        if pending or index == 0:
            seal(bytes(pending))
        out.write(b"<script>" + PAGE_SCRIPT.encode() + b"</script></body></html>")
    return output.stat().st_size
