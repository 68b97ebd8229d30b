"""Bearer tokens for the HTTP server: one shared token, or a file mapping tokens to principals.

Plugged into the SDK's token-verifier hook, so its middleware answers a missing
or wrong token with a bare 401 and puts the principal where tool handlers find it
(``get_access_token()``). Sessions are bound to that principal.
"""

from __future__ import annotations

import hmac
import json
from pathlib import Path
from typing import TYPE_CHECKING

from codemode.errors import InvalidArgument
from codemode.names import validate_name

if TYPE_CHECKING:  # the CLI reads tokens before the SDK is imported (see cli.serve)
    from mcp.server.auth.provider import AccessToken

TOKEN_PRINCIPAL = "token"
"""The principal of the single --auth-token / CODEMODE_AUTH_TOKEN."""

_MIN_TOKEN_LENGTH = 16


class StaticTokenVerifier:
    """Accepts the configured tokens; compares each in constant time, so timing tells nothing."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._tokens = [(token.encode(), principal) for token, principal in tokens.items()]

    async def verify_token(self, token: str) -> AccessToken | None:
        offered = token.encode()
        found = None
        for known, principal in self._tokens:  # no early exit: every token is compared
            if hmac.compare_digest(offered, known):
                found = principal
        if found is None:
            return None
        from mcp.server.auth.provider import AccessToken

        return AccessToken(token="", client_id=found, scopes=[])


def load_tokens(single: str | None, tokens_file: Path | None) -> dict[str, str]:
    """Token -> principal, from --auth-token / CODEMODE_AUTH_TOKEN and --tokens-file."""
    tokens: dict[str, str] = {}
    if single:
        tokens[_checked_token(single, "--auth-token")] = TOKEN_PRINCIPAL
    if tokens_file is not None:
        try:
            data = json.loads(tokens_file.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"--tokens-file {tokens_file}: cannot read a JSON object from it: {exc}") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise InvalidArgument(f"--tokens-file {tokens_file}: expected a JSON object of token -> principal name")
        for token, principal in data.items():
            tokens[_checked_token(token, f"a token in {tokens_file}")] = validate_name(principal, "principal name")
    return tokens


def _checked_token(token: str, where: str) -> str:
    if len(token) < _MIN_TOKEN_LENGTH:
        raise InvalidArgument(f"{where} is too short: use at least {_MIN_TOKEN_LENGTH} random characters")
    return token
