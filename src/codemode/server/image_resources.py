"""The originals of shrunk pictures, as MCP resources: ``session-image://{session_id}/{image_id}``.

A run's result links them (``full_size_uri``); only the session's owner can read them.
"""

from __future__ import annotations

from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver.exceptions import ResourceNotFoundError
from mcp_types import ResourceTemplate as MCPResourceTemplate

from codemode.errors import CodemodeError
from codemode.images import IMAGE_SCHEME, parse_image_uri
from codemode.server.context import principal
from codemode.server.registry import SessionRegistry


def image_resource_template() -> MCPResourceTemplate:
    return MCPResourceTemplate(
        uri_template=f"{IMAGE_SCHEME}{{session_id}}/{{image_id}}",
        name="session-image",
        description="The full-size original of a picture that run_code shrank (its result's full_size_uri).",
    )


async def read_image_resource(registry: SessionRegistry, uri: str) -> list[ReadResourceContents]:
    try:
        session_id, _ = parse_image_uri(uri)
        image = (await registry.resolve(principal(), session_id)).get_image(uri)
    except CodemodeError as exc:
        raise ResourceNotFoundError(str(exc)) from exc
    assert image.data is not None  # originals always carry their bytes
    return [ReadResourceContents(content=image.data, mime_type=image.mime_type)]
