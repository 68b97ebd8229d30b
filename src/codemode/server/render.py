"""run_code's readable text: every field of the result, laid out for a model to read.

Every other tool answers, as text, the compact JSON of its structured content (see
``context.result``); a run's output reads better as text, so it alone is rendered.
"""

from __future__ import annotations

from mcp_types import ContentBlock, ImageContent, ResourceLink

from codemode.encoding import to_base64
from codemode.images import Image
from codemode.models import ExecutionResult


def execution(result: ExecutionResult) -> str:
    status = "ok" if result.is_ok else f"error: {result.error}"
    session = f" session {result.session_id}" if result.session_id else ""
    lines = [f"[{result.execution_count}] {status} ({result.duration_ms:.1f} ms){session}"]
    if result.state_lost:
        lines.append("state lost: the worker was replaced, every variable is gone")
    if result.stdout:
        lines += ["--- stdout ---", result.stdout.rstrip("\n")]
    if result.stderr:
        lines += ["--- stderr ---", result.stderr.rstrip("\n")]
    if result.error_info is not None and result.error_info.traceback:
        lines += ["--- traceback ---", result.error_info.traceback.rstrip("\n")]
    if result.value_repr is not None:
        lines += ["--- value ---", result.value_repr]
    if result.images:
        lines += ["--- pictures (image content below) ---", *(_picture_line(image) for image in result.images)]
    if result.notes:
        lines += ["--- notes ---", *result.notes]
    if result.truncated:
        lines.append("(output, value or traceback was truncated at its size limit)")
    return "\n".join(lines)


def pictures(result: ExecutionResult) -> list[ContentBlock]:
    """Each picture as image content, followed by a link to its original when it was shrunk."""
    blocks: list[ContentBlock] = []
    for number, image in enumerate(result.images, 1):
        if image.data is not None:
            blocks.append(ImageContent(data=to_base64(image.data), mime_type=image.mime_type))
        if image.full_size_uri is not None:
            name = f"picture {number} of run {result.execution_count}, full size"
            blocks.append(ResourceLink(uri=image.full_size_uri, name=name))
    return blocks


def _picture_line(image: Image) -> str:
    size = f" {image.width}x{image.height}" if image.width and image.height else ""
    shown = "" if image.data is not None else " (too large to send)"
    original = f"; full size: {image.full_size_uri}" if image.full_size_uri else ""
    return f"{image.mime_type}{size}{shown}{original}"
