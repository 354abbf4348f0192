"""Session ids are unguessable: 128 random bits each, no duplicates, no structure to exploit.

Statistical checks on 10,000 ids from the function the stores use. Thresholds are ~6 sigma,
so a correct CSPRNG fails them with negligible probability while a counter, a timestamp, a
short or biased id fails them at once.
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from recoengine.sessions import is_session_id, new_session_id

N = 10_000


@pytest.fixture(scope="module")
def bits() -> np.ndarray:
    ids = [new_session_id() for _ in range(N)]
    assert len(set(ids)) == N  # no duplicates
    assert all(is_session_id(i) for i in ids)
    raw = [base64.urlsafe_b64decode(i + "==") for i in ids]
    assert {len(r) for r in raw} == {16}  # 128 bits each
    return np.unpackbits(np.frombuffer(b"".join(raw), dtype=np.uint8).reshape(N, 16), axis=1)


def test_every_bit_position_is_a_fair_coin(bits):
    freq = bits.mean(axis=0)
    sigma = 0.5 / np.sqrt(N)
    assert bits.shape == (N, 128)
    assert np.all(np.abs(freq - 0.5) < 6 * sigma), freq.round(3)


def test_consecutive_ids_are_uncorrelated(bits):
    """A counter or a clock makes consecutive ids share most bits; random ids share half."""
    same = (bits[1:] == bits[:-1]).mean(axis=1)  # fraction of equal bits, per neighbour pair
    assert abs(same.mean() - 0.5) < 6 * 0.5 / np.sqrt(128 * (N - 1))
    assert same.max() < 0.85  # no pair of neighbours is near-identical
    # as 64-bit halves, neighbours' differences are not constant (no stride)
    hi = np.packbits(bits[:, :64], axis=1).view(">u8").ravel().astype(np.float64)
    assert len(np.unique(np.diff(hi))) > N * 0.99
    # and the sequence is not monotone in any position range
    assert 0.45 < (np.diff(hi) > 0).mean() < 0.55


def test_bits_are_independent_of_each_other(bits):
    """No bit predicts another (pairwise correlation of the 128 positions stays near 0)."""
    corr = np.corrcoef(bits.T.astype(np.float64))
    off = corr[~np.eye(128, dtype=bool)]
    assert np.abs(off).max() < 6 / np.sqrt(N)


def test_ids_that_cannot_have_been_issued_are_rejected():
    for bad in (
        "",
        "short",
        "A" * 21,
        "A" * 23,
        "A" * 21 + "=",
        "../../etc/passwd",
        "A" * 21 + "/",
    ):
        assert not is_session_id(bad)
