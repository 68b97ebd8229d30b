"""A seccomp filter for sandboxed workers: system calls no session needs fail with ``EPERM``.

Namespaces decide what a worker can see; this decides which kernel entry points it
can reach at all. It denies what container runtimes deny by default and Python
code has no use for: kernel modules and keyrings, ``bpf``, ``perf_event_open``,
``userfaultfd``, ``io_uring``, mounting and namespace changes, reading other
processes' memory, clock and reboot controls. Everything else is allowed, so
ordinary code, pip-installed packages and ``subprocess`` are unaffected.

bubblewrap loads the filter (``--seccomp FD``) just before it runs the worker, and
every process the code starts inherits it. The program is classic BPF, assembled
here: it checks the architecture first (a 32-bit call from a 64-bit process is
another architecture, and denied), then the call's number.
"""

from __future__ import annotations

import errno
import functools
import platform
import struct

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6]
_NR_OFFSET, _ARCH_OFFSET = 0, 4
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_RET_ALLOW = 0x7FFF0000
_RET_EPERM = 0x00050000 | errno.EPERM
_X32_SYSCALL_BIT = 0x40000000

DENIED = (
    "acct", "add_key", "bpf", "clock_adjtime", "clock_settime", "delete_module", "finit_module", "fsconfig",
    "fsmount", "fsopen", "fspick", "init_module", "io_uring_enter", "io_uring_register", "io_uring_setup",
    "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load", "keyctl", "lookup_dcookie", "mount",
    "mount_setattr", "move_mount", "move_pages", "name_to_handle_at", "nfsservctl", "open_by_handle_at",
    "open_tree", "perf_event_open", "pivot_root", "process_vm_readv", "process_vm_writev", "quotactl",
    "quotactl_fd", "reboot", "request_key", "setns", "settimeofday", "swapoff", "swapon", "syslog", "umount2",
    "unshare", "userfaultfd", "vhangup",
)  # fmt: skip
"""The calls the filter denies (names as in the kernel's tables)."""

# Numbers from the kernel's uapi headers (asm/unistd_64.h; asm-generic/unistd.h for arm64), which never change.
_X86_64 = {
    "acct": 163, "add_key": 248, "bpf": 321, "clock_adjtime": 305, "clock_settime": 227, "delete_module": 176,
    "finit_module": 313, "fsconfig": 431, "fsmount": 432, "fsopen": 430, "fspick": 433, "init_module": 175,
    "io_uring_enter": 426, "io_uring_register": 427, "io_uring_setup": 425, "ioperm": 173, "iopl": 172,
    "kcmp": 312, "kexec_file_load": 320, "kexec_load": 246, "keyctl": 250, "lookup_dcookie": 212, "mount": 165,
    "mount_setattr": 442, "move_mount": 429, "move_pages": 279, "name_to_handle_at": 303, "nfsservctl": 180,
    "open_by_handle_at": 304, "open_tree": 428, "perf_event_open": 298, "pivot_root": 155,
    "process_vm_readv": 310, "process_vm_writev": 311, "quotactl": 179, "quotactl_fd": 443, "reboot": 169,
    "request_key": 249, "setns": 308, "settimeofday": 164, "swapoff": 168, "swapon": 167, "syslog": 103,
    "umount2": 166, "unshare": 272, "userfaultfd": 323, "vhangup": 153,
}  # fmt: skip
_AARCH64 = {
    "acct": 89, "add_key": 217, "bpf": 280, "clock_adjtime": 266, "clock_settime": 112, "delete_module": 106,
    "finit_module": 273, "fsconfig": 431, "fsmount": 432, "fsopen": 430, "fspick": 433, "init_module": 105,
    "io_uring_enter": 426, "io_uring_register": 427, "io_uring_setup": 425, "kcmp": 272, "kexec_file_load": 294,
    "kexec_load": 104, "keyctl": 219, "lookup_dcookie": 18, "mount": 40, "mount_setattr": 442, "move_mount": 429,
    "move_pages": 239, "name_to_handle_at": 264, "nfsservctl": 42, "open_by_handle_at": 265, "open_tree": 428,
    "perf_event_open": 241, "pivot_root": 41, "process_vm_readv": 270, "process_vm_writev": 271, "quotactl": 60,
    "quotactl_fd": 443, "reboot": 142, "request_key": 218, "setns": 268, "settimeofday": 170, "swapoff": 225,
    "swapon": 224, "syslog": 116, "umount2": 39, "unshare": 97, "userfaultfd": 282, "vhangup": 58,
}  # fmt: skip
_ARCHES = {"x86_64": (0xC000003E, _X86_64), "aarch64": (0xC00000B7, _AARCH64)}  # AUDIT_ARCH_*


def supported(machine: str | None = None) -> bool:
    """True if there is a filter for this machine's architecture (x86-64 and arm64)."""
    return (machine or platform.machine()) in _ARCHES


@functools.cache
def program(machine: str | None = None) -> bytes:
    """The filter as ``struct sock_filter[]`` bytes, what ``bwrap --seccomp FD`` reads from ``FD``."""
    arch, numbers = _ARCHES[machine or platform.machine()]
    denied = sorted({numbers[name] for name in DENIED if name in numbers})
    checks = [(_JEQ_K, number) for number in denied]
    if arch == _ARCHES["x86_64"][0]:
        checks.insert(0, (_JGE_K, _X32_SYSCALL_BIT))  # the x32 ABI: the same calls under other numbers
    # Layout: load arch, check it, load nr, one check per entry, allow, deny. Jumps count instructions skipped.
    deny = 3 + len(checks) + 1
    code = [
        (_LD_W_ABS, 0, 0, _ARCH_OFFSET),
        (_JEQ_K, 0, deny - 2, arch),
        (_LD_W_ABS, 0, 0, _NR_OFFSET),
    ]
    for index, (operation, value) in enumerate(checks):
        code.append((operation, deny - (3 + index) - 1, 0, value))
    code += [(_RET_K, 0, 0, _RET_ALLOW), (_RET_K, 0, 0, _RET_EPERM)]
    return b"".join(struct.pack("=HBBI", *instruction) for instruction in code)
