"""HTTP tools: each endpoint of a ``type: http`` YAML is a callable, served with httpx2.

One client per tool keeps connections alive between calls. Path parameters are
URL-quoted into the path, query parameters go to the query string, body
parameters into a JSON body. A JSON response comes back as data, anything else
as text; a non-2xx status is a ``ToolFailed`` naming the status and the start of
the body.
"""

from __future__ import annotations

import string
import urllib.parse
from typing import Any

import httpx2

from codemode.errors import InvalidArgument, ToolFailed
from codemode.tools.spec import HttpEndpoint, HttpToolSpec, expand_env

_BODY_SHOWN = 500


class HttpTool:
    """A connection pool for one HTTP tool."""

    def __init__(self, spec: HttpToolSpec) -> None:
        self.spec = spec
        headers = {key: expand_env(value) for key, value in spec.headers.items()}
        self._client = httpx2.AsyncClient(
            base_url=expand_env(spec.base_url), headers=headers, timeout=spec.timeout, follow_redirects=True
        )

    async def call(self, endpoint_name: str | None, args: dict[str, Any]) -> Any:
        endpoint = self._endpoint(endpoint_name)
        request = self._request(endpoint_name or "", endpoint, args)
        try:
            response = await self._client.request(**request)
        except httpx2.TimeoutException:
            raise ToolFailed(f"tool {self.spec.name!r}: no answer within {self.spec.timeout:g}s") from None
        except httpx2.HTTPError as exc:
            raise ToolFailed(f"tool {self.spec.name!r}: request failed: {exc}") from None
        if response.status_code >= 400:
            raise ToolFailed(
                f"tool {self.spec.name!r}: {endpoint.method} {request['url']} returned HTTP "
                f"{response.status_code}: {response.text[:_BODY_SHOWN]}"
            )
        if "json" in response.headers.get("content-type", ""):
            try:
                return response.json()
            except ValueError:
                pass  # mislabelled: give the text
        return response.text

    def _endpoint(self, name: str | None) -> HttpEndpoint:
        if name is None or name not in self.spec.endpoints:
            known = ", ".join(sorted(self.spec.endpoints))
            raise InvalidArgument(f"tool {self.spec.name!r} has no endpoint {name!r}; call one of: {known}")
        return self.spec.endpoints[name]

    def _request(self, name: str, endpoint: HttpEndpoint, args: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(args) - set(endpoint.params))
        if unknown:
            raise InvalidArgument(
                f"{self.spec.name}.{name} got unknown argument(s) {', '.join(unknown)}; "
                f"it takes: {', '.join(sorted(endpoint.params)) or 'nothing'}"
            )
        values = {key: param.default for key, param in endpoint.params.items() if param.default is not None} | args
        missing = [key for key, param in endpoint.params.items() if param.required and key not in values]
        if missing:
            raise InvalidArgument(f"{self.spec.name}.{name} needs argument(s) {', '.join(missing)}")
        parts: dict[str, dict[str, Any]] = {"path": {}, "query": {}, "body": {}, "header": {}}
        for key, value in values.items():
            parts[endpoint.params[key].in_][key] = value
        request: dict[str, Any] = {"method": endpoint.method, "url": _fill_path(endpoint.path, parts["path"])}
        if parts["query"]:
            request["params"] = parts["query"]
        if parts["body"]:
            request["json"] = parts["body"]
        if parts["header"]:
            request["headers"] = {key: str(value) for key, value in parts["header"].items()}
        return request

    async def aclose(self) -> None:
        await self._client.aclose()


def _fill_path(path: str, values: dict[str, Any]) -> str:
    fields = {name for _, name, _, _ in string.Formatter().parse(path) if name}
    missing = fields - set(values)
    if missing:
        raise InvalidArgument(f"path {path!r} needs {', '.join(sorted(missing))}")
    return path.format(**{key: urllib.parse.quote(str(value), safe="") for key, value in values.items()})
