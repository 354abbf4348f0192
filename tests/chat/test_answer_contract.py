"""The chat answer is exactly what the OpenAPI document and docs/chat.md say it is.

Every kind of turn (greeting, help, small talk, each recommendation intent, notes, Korean)
must validate against ``ChatReply``, which admits no undescribed field; together the turns
use every documented field, so the document cannot list one the code no longer sends; and
the answer column of docs/chat.md's API table names the same fields, optional ones with ``?``.
"""

from __future__ import annotations

import re
from pathlib import Path

from recoengine.web.openapi import document
from tests.chat.support import make_engine, undocumented

DOCS_CHAT = Path(__file__).resolve().parents[2] / "docs" / "chat.md"

# One conversation that makes the service send each optional field at least once.
CONVERSATION = [
    "hello",
    "how does this work?",
    "nice weather today",
    "recommend me a comedy",
    "more like the second one",  # understood.ordinal
    "something else",  # understood.filter, a note
    "a zombie comedy",  # understood.unknown
    "comedy or romance",  # match: any
    "no drama, something funny",  # understood.excluded
    "more like laugh riot",  # understood.anchor_title
    "코미디 영화 추천해줘",  # language: ko
]


def _chat_reply() -> dict:
    schema: dict = document()["components"]["schemas"]["ChatReply"]
    return schema


def test_every_kind_of_turn_is_exactly_the_documented_answer(tmp_path):
    engine, _ = make_engine(tmp_path, k=3)
    answers, session_id = [], None
    for message in CONVERSATION:
        turn = engine.turn("alice", message, session_id)
        session_id = turn.session_id
        answers.append(turn.to_dict())
    for message, answer in zip(CONVERSATION, answers, strict=True):
        assert undocumented(answer) == [], message
        assert (answer["responder"], answer["fallback"]) == ("offline", False)
    schema = _chat_reply()
    assert set().union(*answers) == set(schema["properties"])
    understood = [a["understood"] for a in answers if "understood" in a]
    assert set().union(*understood) == set(schema["properties"]["understood"]["properties"])
    assert {a["language"] for a in answers} == {"en", "ko"}


def test_docs_chat_md_lists_the_documented_fields():
    row = next(
        line
        for line in DOCS_CHAT.read_text("utf-8").splitlines()
        if "| `POST /api/v2/chat` |" in line
    )
    answer = row.rstrip(" |").rsplit("|", 1)[1]
    fields = re.findall(r"(\w+)(\??)", answer.strip(" `{}"))
    schema = _chat_reply()
    assert {name for name, _ in fields} == set(schema["properties"])
    assert {name for name, optional in fields if not optional} == set(schema["required"])


def test_every_streamed_turn_ends_with_the_documented_answer(tmp_path):
    """The ``done`` event of a streamed turn is the same document (and its reply is the
    deltas joined), for every kind of turn."""
    import asyncio

    from recoengine.chat import Delta

    engine, _ = make_engine(tmp_path, k=3)

    async def converse() -> list[tuple[list[str], dict]]:
        out, session_id = [], None
        for message in CONVERSATION:
            deltas, done = [], None
            async for item in engine.stream_turn("alice", message, session_id):
                if isinstance(item, Delta):
                    deltas.append(item.text)
                else:
                    done = item.to_dict()
            assert done is not None
            session_id = done["session_id"]
            out.append((deltas, done))
        return out

    for message, (deltas, done) in zip(CONVERSATION, asyncio.run(converse()), strict=True):
        assert undocumented(done) == [], message
        assert done["reply"] == "".join(deltas) and all(deltas), message
