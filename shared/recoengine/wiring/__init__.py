"""The composition roots: how each function's dependencies are built from ``settings()``.

``wiring.recommend``, ``wiring.chat`` and ``wiring.canary`` each declare the providers their
function uses (``functions/<name>/main.py`` imports only its own); ``wiring.common`` holds
the ones the recommend and chat functions share (the recommender, the session store, the
users' recent events, the sign-in check). Nothing else in ``recoengine`` keeps a module-level
singleton. See ``provider.py`` for how tests swap one.
"""

from recoengine.wiring.provider import Provider, reset_all

__all__ = ["Provider", "reset_all"]
