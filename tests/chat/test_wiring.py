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


def test_factories_follow_the_configuration(tmp_path):
    from recoengine.llm.gemini import GeminiModel
    from recoengine.sessions.sqlite_store import SqliteSessionStore
    from recoengine.wiring.chat import build_language_model
    from recoengine.wiring.common import build_session_store

    cfg = load_settings(
        {
            "SQLITE_PATH": str(tmp_path / "w.sqlite3"),
            "SESSION_TTL_HOURS": "2",
            "LLM_BACKEND": "gemini",
            "GEMINI_MODEL": "gemini-test",
            "LLM_BASE_URL": "http://127.0.0.1:9",
        }
    )
    store = build_session_store(cfg.chat, cfg.service.project)
    assert isinstance(store, SqliteSessionStore) and store.ttl.total_seconds() == 7200
    assert (tmp_path / "w.sqlite3").exists()
    store.close()
    model = build_language_model(cfg.chat, cfg.service.project)
    assert isinstance(model, GeminiModel)
    assert (model.model, model.base_url) == ("gemini-test", "http://127.0.0.1:9")


@pytest.fixture()
def rewired(monkeypatch):
    """Providers rebuilt from this test's environment, and from the restored one after it."""
    from recoengine import wiring

    wiring.reset_all()
    yield monkeypatch
    monkeypatch.undo()
    wiring.reset_all()


def test_the_providers_build_the_configured_service(rewired, tmp_path):
    from recoengine import wiring
    from recoengine.llm.gemini import GeminiModel
    from recoengine.wiring import chat, common
    from recoengine.wiring.serving_recommender import ServingRecommender

    rewired.setenv("VAR_DIR", str(tmp_path))
    rewired.setenv("LLM_BACKEND", "gemini")
    rewired.setenv("LLM_BASE_URL", "http://127.0.0.1:9")
    wiring.reset_all()
    service = chat.service()
    assert service is chat.service()  # once per instance
    assert service.store is common.session_store() and service.model is chat.language_model()
    assert service.events is common.user_events()  # the reader the recommend function uses
    assert isinstance(service.model, GeminiModel)
    assert isinstance(service.recommender, ServingRecommender)
    service.store.close()


def test_understanding_follows_the_configuration(rewired, tmp_path):
    from recoengine import wiring
    from recoengine.llm.gemini import GeminiModel
    from recoengine.wiring import chat

    rewired.setenv("VAR_DIR", str(tmp_path))
    rewired.setenv("LLM_BACKEND", "gemini")
    rewired.setenv("LLM_BASE_URL", "http://127.0.0.1:9")
    rewired.setenv("LLM_UNDERSTAND_TIMEOUT_SECONDS", "0.5")
    for understanding, model_understands in (("auto", True), ("offline", False)):
        rewired.setenv("CHAT_UNDERSTANDING", understanding)
        wiring.reset_all()
        service = chat.service()
        assert isinstance(service.model, GeminiModel)
        assert service.model.understand_timeout_seconds == 0.5
        assert (service.interpreter.extractor is service.model) is model_understands
        assert service.interpreter.name == ("model:gemini" if model_understands else "offline")
        service.store.close()
    with pytest.raises(ConfigError, match="CHAT_UNDERSTANDING"):
        load_settings({"CHAT_UNDERSTANDING": "psychic"})


def test_an_overridden_language_model_reaches_the_service(rewired, tmp_path):
    from recoengine import wiring
    from recoengine.llm.offline import OfflineResponder
    from recoengine.wiring import chat

    rewired.setenv("VAR_DIR", str(tmp_path))
    wiring.reset_all()
    model = OfflineResponder()
    with chat.language_model.override(model):
        service = chat.service()
        assert service.model is model
    chat.service.reset()
    assert chat.service().model is not model  # built from the configuration again
    service.store.close()


def test_chat_and_recommend_share_the_model_store_and_events(engine_env):
    """In the local stack both functions run in one process: one model, one store, one
    breaker, as each Cloud Run instance holds one of its own."""
    from recoengine.wiring import chat, common, recommend

    service = chat.service()
    assert service.store is common.session_store()
    assert service.events is recommend.user_events()
    model_version = recommend.recommender().version
    assert service.recommender.describe()["model_version"] == model_version

    class Stub:
        def status(self):
            return {"status": "ok", "model_version": "stub"}

    with recommend.recommender.override(Stub()):  # the chat's recommender follows it
        assert service.recommender.describe()["model_version"] == "stub"
    assert service.recommender.describe()["model_version"] == model_version
