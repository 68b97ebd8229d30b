"""run_code's text: what a model needs of a run, in as few bytes as say it.

Every other tool answers, as text, the compact JSON of its structured content (see
``context.result``); a run's output reads better as text, so it alone is rendered.
"""

from __future__ import annotations

from mcp_types import ContentBlock, ImageContent, ResourceLink

from codemode.encoding import to_base64
from codemode.images import Image
from codemode.models import ExecutionResult

SLOW_MS = 1000.0
"""A run at least this long says how long it took (an agent planning timeouts wants to know)."""


def execution(result: ExecutionResult, *, name_session: bool = False) -> str:
    """What the agent reads of a run: its output, then the value or the error; nothing twice, nothing empty.

    The structured content carries every field (count, timing, session id); the text only what helps:
    the session's id where several sessions can answer (``name_session``), the time of a slow run.
    """
    lines = []
    if result.state_lost:
        lines.append("[state lost: the worker was replaced, every variable is gone]")
    if result.stdout:
        lines.append(result.stdout.rstrip("\n"))
    if result.stderr:
        lines += ["[stderr]", result.stderr.rstrip("\n")]
    lines += _error_lines(result)
    if result.value_repr is not None:
        lines.append(f"[value] {result.value_repr}" if lines else result.value_repr)
    lines += [f"[picture] {_picture_line(image)}" for image in result.images]
    lines += [f"[note] {note}" for note in result.notes]
    if result.truncated:
        lines.append("[truncated: output, value or traceback was cut at its size limit]")
    if result.duration_ms >= SLOW_MS:
        lines.append(f"[took {result.duration_ms / 1000:.1f} s]")
    if name_session and result.session_id:
        lines.append(f"[session {result.session_id}]")
    return "\n".join(lines) or "[no output]"


def _error_lines(result: ExecutionResult) -> list[str]:
    if result.error is None:
        return []
    traceback = result.error_info.traceback.rstrip("\n") if result.error_info is not None else ""
    if traceback and traceback.endswith(result.error):
        return [traceback]
    return [traceback, result.error] if traceback else [result.error]


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
