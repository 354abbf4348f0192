"""A local stack (demo model, SQLite sessions, a known canary token) for the security tests."""

from tests.support.localstack import CANARY_TOKEN, stack

__all__ = ["CANARY_TOKEN", "stack"]
