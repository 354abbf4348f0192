"""A local stack for the fuzz tests: demo model, SQLite sessions, a known canary token."""

from tests.support.localstack import CANARY_TOKEN, stack

__all__ = ["CANARY_TOKEN", "stack"]
