"""Approvals over MCP: a tool call that needs approval asks the client through elicitation.

Both protocol eras that the SDK speaks are served, each its own way:

- handshake era (2025-11-25 and older): the server sends ``elicitation/create`` in the middle of
  the ``run_code`` call (what ``ctx.elicit`` sends), waits for the answer, and the run goes on;
- 2026-07-28: a server may not send requests of its own. ``run_code`` answers with an
  ``InputRequiredResult`` carrying the question instead, while the run waits, paused at the
  tool call; the client asks, then retries ``run_code`` with the answer, and the run goes on
  (see :mod:`codemode.server.paused_runs`).

Only a form answer ``{"approve": true}`` with action ``accept`` approves. Decline, cancel, any
other answer, a client without the elicitation capability, or a transport that cannot carry
the question: the call is refused with :class:`~codemode.errors.ApprovalDenied`, and nothing
was called (the gate's timeout covers an answer that never comes).
"""

from __future__ import annotations

from typing import Any

from mcp.server.elicitation import render_elicitation_schema
from mcp.server.mcpserver import Context
from mcp.shared.exceptions import MCPError
from mcp_types import ElicitRequest, ElicitRequestFormParams, ElicitResult
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, Field, ValidationError

from codemode.errors import ApprovalDenied
from codemode.tools.approval import question
from codemode.tools.middleware import Approver, ToolCallContext

INPUT_REQUIRED_VERSION = "2026-07-28"
"""The first protocol revision where a tool asks its client with an ``InputRequiredResult``."""


class ApprovalAnswer(BaseModel):
    """Allow this one tool call?"""

    approve: bool = Field(title="Allow this call", description="true lets this one tool call run; false refuses it.")


APPROVAL_SCHEMA: dict[str, Any] = render_elicitation_schema(ApprovalAnswer)
"""The form as an elicitation's requested schema, as ``ctx.elicit`` would render it."""


def uses_input_required(ctx: Context) -> bool:
    """True if this request speaks 2026-07-28 or later: questions go out in an ``InputRequiredResult``."""
    version = ctx.protocol_version
    return version is not None and is_version_at_least(version, INPUT_REQUIRED_VERSION)


def cannot_ask(ctx: Context) -> str | None:
    """Why this request's client cannot be asked a form question, or None if it can."""
    capabilities = ctx.client_capabilities
    elicitation = capabilities.elicitation if capabilities is not None else None
    if elicitation is None:
        return "the client did not declare the elicitation capability"
    if elicitation.form is None and elicitation.url is not None:  # a bare `elicitation: {}` means forms
        return "the client supports only URL elicitation, not forms"
    if not uses_input_required(ctx) and not ctx.session.can_send_request:
        return "this connection cannot carry a request to the client (stateless HTTP)"
    return None


def refuse_unasked(context: ToolCallContext, why: str) -> ApprovalDenied:
    return ApprovalDenied(
        f"{context.qualified_name} needs approval, but the client cannot be asked: {why}; the call was not made",
        "unsupported",
    )


def eliciting(ctx: Context) -> Approver:
    """The approver of a handshake-era run: asks ``ctx``'s client with ``elicitation/create`` mid-call."""

    async def approve(context: ToolCallContext, reason: str) -> bool:
        why = cannot_ask(ctx)
        if why is not None:
            raise refuse_unasked(context, why)
        try:
            # What ctx.elicit sends, with the answer unparsed: decide() reads it strictly, as in the 2026 flow.
            answer = await ctx.session.elicit_form(
                question(context, reason), APPROVAL_SCHEMA, related_request_id=ctx.request_context.request_id
            )
        except MCPError as exc:  # the client answered the request with an error
            raise refuse_unasked(context, f"it answered the question with an error ({exc})") from None
        return decide(context, answer)

    return approve


def approval_request(context: ToolCallContext, reason: str) -> ElicitRequest:
    """The question as an ``elicitation/create`` request (what an ``InputRequiredResult`` carries)."""
    return ElicitRequest(
        params=ElicitRequestFormParams(message=question(context, reason), requested_schema=APPROVAL_SCHEMA)
    )


def decide(context: ToolCallContext, answer: object) -> bool:
    """True for an accepted ``{"approve": true}``; raises :class:`ApprovalDenied` saying why for anything else."""
    name = context.qualified_name
    if not isinstance(answer, ElicitResult):
        raise ApprovalDenied(f"the client's answer to the approval request for {name} was not an answer", "declined")
    if answer.action == "decline":
        raise ApprovalDenied(f"the client declined the call {name}; it was not made", "declined")
    if answer.action == "cancel":
        raise ApprovalDenied(f"the client cancelled the approval of {name}; the call was not made", "cancelled")
    try:
        approved = ApprovalAnswer.model_validate(answer.content or {}, strict=True).approve
    except ValidationError:
        raise ApprovalDenied(
            f"the client accepted the approval request for {name} without answering approve: true or false;"
            " the call was not made",
            "declined",
        ) from None
    if not approved:
        raise ApprovalDenied(f"the client answered approve: false for {name}; the call was not made", "declined")
    return True


__all__ = [
    "APPROVAL_SCHEMA",
    "ApprovalAnswer",
    "approval_request",
    "cannot_ask",
    "decide",
    "eliciting",
    "refuse_unasked",
    "uses_input_required",
]
