"""Session tokens: round trip, tampering, rotation, and hostile input (property tests)."""

from __future__ import annotations

import re
import time

from hypothesis import given
from hypothesis import strategies as st
from pytest import MonkeyPatch

from replaylink import tokens
from replaylink.tokens import MAX_LENGTH, Reason, TokenSigner, peek

KEY = b"k" * 32
signer = TokenSigner(KEY)
ids = st.integers(min_value=0, max_value=2**63 - 1)
projects = st.integers(min_value=1, max_value=2**31 - 1)
future = st.integers(min_value=int(time.time()) + 3600, max_value=2**40)


@given(ids, projects, future)
def test_round_trip(session_id: int, project_id: int, expires: int) -> None:
    token = signer.mint(session_id, project_id, expires)
    assert re.fullmatch(r"[0-9A-Za-z.]+", token)
    assert len(token) < 100
    result = signer.verify(token)
    assert result.valid
    assert result.data is not None
    assert (result.data.session_id, result.data.project_id, result.data.expires_at) == (
        session_id,
        project_id,
        expires,
    )


ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz."


@given(ids, projects, future, st.data())
def test_any_one_character_change_fails(
    session_id: int, project_id: int, expires: int, data: st.DataObject
) -> None:
    token = signer.mint(session_id, project_id, expires)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != token[position]))
    tampered = token[:position] + replacement + token[position + 1 :]
    assert not signer.verify(tampered).valid


@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), st.none(), st.integers()))
def test_arbitrary_input_never_verifies_nor_raises(value: object) -> None:
    result = signer.verify(value)
    assert not result.valid
    assert result.reason in (Reason.MALFORMED, Reason.BAD_SIGNATURE)


def test_expired_token_still_returns_its_data() -> None:
    token = signer.mint(42, 7, int(time.time()) - 10)
    result = signer.verify(token)
    assert result.reason is Reason.EXPIRED
    assert result.data is not None and result.data.session_id == 42


def test_other_key_is_a_bad_signature() -> None:
    token = TokenSigner(b"x" * 32).mint(1, 1, 2**33)
    assert signer.verify(token).reason is Reason.BAD_SIGNATURE


def test_previous_keys_still_verify_after_rotation() -> None:
    old_token = signer.mint(5, 1, 2**33)
    rotated = TokenSigner(b"new" * 11, previous_keys=[KEY])
    assert rotated.verify(old_token).valid
    new_token = rotated.mint(6, 1, 2**33)
    assert not signer.verify(new_token).valid


def test_overlong_and_non_canonical_tokens_are_malformed() -> None:
    token = signer.mint(5, 1, 2**33)
    assert signer.verify(token + "0" * MAX_LENGTH).reason is Reason.MALFORMED
    parts = token.split(".")
    padded = ".".join([parts[0], "0" + parts[1], *parts[2:]])
    assert signer.verify(padded).reason is Reason.MALFORMED
    assert signer.verify(token.encode()).valid
    assert signer.verify("é" + token).reason is Reason.MALFORMED


def test_peek_reads_claims_without_trusting_them() -> None:
    token = TokenSigner(b"y" * 32).mint(9, 3, 100)
    claims = peek(token)
    assert claims is not None and claims.session_id == 9
    assert peek("nonsense") is None


def test_a_checked_token_is_judged_again_for_expiry_and_forgeries_stay_refused() -> None:
    """The signer remembers checked tokens (signature), never their expiry."""
    checker = TokenSigner(b"c" * 32)
    token = checker.mint(5, 6, 1_000)
    assert checker.verify(token, now=999).valid
    assert checker.verify(token, now=1_000).reason is Reason.EXPIRED
    assert checker.verify(token, now=10).valid
    forged = TokenSigner(b"f" * 32).mint(5, 6, 1_000)
    for _ in range(2):
        assert checker.verify(forged, now=10).reason is Reason.BAD_SIGNATURE
        assert checker.verify(forged[:-1], now=10).reason is Reason.MALFORMED


def test_a_signer_remembers_a_bounded_number_of_tokens(monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "CHECKED_TOKENS", 3)
    checker = TokenSigner(b"c" * 32)
    minted = [checker.mint(n, 1, 2**33) for n in range(10)]
    for token in minted * 2:
        assert checker.verify(token).valid
    assert len(checker._checked) <= 3
