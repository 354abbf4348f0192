"""Shared fixtures. Local services the tests need are started here and stopped at the end."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Tests never touch a developer's var/ directory or a real Google project.
os.environ.setdefault("GOOGLE_CLOUD_PROJECT", "test-project")

pytest_plugins = ["tests.support.firestore_emulator", "tests.support.engine"]
