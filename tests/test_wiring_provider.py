"""``Provider``: built once and lazily, swapped in tests by ``override`` only, a failed build
remembered for ``retry_after`` seconds, everything forgotten by ``reset_all``."""

from __future__ import annotations

import threading
import time
import traceback

import pytest

from recoengine import wiring
from recoengine.errors import ServiceUnavailable
from recoengine.wiring import Provider


class Counter:
    """A build function that counts its calls (and can be told to fail)."""

    def __init__(self, fail: bool = False, pause: float = 0.0) -> None:
        self.calls = 0
        self.fail = fail
        self.pause = pause

    def __call__(self) -> dict[str, int]:
        self.calls += 1
        time.sleep(self.pause)
        if self.fail:
            raise ServiceUnavailable(f"down (build {self.calls})")
        return {"build": self.calls}


def test_built_lazily_once_and_shared() -> None:
    build = Counter()
    provider = Provider("thing", build)
    assert build.calls == 0 and provider.built() is None  # nothing at declaration
    first = provider()
    assert provider() is first and build.calls == 1
    assert provider.built() is first


def test_override_serves_the_value_and_restores_the_previous_state() -> None:
    build = Counter()
    provider = Provider("thing", build)
    real = provider()
    with provider.override({"fake": 1}) as fake:
        assert provider() is fake
    assert provider() is real and build.calls == 1
    fresh = Provider("unbuilt", Counter())
    with fresh.override({"fake": 2}):
        assert fresh() == {"fake": 2}
    assert fresh.built() is None  # unbuilt before the block: unbuilt after it


def test_override_restores_after_an_error_in_the_block() -> None:
    provider = Provider("thing", Counter())
    with pytest.raises(RuntimeError), provider.override({"fake": 1}):
        raise RuntimeError("test failed inside")
    assert provider() == {"build": 1}


def test_retry_after_remembers_a_failure_until_it_expires() -> None:
    build = Counter(fail=True)
    provider = Provider("model", build, retry_after=0.2)
    with pytest.raises(ServiceUnavailable, match="build 1"):
        provider()
    for _ in range(3):
        with pytest.raises(ServiceUnavailable, match="build 1"):
            provider()
    assert build.calls == 1  # not rebuilt on every request
    time.sleep(0.25)
    build.fail = False
    assert provider() == {"build": 2}


def test_a_remembered_failure_does_not_grow_its_traceback() -> None:
    provider = Provider("model", Counter(fail=True), retry_after=60)
    depths = []
    for _ in range(5):
        try:
            provider()
        except ServiceUnavailable as exc:
            depths.append(len(traceback.extract_tb(exc.__traceback__)))
            assert exc.headers["Retry-After"]  # still the typed error, headers and all
    assert len(set(depths[1:])) == 1


def test_without_retry_after_a_failure_is_retried_at_once() -> None:
    build = Counter(fail=True)
    provider = Provider("store", build)
    for _ in range(2):
        with pytest.raises(ServiceUnavailable):
            provider()
    assert build.calls == 2


def test_reset_and_reset_all_rebuild_and_forget_failures(monkeypatch) -> None:
    build = Counter()
    provider = Provider("thing", build)
    provider()
    provider.reset()
    assert provider() == {"build": 2}
    failing = Counter(fail=True)
    broken = Provider("model", failing, retry_after=60)
    with pytest.raises(ServiceUnavailable):
        broken()
    from recoengine.config import settings

    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    wiring.reset_all()
    assert settings().service.log_level == "ERROR"  # the settings are read again too
    assert provider.built() is None
    failing.fail = False
    assert broken() == {"build": 2}  # the remembered failure is gone
    monkeypatch.undo()
    wiring.reset_all()


def test_concurrent_first_calls_build_once() -> None:
    build = Counter(pause=0.05)
    provider = Provider("slow", build)
    start = threading.Barrier(8)
    seen: list[object] = []

    def call() -> None:
        start.wait()
        seen.append(provider())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert build.calls == 1 and len(seen) == 8 and all(v is seen[0] for v in seen)
