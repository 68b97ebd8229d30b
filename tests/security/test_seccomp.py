"""The seccomp filter: kernel entry points no session needs fail with EPERM, in the worker and its children."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from codemode import Session
from codemode.sandbox import seccomp

pytestmark = pytest.mark.anyio
needs_filter = pytest.mark.skipif(not seccomp.supported(), reason="no seccomp filter for this architecture")

# Raw system calls through ctypes, so nothing in Python's own wrappers decides the outcome.
PROBE = """
import ctypes, errno, os, platform, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
NUMBERS = {'x86_64': {'keyctl': 250, 'bpf': 321, 'unshare': 272, 'perf_event_open': 298, 'userfaultfd': 323,
                      'io_uring_setup': 425, 'mount': 165, 'x32_getpid': 0x40000000 + 39},
           'aarch64': {'keyctl': 219, 'bpf': 280, 'unshare': 97, 'perf_event_open': 241, 'userfaultfd': 282,
                       'io_uring_setup': 425, 'mount': 40}}[platform.machine()]
def outcome(number):
    result = libc.syscall(number, 0, 0, 0, 0, 0)
    return 'ok' if result >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
seen = {name: outcome(number) for name, number in NUMBERS.items()}
child = subprocess.run([sys.executable, '-c', 'import ctypes, ctypes.util; '
                        'libc = ctypes.CDLL(None, use_errno=True); '
                        f"print(libc.syscall({NUMBERS['keyctl']}, 0, 0, 0) == -1 and ctypes.get_errno())"],
                       capture_output=True, text=True)
ordinary = [os.getpid() > 0, subprocess.run(['true']).returncode == 0, len(os.listdir('.')) >= 0]
[seen, child.stdout.strip(), all(ordinary)]
"""


@needs_filter
@pytest.mark.usefixtures("sandbox")
async def test_denied_calls_fail_with_eperm_in_the_worker_and_its_children(workspace: Path):
    async with Session.from_base(workspace, timeout=30, sandbox="bwrap") as session:
        assert session.info().confinement.syscall_filter  # type: ignore[union-attr]
        result = await session.run(PROBE)
    assert result.error is None, result.error
    seen, child, ordinary = result.value
    assert set(seen.values()) == {"EPERM"}, seen
    assert child == "1"  # EPERM is errno 1, in a process the code started
    assert ordinary


async def test_without_the_sandbox_no_filter_is_claimed(workspace: Path):
    async with Session.from_base(workspace, timeout=30, sandbox="none") as session:
        await session.run("1")
        assert session.info().confinement.syscall_filter is False  # type: ignore[union-attr]


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_the_program_checks_the_architecture_first_and_ends_allow_then_deny(machine: str):
    code = [struct.unpack("=HBBI", chunk) for chunk in _chunks(seccomp.program(machine))]
    assert code[0] == (0x20, 0, 0, 4)  # load the architecture
    assert code[1][0] == 0x15 and code[1][2] == len(code) - 3  # not ours: straight to the denial
    assert code[-2] == (0x06, 0, 0, 0x7FFF0000) and code[-1] == (0x06, 0, 0, 0x00050001)
    for index, (operation, jump_true, _, _) in enumerate(code[3:-2], start=3):
        assert index + 1 + jump_true == len(code) - 1, operation  # every match jumps to the denial


def test_an_unknown_architecture_has_no_filter():
    assert not seccomp.supported("riscv64") and seccomp.supported("x86_64")


def _chunks(data: bytes) -> list[bytes]:
    return [data[offset : offset + 8] for offset in range(0, len(data), 8)]
