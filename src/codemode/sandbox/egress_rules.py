"""What a sandbox with the network off may still reach: the ``--allow-host`` entries and the address policy.

An entry is ``NAME[:PORT]``: a host name (``api.example.com``), a suffix pattern
(``*.example.com``: every name under it, not the name itself) or an IP literal
(``203.0.113.7``, ``[2001:db8::1]``). Without a port it allows 443 and 80. Names
match exactly, case-insensitively. A name resolves on the host, and only to
public addresses: loopback, private, link-local (cloud metadata), multicast and
unspecified addresses are reached only through an entry that is that IP literal
itself, so a name that resolves (or is made to resolve) inward gets nowhere.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = (443, 80)
_NAME = re.compile(r"^(?=.{1,253}\Z)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\Z")


@dataclass(frozen=True)
class HostRule:
    """One ``--allow-host`` entry, parsed."""

    host: str
    """A lower-case name, a ``*.suffix`` pattern, or an IP literal in its normal form."""
    ports: tuple[int, ...]

    @property
    def address(self) -> IPAddress | None:
        """The IP literal this entry names, if it names one."""
        return ip_literal(self.host)

    def matches(self, host: str, port: int) -> bool:
        """Whether ``host`` (as :func:`normal_host` gives it) and ``port`` are what this entry allows."""
        if port not in self.ports:
            return False
        if self.host.startswith("*."):
            return host.endswith(self.host[1:]) and ip_literal(host) is None
        return host == self.host

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.ports == DEFAULT_PORTS else f"{host}:{self.ports[0]}"


def parse_rule(entry: str) -> HostRule:
    """An entry as a rule; ``ValueError`` saying what a valid entry looks like."""
    host, port = split_authority(entry.strip())
    if host is None:
        raise ValueError(_bad_entry(entry))
    wildcard = host.startswith("*.")
    name = normal_host(host[2:] if wildcard else host)
    if name is None or (wildcard and ip_literal(name) is not None):
        raise ValueError(_bad_entry(entry))
    if port is None:
        return HostRule(f"*.{name}" if wildcard else name, DEFAULT_PORTS)
    if not (port.isascii() and port.isdigit()):
        raise ValueError(_bad_entry(entry))
    number = port_number(port)
    if number is None:
        raise ValueError(f"--allow-host {entry!r}: the port must be a number from 1 to 65535")
    return HostRule(f"*.{name}" if wildcard else name, (number,))


def port_number(port: str) -> int | None:
    """``port`` as a number from 1 to 65535; None for anything else (signs, spaces, other digits, 99999)."""
    if not (port.isascii() and port.isdigit() and len(port) <= 5):
        return None
    number = int(port)
    return number if 0 < number < 65536 else None


def _bad_entry(entry: str) -> str:
    return (
        f"--allow-host {entry!r} is not NAME[:PORT]: give a host name (api.example.com), a suffix pattern "
        "(*.example.com) or an IP address ([2001:db8::1] with a port), optionally with :PORT"
    )


def split_authority(text: str) -> tuple[str | None, str | None]:
    """``host:port``, ``[v6]:port``, ``host`` or a bare IPv6 address as (host, port or None); host None if malformed."""
    if text.startswith("["):
        end = text.find("]")
        rest = text[end + 1 :] if end > 0 else ""
        if end < 0 or (rest and not rest.startswith(":")):
            return None, None
        return text[1:end], rest[1:] if rest else None
    if text.count(":") > 1:  # an IPv6 address without brackets has no port
        return text, None
    host, colon, port = text.partition(":")
    return host, port if colon else None


def normal_host(host: str) -> str | None:
    """A requested or listed host as rules compare it (lower case, no trailing dot); None if it is not a host."""
    address = ip_literal(host)
    if address is not None:
        return str(address)
    name = host.lower().rstrip(".")
    return name if _NAME.match(name) else None


def ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_public(address: IPAddress) -> bool:
    """Whether a name may lead to ``address``: not loopback, private, link-local, multicast or unspecified.

    An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4, the old compatible form) is
    judged by that IPv4 address: a NAT64 gateway would translate ``64:ff9b::a9fe:a9fe`` to the
    metadata address. Teredo and local-use NAT64 prefixes are never public here.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address in _TEREDO or address in _LOCAL_NAT64:
            return False
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and (address in _NAT64 or address in _COMPATIBLE):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            address = embedded
    return address.is_global and not address.is_multicast


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_COMPATIBLE = ipaddress.IPv6Network("::/96")


def allowing(rules: tuple[HostRule, ...], host: str, port: int) -> HostRule | None:
    """The first rule that allows ``host:port``, if one does."""
    return next((rule for rule in rules if rule.matches(host, port)), None)
