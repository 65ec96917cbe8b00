"""The fixed parts of the bundle format: passphrase normalisation, keys, nonces, header, the
predictor and record encoding (docs/bundle-format.md, sections 2–6)."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import zlib

import numpy as np
import pytest

from dentsend.bundle import records
from dentsend.bundle.format import (
    MIN_ITERATIONS,
    BundleError,
    Header,
    derive_keys,
    nonce,
    normalise_passphrase,
)
from dentsend.bundle.predictor import Predict, Unpredictor, forward_strips
from dentsend.bundle.records import RecordMeta, decode_all, encode_record, valid_name


def test_passphrase_normalisation_forgives_spacing_and_composition() -> None:
    typed = "  correct\u00a0 horse\tbattery\u3000staple\n"
    assert normalise_passphrase(typed) == "correct horse battery staple"
    # "é" typed as e + combining accent is the same passphrase as the precomposed one.
    assert normalise_passphrase("cafe\u0301") == normalise_passphrase("caf\u00e9")
    # Letter case is part of the passphrase.
    assert normalise_passphrase("Staple") != normalise_passphrase("staple")


def test_key_derivation_is_pbkdf2_then_hmac_labels() -> None:
    salt = bytes(range(16))
    keys = derive_keys("  two  words ", salt, MIN_ITERATIONS)
    master = hashlib.pbkdf2_hmac("sha256", b"two words", salt, MIN_ITERATIONS, 32)
    assert keys.key == hmac.new(master, b"dentsend-bundle-v1 key", hashlib.sha256).digest()
    check = hmac.new(master, b"dentsend-bundle-v1 check", hashlib.sha256).digest()[:16]
    assert keys.check == check
    with pytest.raises(BundleError) as error:
        derive_keys(" \u00a0 ", salt, MIN_ITERATIONS)
    assert error.value.kind == "passphrase"


def test_nonce_binds_index_and_last_flag() -> None:
    assert nonce(0, False) == bytes(12)
    assert nonce(1, True) == bytes(10) + b"\x01\x01"
    assert nonce(258, False) == bytes(9) + b"\x01\x02\x00"
    assert len({nonce(i, last) for i in range(300) for last in (False, True)}) == 600


def _header(**changes: object) -> str:
    header = Header(salt=bytes(16), check=bytes(16), sender="Praxis <Müller> & Co")
    value = json.loads(header.to_text())
    for key, item in changes.items():
        if key.startswith("kdf."):
            value["kdf"][key[4:]] = item
        else:
            value[key] = item
    return json.dumps(value)


def test_header_text_is_ascii_and_safe_inside_a_script_element() -> None:
    text = Header(salt=bytes(16), check=bytes(16), sender="Praxis <Müller> & Co").to_text()
    assert text.isascii()
    assert "<" not in text and ">" not in text and "&" not in text
    assert list(json.loads(text)) == [
        "format", "version", "kdf", "cipher", "chunk_size", "sender", "created", "files",
        "input_bytes", "part", "parts",
    ]
    assert Header.from_text(text).sender == "Praxis <Müller> & Co"


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"kdf.iterations": MIN_ITERATIONS - 1}, "damaged"),  # a downgrade
        ({"kdf.iterations": 10_000_001}, "damaged"),  # a denial of service
        ({"kdf.iterations": True}, "damaged"),
        ({"kdf.salt": "AAAA"}, "damaged"),  # 3 bytes of salt
        ({"kdf.check": "not base64!"}, "damaged"),
        ({"chunk_size": 65536}, "damaged"),
        ({"part": 3, "parts": 2}, "damaged"),
        ({"version": 2}, "unsupported"),
        ({"cipher": "ChaCha20-Poly1305"}, "unsupported"),
        ({"format": "something-else"}, "unsupported"),
    ],
)
def test_header_checks(changes: dict[str, object], kind: str) -> None:
    with pytest.raises(BundleError) as error:
        Header.from_text(_header(**changes))
    assert error.value.kind == kind


def test_header_ignores_unknown_keys() -> None:
    assert Header.from_text(_header(future="x")).sender == "Praxis <Müller> & Co"


# ---------------------------------------------------------------------------------------------
# the predictor


def _roundtrip(data: bytes, predict: Predict, pieces: int) -> bytes:
    """Forward transform, then the streaming inverse fed in random-sized pieces."""
    predict = predict.with_strips() if predict.strip_rows == 0 else predict
    assert predict.layout in ("planes", "varint")
    transformed = bytearray(data[: predict.offset])
    for planes in forward_strips(data, predict):
        for plane in planes:
            transformed += plane
    transformed += data[predict.offset + predict.length :]
    if predict.layout == "planes":
        assert len(transformed) == len(data)
    rng = random.Random(pieces)
    cuts = sorted(rng.randrange(len(transformed)) for _ in range(pieces))
    out = bytearray()
    unpredictor = Unpredictor(predict)
    for start, end in zip([0, *cuts], [*cuts, len(transformed)], strict=True):
        for piece in unpredictor.feed(bytes(transformed[start:end])):
            out += piece
    unpredictor.finish()
    return bytes(out)


@pytest.mark.parametrize(
    ("sample_bytes", "layout"), [(1, "planes"), (2, "planes"), (2, "varint")]
)
@pytest.mark.parametrize("pixel_samples", [1, 3])
@pytest.mark.parametrize("strip_rows", [1, 3, 64])
@pytest.mark.parametrize("smooth", [False, True])
def test_predictor_roundtrip_is_exact(
    sample_bytes: int, layout: str, pixel_samples: int, strip_rows: int, smooth: bool
) -> None:
    rng = np.random.default_rng(sample_bytes * 10 + pixel_samples + strip_rows)
    rows, columns = 37, 29
    count = rows * columns * pixel_samples
    dtype = np.uint16 if sample_bytes == 2 else np.uint8
    if smooth:  # small differences: one-byte varints
        values = (1000 + rng.integers(-20, 20, count)).astype(dtype)
    else:  # anything, wrap-around included: three-byte varints
        values = rng.integers(0, np.iinfo(dtype).max + 1, count, dtype=dtype)
    head, tail = b"HEAD" * 33, b"tail"
    data = head + values.astype(values.dtype.newbyteorder("<")).tobytes() + tail
    predict = Predict(len(head), count * sample_bytes, sample_bytes, columns * pixel_samples,
                      pixel_samples, strip_rows, layout)
    for pieces in (0, 7, 300):
        assert _roundtrip(data, predict, pieces) == data


def test_the_writer_picks_varints_for_small_differences() -> None:
    from dentsend.bundle.predictor import choose_layout

    smooth = (2000 + np.random.default_rng(1).normal(0, 15, (64, 64))).astype("<u2").tobytes()
    noisy = np.random.default_rng(2).integers(0, 32768, (64, 64), dtype="<u2").tobytes()
    assert choose_layout(smooth, Predict(0, len(smooth), 2, 64)) == "varint"
    assert choose_layout(noisy, Predict(0, len(noisy), 2, 64)) == "planes"


def test_varints_that_never_end_are_damage() -> None:
    data = bytes(64 * 2)
    predict = Predict(0, len(data), 2, 8, 1, 8, "varint")
    unpredictor = Unpredictor(predict)
    with pytest.raises(BundleError):
        list(unpredictor.feed(b"\xff" * 500))
        unpredictor.finish()


def test_predictor_makes_radiographs_compressible() -> None:
    y, x = np.mgrid[0:256, 0:256]
    rng = np.random.default_rng(1)
    image = (2000 + 800 * np.sin(x / 20) * np.cos(y / 15) + rng.normal(0, 8, x.shape)).astype("<u2")
    data = image.tobytes()
    plain = len(zlib.compress(data, 9))
    encoded = encode_record("a", "file", data, compress=True,
                            predict=Predict(0, len(data), 2, 256, 1))
    # Small differences: one-byte varints, which deflate would shrink too little to be worth
    # the browser's time; still well below what deflate alone makes of the raw pixels.
    assert encoded.meta.encodings == ("predict",)
    assert encoded.meta.predict is not None and encoded.meta.predict.layout == "varint"
    assert encoded.meta.length < 0.8 * plain
    # Noisier, deeper data: planes, deflated.
    noisy = (image.astype(np.int64) * 8 + rng.normal(0, 300, image.shape)).clip(0, 65535)
    data = noisy.astype("<u2").tobytes()
    encoded = encode_record("b", "file", data, compress=True,
                            predict=Predict(0, len(data), 2, 256, 1))
    assert encoded.meta.encodings == ("predict", "deflate-raw")
    assert encoded.meta.length < 0.85 * len(zlib.compress(data, 9))


# ---------------------------------------------------------------------------------------------
# records


@pytest.mark.parametrize("use_isal", [True, False])
def test_record_segments_form_one_standard_deflate_stream(
    use_isal: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not use_isal:
        monkeypatch.setattr(records, "_isal", None)
    elif records._isal is None:
        pytest.skip("isal not installed")
    rng = np.random.default_rng(4)
    image = (1000 + rng.normal(0, 30, (300, 200))).astype("<u2")
    data = b"D" * 3000 + image.tobytes() + b"T" * 77
    predict = Predict(3000, image.nbytes, 2, 200, 1)
    encoded = encode_record("IO-01.dcm", "file", data, compress=True, predict=predict)
    stream = b"".join(encoded.pieces)
    inflater = zlib.decompressobj(-15)  # what every reader has: stdlib zlib, the browser's
    transformed = inflater.decompress(stream)
    assert inflater.eof and not inflater.unused_data
    assert len(transformed) == len(data)
    assert decode_all(encoded.meta, encoded.pieces) == data
    assert encoded.meta.sha256 == hashlib.sha256(data).hexdigest()


def test_incompressible_data_is_stored() -> None:
    data = random.Random(3).randbytes(100_000)
    encoded = encode_record("x.jpg", "file", data, compress=True)
    assert encoded.meta.encodings == ()
    assert encoded.meta.length == len(data)
    assert decode_all(encoded.meta, encoded.pieces) == data


def _meta(**changes: object) -> bytes:
    value: dict[str, object] = {"name": "a.dcm", "role": "file", "size": 4, "length": 4,
                                "sha256": "0" * 64, "encodings": []}
    value.update(changes)
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    "name",
    ["../x", "a/b", "a\\b", ".hidden", "..", ".", "", "nul\x00", "line\nbreak", " padded",
     "x" * 201],
)
def test_unsafe_record_names_are_damage(name: str) -> None:
    assert not valid_name(name)
    with pytest.raises(BundleError) as error:
        RecordMeta.parse(_meta(name=name))
    assert error.value.kind == "damaged"


def test_names_that_are_only_odd_are_allowed() -> None:
    for name in ("<img src=x onerror=alert(1)>.jpg", "CON.txt", "Müller: pano?.dcm"):
        assert RecordMeta.parse(_meta(name=name)).name == name


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({"encodings": ["zstd"]}, "unsupported"),
        ({"encodings": ["deflate-raw", "deflate-raw"]}, "damaged"),
        ({"size": -1}, "damaged"),
        ({"size": 2**41, "length": 4, "encodings": ["deflate-raw"]}, "damaged"),
        ({"length": 5}, "damaged"),  # stored, yet length differs from size
        ({"sha256": "XYZ"}, "damaged"),
        ({"encodings": ["predict"], "predict": {"offset": 0, "length": 8, "sample_bytes": 2,
                                                "row_samples": 2, "pixel_samples": 1,
                                                "strip_rows": 1}}, "damaged"),  # beyond size
        ({"encodings": ["predict"], "size": 1 << 30, "length": 1 << 30,
          "predict": {"offset": 0, "length": 1 << 30, "sample_bytes": 2, "row_samples": 1 << 20,
                      "pixel_samples": 1, "strip_rows": 64}}, "damaged"),  # 128 MiB strips
    ],
)
def test_record_description_checks(changes: dict[str, object], kind: str) -> None:
    with pytest.raises(BundleError) as error:
        RecordMeta.parse(_meta(**changes))
    assert error.value.kind == kind


def test_a_deflate_bomb_stops_at_the_declared_size() -> None:
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    stream = bomb.compress(bytes(50 << 20)) + bomb.flush()
    assert len(stream) < 100_000
    meta = RecordMeta("bomb.dcm", "file", 1000, "0" * 64, len(stream), ("deflate-raw",))
    produced = []
    decoder = records.RecordDecoder(meta, lambda piece: produced.append(len(piece)))
    with pytest.raises(BundleError) as error:
        decoder.feed(stream)
    assert error.value.kind == "damaged"
    assert sum(produced) <= 1000


def test_data_after_the_deflate_stream_is_damage() -> None:
    data = b"abc" * 1000
    stream = zlib.compress(data, 6, wbits=-15) + b"junk"
    meta = RecordMeta("a.bin", "file", len(data), hashlib.sha256(data).hexdigest(), len(stream),
                      ("deflate-raw",))
    with pytest.raises(BundleError):
        decode_all(meta, [stream])
