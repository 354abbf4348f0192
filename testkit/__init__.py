"""Test support shared by ``tests/`` and ``tools/`` (benchmarks, load tests).

Local stand-ins for Google's services that speak the real wire protocol (the Firestore
emulator runner, fake Cloud Run Admin and Vertex AI servers). Never imported by ``recoengine``
or ``functions/``: production code does not ship fakes.
"""
