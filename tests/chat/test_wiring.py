"""Configuration picks the backends; bad values fail at start-up naming the variable."""

from __future__ import annotations

import pytest

from recoengine.config import load_settings
from recoengine.errors import ConfigError


def test_defaults_are_the_embedded_backends(tmp_path):
    chat = load_settings({"VAR_DIR": str(tmp_path)}).chat
    assert (chat.session_backend, chat.llm_backend) == ("sqlite", "offline")
    assert chat.sqlite_path == tmp_path / "sessions.sqlite3"
    assert chat.session_ttl_hours == 24.0
    assert (chat.llm_timeout_seconds, chat.llm_max_retries) == (10.0, 2)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SESSION_BACKEND", "redis"),
        ("LLM_BACKEND", "gpt"),
        ("SESSION_TTL_HOURS", "0"),
        ("LLM_MAX_RETRIES", "-1"),
        ("LLM_TIMEOUT_SECONDS", "soon"),
        ("CHAT_MAX_MESSAGE_CHARS", "0"),
    ],
)
def test_bad_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_factories_follow_the_configuration(monkeypatch, tmp_path):
    from recoengine.config import settings
    from recoengine.llm import build_model
    from recoengine.llm.gemini import GeminiModel
    from recoengine.sessions import build_store
    from recoengine.sessions.sqlite_store import SqliteSessionStore

    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "w.sqlite3"))
    monkeypatch.setenv("SESSION_TTL_HOURS", "2")
    monkeypatch.setenv("LLM_BACKEND", "gemini")
    monkeypatch.setenv("GEMINI_MODEL", "gemini-test")
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9")
    settings.cache_clear()
    try:
        store = build_store()
        assert isinstance(store, SqliteSessionStore) and store.ttl.total_seconds() == 7200
        assert (tmp_path / "w.sqlite3").exists()
        store.close()
        model = build_model()
        assert isinstance(model, GeminiModel)
        assert (model.model, model.base_url) == ("gemini-test", "http://127.0.0.1:9")
    finally:
        settings.cache_clear()


def test_understanding_follows_the_configuration(monkeypatch, tmp_path):
    import recoengine.llm as llm_pkg
    import recoengine.sessions as sessions
    from recoengine.chat import build_engine
    from recoengine.config import settings
    from recoengine.llm.gemini import GeminiModel

    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    monkeypatch.setenv("LLM_BACKEND", "gemini")
    monkeypatch.setenv("LLM_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LLM_UNDERSTAND_TIMEOUT_SECONDS", "0.5")
    for understanding, model_understands in (("auto", True), ("offline", False)):
        monkeypatch.setenv("CHAT_UNDERSTANDING", understanding)
        settings.cache_clear()
        monkeypatch.setattr(llm_pkg, "_model", None)  # restored after the test
        monkeypatch.setattr(sessions, "_store", None)
        try:
            engine = build_engine()
            assert isinstance(engine.model, GeminiModel)
            assert engine.model.understand_timeout_seconds == 0.5
            assert (engine.interpreter.extractor is engine.model) is model_understands
            assert engine.interpreter.name == ("model:gemini" if model_understands else "offline")
            engine.store.close()
        finally:
            settings.cache_clear()
    with pytest.raises(ConfigError, match="CHAT_UNDERSTANDING"):
        load_settings({"CHAT_UNDERSTANDING": "psychic"})
