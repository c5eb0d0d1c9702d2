"""Settings of the end-to-end run (`make test-e2e`): the test settings with single sign-on turned on, the way an
install turns it on (OIDC_* in the environment, read when the settings are imported), against the loopback
OpenID Provider in tests/e2e/oidc/. The Celery worker the suite starts inherits the same environment."""

import os

OIDC_PORT = int(os.environ.setdefault("E2E_OIDC_PORT", "18300"))
OIDC_ISSUER = f"http://127.0.0.1:{OIDC_PORT}"
for name, value in {
    "OIDC_RP_CLIENT_ID": "allocator-e2e",
    "OIDC_RP_CLIENT_SECRET": "allocator-e2e-secret",
    "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{OIDC_ISSUER}/auth",
    "OIDC_OP_TOKEN_ENDPOINT": f"{OIDC_ISSUER}/token",
    "OIDC_OP_USER_ENDPOINT": f"{OIDC_ISSUER}/me",
    "OIDC_OP_JWKS_ENDPOINT": f"{OIDC_ISSUER}/jwks",
}.items():
    os.environ[name] = value

from tests.settings import *  # noqa: E402, F403

END_TO_END = True
