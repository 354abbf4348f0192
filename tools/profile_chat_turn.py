"""CPU per chat turn, the model's wait excluded: the chat service (SQLite, a generated
catalogue ranked in list order, the gated interpreter) with Gemini through the real
google-genai client against the fake Vertex AI in its own process, so the process's CPU is
the turn's own.

    .venv/bin/python -m tools.profile_chat_turn [--turns 400] [--mode sync|async|stream]
                                                [--profile tottime|cumulative]

It prints the CPU per turn (user + system time of this process over the measured turns,
after 60 warm-up turns), the wall time per turn and the model calls per turn counted at the
fake's wire. ``--profile`` adds cProfile's top functions (the calling thread only; figures
under the profiler are ~3x slower).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from recoengine.chat import (
    ChatLimits,
    ChatService,
    Interpreter,
    PersonalityRouter,
    Suggestion,
    TurnResult,
    load_personalities,
)
from recoengine.llm.gemini import GeminiModel
from recoengine.sessions.sqlite_store import SqliteSessionStore
from testkit.fake_vertex import StaticCredentials

MESSAGES = (
    "recommend me a comedy",
    "hello there",
    "something else",
    "more like the second one",
    "thanks, that sounds good",
    "I want a horror movie",
)
ROOT = Path(__file__).resolve().parent.parent


GENRES = ("Comedy", "Horror", "Drama", "Romance", "Thriller", "Documentary")


class ListCatalogue:
    """A ``Recommender`` whose ranking costs nothing: 300 items, two genres each, in list
    order, so the figure is the chat's own CPU (the engine's is measured by ``make bench``)."""

    def __init__(self) -> None:
        self.items = [
            (f"item-{i}", f"Title {i}", (GENRES[i % 6], GENRES[(i * 7 + 1) % 6]))
            for i in range(300)
        ]
        self.by_id = {item_id: genres for item_id, _, genres in self.items}

    def recommend(
        self,
        user_id: str,
        k: int,
        *,
        features: Sequence[str] = (),
        match_all: bool = False,
        exclude: Sequence[str] = (),
        recent_items: Sequence[str] = (),
    ) -> list[Suggestion]:
        skip, wanted = {*exclude, *recent_items}, {f.lower() for f in features}

        def fits(genres: tuple[str, ...]) -> bool:
            have = {g.lower() for g in genres}
            return not wanted or (wanted <= have if match_all else bool(wanted & have))

        found = [(i, t) for i, t, g in self.items if i not in skip and fits(g)][:k]
        return [Suggestion(i, t, 1.0 / (rank + 1)) for rank, (i, t) in enumerate(found)]

    def similar(
        self, item_id: str, k: int, *, exclude: Sequence[str] = (), user_id: str | None = None
    ) -> list[Suggestion]:
        return self.recommend(
            "", k, features=self.features_of(item_id), exclude=[*exclude, item_id]
        )

    def vocabulary(self) -> frozenset[str]:
        return frozenset(GENRES)

    def features_of(self, item_id: str) -> tuple[str, ...]:
        return self.by_id.get(item_id, ())

    def describe(self) -> dict[str, Any]:
        return {"status": "ok"}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def model_calls(url: str) -> int:
    return sum(int(v) for v in requests.get(f"{url}/counts", timeout=10).json().values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--mode", choices=("sync", "async", "stream"), default="sync")
    parser.add_argument("--profile", choices=("tottime", "cumulative"), default=None)
    args = parser.parse_args()
    fake = subprocess.Popen(
        [sys.executable, "-m", "testkit.fake_vertex"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert fake.stdout is not None
        url = fake.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            measure(url, Path(tmp), args.turns, args.mode, args.profile)
    finally:
        fake.kill()
        fake.wait()


def measure(url: str, tmp: Path, turns: int, mode: str, profile: str | None) -> None:
    model = GeminiModel(
        project="p",
        location="us-central1",
        model="gemini-3.5-flash",
        base_url=url,
        credentials=StaticCredentials(),
    )
    personalities, default = load_personalities()
    engine = ChatService(
        SqliteSessionStore(tmp / "sessions.sqlite3"),
        model,
        PersonalityRouter(personalities, default),
        ListCatalogue(),
        ChatLimits(),
        interpreter=Interpreter(model),
    )
    sessions: dict[str, str] = {}
    loop = asyncio.new_event_loop()

    async def streamed(user: str, message: str, sid: str | None) -> TurnResult:
        last = None
        async for item in engine.stream_turn(user, message, sid):
            last = item
        assert isinstance(last, TurnResult)
        return last

    def turn(i: int) -> None:
        user = f"u{i % 20}"
        message, sid = MESSAGES[i % len(MESSAGES)], sessions.get(user)
        if mode == "sync":
            result = engine.turn(user, message, sid)
        elif mode == "async":
            result = loop.run_until_complete(engine.turn_async(user, message, sid))
        else:
            result = loop.run_until_complete(streamed(user, message, sid))
        sessions[user] = result.session_id

    for i in range(60):
        turn(i)
    calls = model_calls(url)
    profiler = cProfile.Profile() if profile else None
    cpu, wall = cpu_seconds(), time.perf_counter()
    if profiler:
        profiler.enable()
    for i in range(turns):
        turn(i)
    if profiler:
        profiler.disable()
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    print(
        f"{mode}: {turns} turns, CPU per turn {cpu / turns * 1000:.2f} ms, wall per turn "
        f"{wall / turns * 1000:.2f} ms, model calls per turn "
        f"{(model_calls(url) - calls) / turns:.2f}"
    )
    if profiler and profile:
        pstats.Stats(profiler).sort_stats(profile).print_stats(30)
    loop.close()


if __name__ == "__main__":
    main()
