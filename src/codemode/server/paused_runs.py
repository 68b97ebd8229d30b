"""``run_code`` on protocol 2026-07-28: a run that pauses at a tool call until its approval comes back.

On 2026-07-28 a server may not send a request of its own in the middle of a call: it answers
the call with an ``InputRequiredResult`` holding its questions, and the client calls again with
the answers (the SDK's client does so by itself, through its ``elicitation_callback``). A run
whose tool call waits for an approval cannot end with that first call, so on this protocol
``run_code`` starts the run in the server's task group (the session registry's) and waits for
it there:

- the run ends: its result is the call's result, as on any protocol;
- a tool call of the run needs approval: the call returns the question, and the run stays
  paused at that tool call;
- the retry (same arguments, the ``request_state`` we returned) finds the run, hands it the
  answers and waits again: for its result, or its next question.

The SDK seals ``request_state`` (encrypted, bound to the tool's arguments and the principal,
expiring after 10 minutes), so it only ever holds what we put in it: the run's id. A run the
client never comes back for is not stuck: its question times out (``--approval-timeout``),
the call is refused and the code goes on. The client going away while the run works (not while
it waits for an answer) stops the run, as it stops any ``run_code``.
"""

from __future__ import annotations

import inspect
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp_types import ElicitRequest, InputRequiredResult

from codemode.errors import InvalidArgument, SessionClosed
from codemode.executors.base import OutputCallback
from codemode.models import ExecutionResult
from codemode.server.approvals import approval_request, cannot_ask, decide, refuse_unasked
from codemode.session.javascript import Language
from codemode.session.progress import Report, run_progress
from codemode.session.session import Session
from codemode.tools.middleware import ToolCallContext

RESULTS_KEPT_SECONDS = 600.0
"""How long a run's result waits for a retry that never came (the SDK's request state expires then)."""

Spawn = Callable[..., None]
"""``spawn(fn, *args)``: run ``fn`` in a task group that outlives the request (the registry's)."""


@dataclass
class _Question:
    key: str
    request: ElicitRequest
    answered: anyio.Event = field(default_factory=anyio.Event)
    answer: object | None = None


class PausedRun:
    """One run of ``run_code`` on 2026-07-28, and the approval questions it waits on."""

    def __init__(self, session: Session, ctx: Context, streams: bool) -> None:
        self.run_id = secrets.token_urlsafe(16)
        self.session = session
        self.ctx = ctx  # the latest request about this run: its client is the one asked
        self.questions: dict[str, _Question] = {}
        self.changed = anyio.Event()  # set (and replaced) on a new question or the end of the run
        self.done = anyio.Event()
        self.finished_at: float | None = None
        self.sink: OutputCallback | None = None  # the attached request's progress, if it asked for it
        self._streams = streams
        self._scope = anyio.CancelScope()
        self._asked = 0
        self._outcome: ExecutionResult | None = None
        self._error: Exception | None = None

    async def body(self, code: str, timeout: Any, language: Language) -> None:
        """The run itself, in the registry's task group."""
        try:
            with self._scope:
                streaming = {"on_output": self._output} if self._streams else {}
                try:
                    self._outcome = await self.session.run(
                        code, timeout, language=language, approver=self.ask, **streaming
                    )
                except Exception as exc:  # noqa: BLE001 - handed to the request that waits for the result
                    self._error = exc
        finally:
            self.finished_at = time.monotonic()
            self.done.set()
            self._signal()

    def result(self) -> ExecutionResult:
        if self._error is not None:
            raise self._error
        if self._outcome is None:
            raise SessionClosed("the run was stopped before it finished (its session or the server closed)")
        return self._outcome

    def stop(self) -> None:
        self._scope.cancel()

    async def ask(self, context: ToolCallContext, reason: str) -> bool:
        """The run's approver: the question goes out with the next ``InputRequiredResult``."""
        why = cannot_ask(self.ctx)
        if why is not None:
            raise refuse_unasked(context, why)
        self._asked += 1
        question = _Question(f"approval-{self._asked}", approval_request(context, reason))
        self.questions[question.key] = question
        self._signal()
        try:
            await question.answered.wait()  # the gate's timeout cancels this wait
        finally:
            del self.questions[question.key]
        return decide(context, question.answer)

    def answer(self, responses: dict[str, Any]) -> None:
        for key, response in responses.items():
            question = self.questions.get(key)
            if question is not None and question.answer is None:
                question.answer = response
                question.answered.set()

    def open_questions(self) -> list[_Question]:
        return [question for question in self.questions.values() if question.answer is None]

    def _signal(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    async def _output(self, stream: str, text: str) -> None:
        if self.sink is not None:
            delivered = self.sink(stream, text)
            if inspect.isawaitable(delivered):
                await delivered


class PausedRuns:
    """The server's 2026-07-28 runs, by id, from their start until their result is taken."""

    def __init__(self) -> None:
        self._runs: dict[str, PausedRun] = {}

    def __len__(self) -> int:
        return len(self._runs)

    async def run(
        self,
        ctx: Context,
        session: Session,
        code: str,
        timeout: Any,
        language: Language,
        report: Report | None,
        spawn: Spawn,
    ) -> ExecutionResult | InputRequiredResult:
        """Start a run (or, on a retry, resume it with the answers) and wait: its result, or its questions."""
        self._forget_old()
        if ctx.request_state is None:
            run = PausedRun(session, ctx, streams=report is not None)
            self._runs[run.run_id] = run
            spawn(run.body, code, timeout, language)
        else:
            run = self._resumed(ctx, session)
        run.ctx = ctx
        try:
            async with _progress(report) as sink:
                run.sink = sink
                try:
                    return await self._next(run)
                finally:
                    run.sink = None
        except anyio.get_cancelled_exc_class():
            run.stop()  # the client went away: stop the run, as a cancelled run_code does
            with anyio.CancelScope(shield=True):
                await run.done.wait()
            self._runs.pop(run.run_id, None)
            raise

    async def _next(self, run: PausedRun) -> ExecutionResult | InputRequiredResult:
        while True:
            changed = run.changed
            if run.done.is_set():
                self._runs.pop(run.run_id, None)
                return run.result()
            waiting = run.open_questions()
            if waiting:
                return InputRequiredResult(
                    input_requests={question.key: question.request for question in waiting},
                    request_state=json.dumps({"run": run.run_id}),
                )
            await changed.wait()

    def _resumed(self, ctx: Context, session: Session) -> PausedRun:
        try:
            run_id = json.loads(ctx.request_state or "")["run"]
        except (ValueError, KeyError, TypeError):
            raise InvalidArgument("request_state is not one this server gave out") from None
        run = self._runs.get(run_id) if isinstance(run_id, str) else None
        if run is None or run.session is not session:
            raise InvalidArgument(
                "the run this answer is for is over or unknown (its session closed, or its result was already"
                " returned); get_history shows what it did"
            )
        run.answer(dict(ctx.input_responses or {}))
        return run

    def _forget_old(self) -> None:
        now = time.monotonic()
        for run_id, run in list(self._runs.items()):
            if run.finished_at is not None and now - run.finished_at > RESULTS_KEPT_SECONDS:
                del self._runs[run_id]


@asynccontextmanager
async def _progress(report: Report | None) -> AsyncIterator[OutputCallback | None]:
    if report is None:
        yield None
        return
    async with run_progress(report) as on_output:
        yield on_output


__all__ = ["RESULTS_KEPT_SECONDS", "PausedRun", "PausedRuns", "Spawn"]
