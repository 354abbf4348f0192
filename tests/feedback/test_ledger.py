"""The feedback ledger under store faults: each fact once, each list converts once, and a
client's retry after a failure is counted (issue 18, item 8).

The ledger runs on the real SQLite store behind a wrapper that fails one chosen store call of a
request, either before the call reaches the store (``fail``: nothing written) or after it
(``lost``: written, but the caller sees an error, as when a reply is lost). The wrapper counts
calls by position, not by method name, so the same tests judge any sequence of store writes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from recoengine.errors import ServiceUnavailable
from recoengine.feedback_tokens import FeedbackSigner
from recoengine.serving.feedback import AlreadyRecorded, FeedbackLedger, Recorded
from recoengine.sessions.sqlite_store import SqliteSessionStore
from recoengine.sessions.user_events import UserEvents

KEY = b"ledger-test-key-" + b"0123456789" * 4
STORE_CALLS = ("claim_all", "claim_once", "record_item_event")  # what a record may call


class StoreFault(ConnectionError):
    """The injected failure (a network error between the service and its store)."""


@dataclass
class FaultyStore:
    """A real store whose ``armed``-th call (0-based, counted from ``arm``) fails."""

    store: SqliteSessionStore
    calls: int = 0
    armed: int | None = None
    kind: str = "fail"
    fired: str | None = None  # the kind of the fault that fired in this request, if any

    def arm(self, index: int | None, kind: str) -> None:
        self.calls, self.armed, self.kind, self.fired = 0, index, kind, None

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.store, name)
        if name not in STORE_CALLS:
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            position, self.calls = self.calls, self.calls + 1
            if position != self.armed:
                return target(*args, **kwargs)
            self.fired = self.kind
            if self.kind == "lost":
                target(*args, **kwargs)
            raise StoreFault(f"injected {self.kind} fault at store call {position} ({name})")

        return call


@dataclass
class Harness:
    faulty: FaultyStore
    ledger: FeedbackLedger
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)


def harness(path: Path) -> Harness:
    faulty = FaultyStore(SqliteSessionStore(path))
    counts: Counter[tuple[str, str]] = Counter()

    def count(event: str, revision: str) -> None:
        counts[(event, revision)] += 1

    store: Callable[[], Any] = lambda: faulty  # noqa: E731 - the ledger's store provider
    ledger = FeedbackLedger(
        FeedbackSigner([KEY], 3600), store, UserEvents(store, breaker_seconds=0), count
    )
    return Harness(faulty, ledger, counts)


@pytest.mark.parametrize("position", [0, 1, 2])
def test_a_retry_after_a_failed_store_call_is_counted_exactly_once(
    tmp_path: Path, position: int
) -> None:
    """Whatever store call of the first attempt fails, the client's retry is recorded and the
    list's conversion counted once. With the item and list claims as two writes, a failure of
    the second left the item claimed: the retry got 409 and the conversion was never counted."""
    h = harness(tmp_path / "s.sqlite3")
    token = h.ledger.served("alice", "rev-1", ["i1", "i2"])
    h.faulty.arm(position, "fail")
    try:
        first: Recorded | None = h.ledger.record(token, "alice", "i1", "click")
    except ServiceUnavailable:
        first = None
    h.faulty.arm(None, "fail")
    if first is None:
        retry = h.ledger.record(token, "alice", "i1", "click")
        assert retry.counted is True
    else:  # the failure was absorbed (the user's recent events): counted the first time
        assert first.counted is True
    assert h.counts[("click", "rev-1")] == 1
    with pytest.raises(AlreadyRecorded):
        h.ledger.record(token, "alice", "i1", "click")
    assert h.ledger.record(token, "alice", "i2", "click").counted is False
    assert h.counts[("click", "rev-1")] == 1


Fact = tuple[int, str, str]  # (list, item, event)


class LedgerMachine(RuleBasedStateMachine):
    """Interleaved lists, clicks, accepts, duplicates and retries, with a fault at any store
    call of any request. Checked after every step:

    - each (list, item, event) is recorded at most once, and a list converts at most once;
    - a fact whose attempts failed only before the store wrote (``fail``) is recorded by its
      next clean attempt, and its list's conversion is then counted;
    - a ``lost`` fault (written, reply lost) may cost that fact its count, never double it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.h: Harness
        self.lists: list[tuple[str, str, list[str]]] = []  # (token, user, items)
        self.recorded: Counter[Fact] = Counter()
        self.owed: set[Fact] = set()  # failed cleanly: the next clean attempt must record it
        self.lost: set[tuple[int, str]] = set()  # (list, event) touched by a lost reply
        self.counted_on: Counter[tuple[int, str]] = Counter()  # Recorded.counted per list

    @initialize()
    def start(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ledger-"))
        self.h = harness(self.folder / "s.sqlite3")

    @rule(user=st.sampled_from(["alice", "bob"]), k=st.integers(1, 3))
    def serve(self, user: str, k: int) -> None:
        n = len(self.lists)
        items = [f"item-{n}-{j}" for j in range(k)]
        self.lists.append((self.h.ledger.served(user, f"rev-{n}", items), user, items))

    @rule(
        pick=st.integers(0, 1_000),
        item=st.integers(0, 2),
        event=st.sampled_from(["click", "accept"]),
        fault=st.one_of(st.none(), st.tuples(st.integers(0, 2), st.sampled_from(["fail", "lost"]))),
    )
    def feedback(self, pick: int, item: int, event: str, fault: tuple[int, str] | None) -> None:
        if not self.lists:
            return
        index = pick % len(self.lists)
        token, user, items = self.lists[index]
        fact = (index, items[item % len(items)], event)
        self.h.faulty.arm(*(fault or (None, "fail")))
        try:
            result = self.h.ledger.record(token, user, fact[1], event)
        except ServiceUnavailable:
            assert self.h.faulty.fired, "a 503 without a store fault"
            if self.h.faulty.fired == "lost":
                self.lost.add((index, event))
                self.owed.discard(fact)  # its claim may be stored: a 409 is allowed now
            elif self.recorded[fact] == 0 and (index, event) not in self.lost:
                self.owed.add(fact)
            return
        except AlreadyRecorded:
            assert fact not in self.owed or self.h.faulty.fired, f"{fact}: retry refused"
            return
        finally:
            self.h.faulty.arm(None, "fail")
        self.recorded[fact] += 1
        self.owed.discard(fact)
        if result.counted:
            self.counted_on[(index, event)] += 1

    @rule(data=st.data())
    def retry_an_owed_fact(self, data: st.DataObject) -> None:
        """The client retries a failed post with no fault: it must be recorded."""
        if not self.owed:
            return
        fact = data.draw(st.sampled_from(sorted(self.owed)))
        token, user, _ = self.lists[fact[0]]
        result = self.h.ledger.record(token, user, fact[1], fact[2])
        self.recorded[fact] += 1
        self.owed.discard(fact)
        if result.counted:
            self.counted_on[(fact[0], fact[2])] += 1

    @invariant()
    def each_fact_once_and_each_list_converts_once(self) -> None:
        assert all(n <= 1 for n in self.recorded.values()), self.recorded
        assert all(n <= 1 for n in self.counted_on.values()), self.counted_on
        for (event, revision), n in self.h.counts.items():
            assert n <= 1, f"list {revision} converted {n} times on {event}"

    @invariant()
    def a_recorded_list_is_counted_unless_a_reply_was_lost(self) -> None:
        for index, _, event in (f for f, n in self.recorded.items() if n):
            if (index, event) not in self.lost:
                assert self.h.counts[(event, f"rev-{index}")] == 1, (index, event)

    def teardown(self) -> None:
        if hasattr(self, "h"):
            self.h.faulty.store.close()
            shutil.rmtree(self.folder, ignore_errors=True)


# make test runs 60 examples; `make feedback-stateful STATEFUL_EXAMPLES=2000` runs it long.
LedgerMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("FEEDBACK_STATEFUL_EXAMPLES", "60")),
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_the_ledger_under_interleavings_and_store_faults = LedgerMachine.TestCase
