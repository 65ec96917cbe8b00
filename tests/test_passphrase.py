"""Passphrases: six EFF words generated, the user's own rated and refused when guessable."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dentsend.errors import DentsendError
from dentsend.passphrase import (
    MIN_GUESSES,
    WeakPassphrase,
    generate,
    generated_bits,
    rate,
    read_passphrase_file,
    require_strong,
    wordlist,
)


def test_generated_passphrases_are_six_words_from_the_eff_long_list() -> None:
    words = set(wordlist())
    assert len(words) == 7776
    samples = [generate() for _ in range(50)]
    for passphrase in samples:
        parts = passphrase.split(" ")
        assert len(parts) == 6
        assert all(part in words for part in parts)
    assert len(set(samples)) == 50
    assert math.isclose(generated_bits(), 6 * math.log2(7776))
    assert generated_bits() > 77


def test_generated_passphrases_pass_the_strength_check() -> None:
    for _ in range(5):
        require_strong(generate())


@pytest.mark.parametrize(
    "weak", ["password", "dentsend2026", "Tr0ub4dor", "qwertyuiop", "aaaaaaaaaaaaaaaaaaaa",
             "Smile Dental Practice"],
)
def test_guessable_passphrases_are_refused_with_a_reason(weak: str) -> None:
    with pytest.raises(WeakPassphrase) as error:
        require_strong(weak, user_inputs=["Smile Dental Practice"])
    message = str(error.value)
    assert "too easy to guess" in message and "10^12" in message
    assert "--new-passphrase" in message
    assert "\n" not in message


def test_strong_passphrases_of_the_users_own_are_accepted() -> None:
    strength = rate("violet tram scribble north umpire canyon")
    assert strength.acceptable and strength.guesses >= MIN_GUESSES
    # Beyond zxcvbn's own length limit (72) the passphrase is still rated (its first part)...
    long = " ".join(wordlist()[::97][:60])
    assert len(long) > 300 and rate(long).acceptable
    # ...and a long one that only repeats itself is still weak.
    assert not rate("lantern " * 40).acceptable


def test_the_rating_uses_the_passphrase_as_the_package_will() -> None:
    assert rate("   ").guesses == 0
    assert not rate(" \u00a0 ").acceptable
    assert rate("violet  tram scribble north umpire canyon").guesses == rate(
        "violet tram scribble north umpire canyon"
    ).guesses


def test_passphrase_files(tmp_path: Path) -> None:
    path = tmp_path / "pass.txt"
    path.write_bytes("\ufeffviolet tram scribble\r\nsecond line\n".encode())
    assert read_passphrase_file(path) == "violet tram scribble"
    path.write_text("\n\n")
    with pytest.raises(DentsendError, match="is empty"):
        read_passphrase_file(path)
    with pytest.raises(DentsendError, match="does not exist"):
        read_passphrase_file(tmp_path / "missing.txt")
