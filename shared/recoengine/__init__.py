"""recoengine: the engine shared by the recommend, chat and canary functions.

Organised by concept: ``data`` (loaders, demo data), ``models`` (CF, CB, PA, blend),
``evaluation`` (protocol, metrics, statistics), ``serving`` (the recommender service),
``web`` (HTTP plumbing shared by the functions), ``sessions``/``chat`` and ``canary``.
The core imports numpy and the standard library only; Google clients live in adapters
and are imported lazily where used.
"""

__version__ = "2.0.0"
