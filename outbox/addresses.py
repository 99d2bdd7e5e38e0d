"""Which hosts a webhook may reach: the guard against server-side request forgery.

An organization names the URL; the worker POSTs to it and keeps the start of the reply, which
the organization reads back. Without a guard that is a window onto whatever the worker's
network reaches: the cloud's metadata service, the database, admin ports on 127.0.0.1.

The guard runs twice:

- at registration, on the URL as written (`check_url`): an address in any spelling the
  C library accepts (`2130706433`, `0x7f000001`, `0177.0.0.1`, `127.1`, `[::ffff:127.0.0.1]`)
  is read as the address it is and refused if it is loopback, private, link-local, multicast,
  reserved, unspecified or otherwise not public; names that are internal by their form
  (`localhost`, `*.internal`, a single label the resolver completes from its search list)
  are refused too. No name is resolved here: that would be a network call inside the
  caller's transaction, and the answer may change anyway.
- at connect time (`resolve_checked`): the name is resolved, every address it resolves to is
  checked the same way, and the connection is made to a checked address (so a second answer
  from the DNS, rebinding the name to 127.0.0.1, is never used).

An explicit allow-list of networks (`LIVENTIX_WEBHOOK_ALLOW`, off by default) lets the demo,
the tests and the benchmarks deliver to a receiver on 127.0.0.1. Names are never allowed by
it: only addresses.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

from outbox.errors import InvalidEndpoint, TargetRefused

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
AllowList = tuple[Network, ...]
Resolver = Callable[[str, int], Sequence[str]]
"""resolver(host, port) -> the addresses the host resolves to, as strings."""

NO_ALLOW: AllowList = ()

# Names whose form says they are internal. The resolver would complete a single label from
# its search list (`metadata`, `db`), which is internal by construction.
_INTERNAL_SUFFIXES = (
    "localhost",
    "local",
    "localdomain",
    "internal",
    "intranet",
    "private",
    "corp",
    "home",
    "lan",
    "home.arpa",
    "in-addr.arpa",
    "ip6.arpa",
)
_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
# What inet_aton may read as an IPv4 address: digits, hex digits, `x` and dots. Anything it
# accepts is an address to the C library, whatever it looks like to a person.
_NUMERIC = re.compile(r"[0-9a-fx.]+")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class Target:
    """Where a URL sends a request: scheme, the host as sent on the wire (ASCII), port, and
    the request target (path and query)."""

    scheme: str
    host: str
    port: int
    path: str


def parse_allow(spec: str | Iterable[str]) -> AllowList:
    """Networks from a comma-separated list of CIDRs (`127.0.0.1/32,::1/128`); an address
    alone is its own network. Raises ValueError on anything else."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    networks: list[Network] = []
    for item in items:
        cidr = item.strip()
        if cidr:
            networks.append(ipaddress.ip_network(cidr, strict=False))
    return tuple(networks)


def parse_target(url: str) -> Target:
    """The URL's target as the sender will use it; InvalidEndpoint if it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # "Invalid IPv6 URL", a port out of range
        raise InvalidEndpoint(reason=f"the URL cannot be parsed: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidEndpoint(reason="the URL must be absolute http(s)")
    host = _wire_host(parts.hostname)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port or (443 if parts.scheme == "https" else 80), path)


def _wire_host(hostname: str) -> str:
    if ":" in hostname:  # an IPv6 literal (urlsplit took its brackets off)
        if _address(hostname) is None:
            raise InvalidEndpoint(reason=f"{hostname!r} is not an IPv6 address")
        return hostname
    try:
        ascii_host = hostname if hostname.isascii() else idna.encode(hostname, uts46=True).decode()
        for label in ascii_host.rstrip(".").split("."):
            if label.startswith("xn--"):
                idna.decode(label)
    except (idna.IDNAError, UnicodeError, ValueError) as exc:
        raise InvalidEndpoint(reason=f"the host is not a valid name: {exc}") from exc
    ascii_host = ascii_host.lower()
    if not _NAME.fullmatch(ascii_host.rstrip(".")):
        raise InvalidEndpoint(reason=f"the host {ascii_host!r} is not a valid name")
    return ascii_host


def _address(host: str) -> Address | None:
    """The address `host` denotes by itself (no resolving), in any spelling; else None."""
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    if _NUMERIC.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to: mapped (`::ffff:a.b.c.d`), NAT64, 6to4."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _allowed(address: Address, allow: AllowList) -> bool:
    return any(address.version == n.version and address in n for n in allow)


def _what(address: Address) -> str | None:
    """Why `address` is not a public one, or None if it is."""
    for flag, label in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(address, flag):
            return label
    if not address.is_global:
        return "not a public address"
    return None


def refusal(address: Address, allow: AllowList = NO_ALLOW) -> str | None:
    """Why a webhook may not go to `address`, or None if it may."""
    if _allowed(address, allow):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None:
            if _allowed(inner, allow):
                return None
            what = _what(inner)
            # The IPv6 flags say "reserved" for every mapped address: the IPv4 one decides.
            return None if what is None else f"{address} (which leads to {inner}), {what}"
    what = _what(address)
    return None if what is None else f"{address}, {what}"


def _name_refusal(host: str) -> str | None:
    name = host.rstrip(".")
    for suffix in _INTERNAL_SUFFIXES:
        if name == suffix or name.endswith("." + suffix):
            return f"{name!r} is an internal name (.{suffix})"
    if "." not in name:
        return f"{name!r} is a single-label name, completed by the resolver's search list"
    last = name.rsplit(".", 1)[1]
    if _NUMERIC.fullmatch(last) and (last.isdigit() or last.startswith("0x")):
        return f"{name!r} looks like an IPv4 address but is not one"
    return None


def check_url(url: str, allow: AllowList = NO_ALLOW) -> Target:
    """The URL's target, if a webhook may be registered for it: an http(s) URL whose host is
    a public address or a name that is not internal by its form. Raises InvalidEndpoint (a
    malformed URL) or TargetRefused (an address or name inside)."""
    target = parse_target(url)
    address = _address(target.host)
    if address is not None:
        found = refusal(address, allow)
        reason = None if found is None else f"the host is {found}"
    else:
        reason = _name_refusal(target.host)
    if reason is not None:
        raise TargetRefused(reason=reason, host=target.host)
    return target


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to for a TCP connection, by the system's resolver."""
    return [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def resolve_checked(
    host: str, port: int, allow: AllowList = NO_ALLOW, resolver: Resolver = system_resolver
) -> list[Address]:
    """Every address `host` resolves to, each one checked: TargetRefused if any is refused
    (a name with one internal address is internal). Connect only to what this returns."""
    found: list[Address] = []
    for text in resolver(host, port):
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise TargetRefused(reason=f"{host!r} resolves to no address", host=host)
    for address in found:
        why = refusal(address, allow)
        if why is not None:
            named = _address(host) is None
            reason = f"{host!r} resolves to {why}" if named else f"the host is {why}"
            raise TargetRefused(reason=reason, host=host)
    return found
