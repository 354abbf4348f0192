"""Google credentials for detect-secrets, which ships no detector for them (a custom plugin,
named in ``.secrets.baseline``): API keys, OAuth client secrets and tokens, and the key id of a
service-account key file. The project runs on Google Cloud, so these are the likeliest leaks."""

from __future__ import annotations

import re

from detect_secrets.plugins.base import RegexBasedDetector


class GoogleCredentialDetector(RegexBasedDetector):
    """Scans for Google API keys, OAuth secrets and tokens, and service-account key ids."""

    secret_type = "Google Credential"  # pragma: allowlist secret (a label, not a value)

    denylist = (
        re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b"),  # API key
        re.compile(r"\bGOCSPX-[0-9A-Za-z_\-]{28}\b"),  # OAuth client secret
        re.compile(r"\b1//0[0-9A-Za-z_\-]{40,}"),  # OAuth refresh token
        re.compile(r"\bya29\.[0-9A-Za-z_\-]{30,}"),  # OAuth access token
        re.compile(r'"private_key_id"\s*:\s*"([0-9a-f]{40})"'),  # service-account key file
    )
