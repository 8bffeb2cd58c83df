"""Where Saqshy may send a request: the one address policy of every outbound fetch.

Crawled content is hostile, and so is every URL it leads to: a page, a redirect, an image, a
sitemap entry or an outlink may point at the loopback interface, the cloud metadata service
(169.254.169.254) or the operator's intranet. Outbound requests (the crawler, takedown re-checks,
source creation, the police webhook) therefore go only to public addresses, plus the ranges the
operator lists in ``SAQSHY_CRAWLER_ALLOWED_NETWORKS`` (tests, intranets).

The check is on the *resolved* address, never the URL's text: ``0x7f000001``, ``2130706433``,
``[::ffff:127.0.0.1]`` and a name that resolves to 10.0.0.1 are all 127.0.0.1 or 10.0.0.1 here,
and the fetchers connect to the address that was checked (so DNS rebinding cannot slip through).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from saqshy.errors import ErrorCode, InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 prefixes that carry an IPv4 address in their low 32 bits (NAT64, RFC 6052).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class AddressNotAllowed(InvalidInput):
    """A URL whose host is (or resolves to) an address outside the policy."""

    default_code = ErrorCode.ADDRESS_NOT_ALLOWED


class HostUnresolvable(InvalidInput):
    """A host name that does not resolve (now): nothing to check, nothing to connect to."""

    default_code = ErrorCode.HOST_UNRESOLVABLE


class CredentialsInUrl(InvalidInput):
    """A URL that carries a user name or password (``user:secret@host``)."""

    default_code = ErrorCode.URL_CREDENTIALS


def parse_networks(value: str | Iterable[str]) -> tuple[Network, ...]:
    """``"127.0.0.0/8, 10.1.0.0/16"`` (or a list of ranges) as networks; ValueError names a bad one."""
    items = value.split(",") if isinstance(value, str) else value
    networks: list[Network] = []
    for item in items:
        text = item.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"not a CIDR range: {text!r} (e.g. 127.0.0.0/8 or fd00::/8)") from None
    return tuple(networks)


def parse_address(text: str) -> Address:
    """An address as a resolver returns it (an IPv6 zone such as ``fe80::1%eth0`` dropped)."""
    return ipaddress.ip_address(text.split("%", 1)[0])


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, 6to4, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: Address) -> bool:
    """Globally routable unicast, for the address and any IPv4 address it embeds."""
    inner = embedded_ipv4(address)
    if inner is not None and not is_public(inner):
        return False
    return address.is_global and not address.is_multicast


def host_literal(host: str) -> Address | None:
    """The address a host *is*, without DNS: ``127.0.0.1``, ``::1``, and the old numeric spellings
    ``2130706433``, ``0x7f000001``, ``127.1`` that the C library accepts; None for a name."""
    text = host.strip("[]")
    try:
        return parse_address(text)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(text))
    except (OSError, ValueError):
        return None


def _spells(host: str, address: str) -> bool:
    """Whether ``host`` is ``address`` in a standard spelling (not a numeric one like 2130706433)."""
    try:
        return ipaddress.ip_address(host.strip("[]")) == parse_address(address)
    except ValueError:
        return False


def resolve_host(host: str) -> list[str]:
    """The addresses ``host`` resolves to: the OS resolver step (tests replace only this)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class AddressPolicy:
    """Public addresses, plus the listed ranges."""

    allowed: tuple[Network, ...] = ()

    @classmethod
    def of(cls, allowed_networks: str) -> AddressPolicy:
        return cls(parse_networks(allowed_networks))

    def permits(self, address: Address | str) -> bool:
        value = parse_address(address) if isinstance(address, str) else address
        candidates = [value]
        inner = embedded_ipv4(value)
        if inner is not None:
            candidates.append(inner)
        if any(candidate in network for candidate in candidates for network in self.allowed):
            return True
        return is_public(value)

    def refusal(self, host: str, addresses: Iterable[str]) -> str | None:
        """Why ``host`` must not be fetched at these addresses (None: every one is permitted)."""
        for address in addresses:
            try:
                permitted = self.permits(address)
            except ValueError:
                return f"{host} resolves to {address!r}, which is not an IP address"
            if not permitted:
                shown = host if _spells(host, address) else f"{host} resolves to {address}, which"
                return f"{shown} is not a public address (allow its range in SAQSHY_CRAWLER_ALLOWED_NETWORKS)"
        return None

    def check_url(self, url: str, *, unresolvable_ok: bool = False) -> list[str]:
        """``check_host`` for the URL's host."""
        return self.check_host(urlsplit(url).hostname or "", unresolvable_ok=unresolvable_ok)

    def check_host(self, host: str, *, unresolvable_ok: bool = False) -> list[str]:
        """Resolve ``host`` and return its addresses; AddressNotAllowed if one is outside the policy.

        An address literal (in any spelling) is checked as it is, without DNS. A name that does
        not resolve is refused too, unless ``unresolvable_ok`` (then no address is returned).
        """
        if not host:
            raise AddressNotAllowed("refused: the URL names no host")
        literal = host_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = resolve_host(host)
            except (OSError, UnicodeError) as exc:
                if unresolvable_ok:
                    return []
                raise HostUnresolvable(f"cannot resolve {host}: {exc}", host=host) from None
            if not addresses and not unresolvable_ok:
                raise HostUnresolvable(f"cannot resolve {host}: no address", host=host)
        reason = self.refusal(host, addresses)
        if reason is not None:
            raise AddressNotAllowed(f"refused: {reason}", host=host)
        return addresses


def refuse_credentials(url: str) -> None:
    """A URL with ``user:password@`` is refused, never stored or shown (the secret would leak)."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        host = parts.hostname or "?"
        raise CredentialsInUrl(
            f"the URL carries a user name or password before {host}: remove it (credentials are never stored)"
        )


def without_credentials(url: str) -> str:
    """The URL with any ``user:password@`` dropped: how a source stored before the refusal is shown."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


@dataclass(frozen=True)
class PinnedRequest:
    """Where one HTTP request really goes: the URL with its host replaced by the checked address,
    the name kept in the Host header and for TLS (SNI and the certificate check)."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


def pin_url(url: str, policy: AddressPolicy) -> PinnedRequest:
    """Resolve the URL's host once, refuse it outside the policy, and pin the request to the
    checked address. The name is never resolved again for this request, so a DNS answer that
    changes between the check and the connection (DNS rebinding) cannot reach a private address.
    InvalidInput (AddressNotAllowed, HostUnresolvable) says why the URL cannot be fetched. A user name or password
    in the URL is dropped, never sent."""
    parts = urlsplit(url)
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # a port that is not a number
        raise InvalidInput(f"not a valid URL: {exc}", code=ErrorCode.URL_INVALID) from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(f"not an http(s) URL: {url[:200]}", code=ErrorCode.URL_INVALID)
    address = policy.check_host(host)[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{port}" if port else literal
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return PinnedRequest(pinned, {"Host": parts.netloc.rpartition("@")[2]}, extensions)
