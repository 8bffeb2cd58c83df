"""The address policy (``saqshy.netpolicy``) at connection time, for every request of a crawl.

Two parts, both on by default (``crawlers.settings``):

- ``PolicyResolver``, the reactor's name resolver (Scrapy's ``TWISTED_DNS_RESOLVER``): every
  connection the crawl opens (pages, redirects, robots.txt, sitemaps, images) looks its host up
  here, and a host that resolves to any address outside the policy gets no address at all, so
  Twisted connects only to addresses that were checked. Each connection resolves again and is
  checked again: a name that answers public first and private later (DNS rebinding) is refused
  the second time.
- ``AddressPolicyMiddleware`` refuses address literals in any spelling (``127.0.0.1``, ``[::1]``,
  ``2130706433``, ``0x7f000001``) before anything is sent, and turns a resolver refusal into an
  ``AddressRefused`` error: logged, and counted as ``errors/address_refused`` in the crawl summary.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from typing import Any, Self

from scrapy import Request, Spider
from scrapy.crawler import Crawler
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.statscollectors import StatsCollector
from scrapy.utils.datatypes import LocalCache
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import DNSLookupError
from twisted.internet.interfaces import IAddress, IHostnameResolver, IHostResolution
from twisted.internet.threads import deferToThreadPool
from twisted.python.failure import Failure
from zope.interface import implementer

from crawlers.progress import count_error
from saqshy import netpolicy
from saqshy.netpolicy import AddressPolicy, host_literal
from saqshy.settings import Settings, get_settings

logger = logging.getLogger(__name__)

ERROR_KIND = "address_refused"

# Host -> why the resolver last refused it: the middleware reports the reason, because Twisted
# turns an empty answer into a plain "no results for hostname lookup".
refusals: LocalCache[str, str] = LocalCache(10_000)


class AddressRefused(IgnoreRequest):
    """A request to an address outside the policy: never sent."""


def policy_of(scrapy_settings: Any) -> AddressPolicy:
    value = scrapy_settings.get("SAQSHY_SETTINGS")
    return (value if isinstance(value, Settings) else get_settings()).address_policy


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:  # lookups run to their end in a thread; nothing to cancel
        pass


@implementer(IHostnameResolver)
class PolicyResolver:
    """Resolves in the reactor's thread pool and hands Twisted only addresses the policy permits."""

    def __init__(self, reactor: Any, policy: AddressPolicy) -> None:
        self.reactor = reactor
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Crawler, reactor: Any) -> Self:
        return cls(reactor, policy_of(crawler.settings))

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    # The receiver is an IResolutionReceiver: a zope interface, which mypy cannot check (Any).
    def resolveHostName(
        self,
        resolutionReceiver: Any,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> _Resolution:
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        lookup = deferToThreadPool(self.reactor, self.reactor.getThreadPool(), _lookup, hostName)
        lookup.addCallback(self._deliver, resolutionReceiver, hostName, portNumber, addressTypes)
        lookup.addErrback(_log_failure, hostName)
        lookup.addBoth(_complete, resolutionReceiver)
        return resolution

    def _deliver(
        self,
        addresses: list[str],
        receiver: Any,
        host: str,
        port: int,
        types: Sequence[type[IAddress]] | None,
    ) -> None:
        reason = self.policy.refusal(host, addresses)
        if reason is not None:
            refusals[host.lower()] = reason
            return
        refusals.pop(host.lower(), None)
        for text in addresses:
            address = netpolicy.parse_address(text)
            kind = IPv6Address if isinstance(address, ipaddress.IPv6Address) else IPv4Address
            if types is None or kind in types:
                receiver.addressResolved(kind("TCP", str(address), port))


def _log_failure(failure: Failure, host: str) -> None:
    logger.error("resolving %s failed: %s", host, failure.value)


def _complete(_result: object, receiver: Any) -> None:
    receiver.resolutionComplete()


def _lookup(host: str) -> list[str]:
    """Thread-pool side: the OS resolver (``netpolicy.resolve_host``, the seam tests replace)."""
    try:
        return netpolicy.resolve_host(host)
    except (OSError, UnicodeError):
        return []


class AddressPolicyMiddleware:
    """Refuses, counts and logs requests to addresses outside the policy (see the module docstring)."""

    def __init__(self, stats: StatsCollector, policy: AddressPolicy) -> None:
        self.stats = stats
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        assert crawler.stats is not None
        return cls(crawler.stats, policy_of(crawler.settings))

    def process_request(self, request: Request, spider: Spider | None = None) -> None:
        from twisted.internet import reactor

        if not isinstance(getattr(reactor, "nameResolver", None), PolicyResolver):
            # Fail closed: without the resolver, a name could lead anywhere.
            self._refuse(request, "the crawl's address-checking resolver is not installed")
        host = urlparse_cached(request).hostname or ""
        literal = host_literal(host)
        if literal is not None and not self.policy.permits(literal):
            self._refuse(request, self.policy.refusal(host, [str(literal)]) or host)

    def process_exception(self, request: Request, exception: Exception, spider: Spider | None = None) -> None:
        if isinstance(exception, CannotResolveHostError | DNSLookupError):
            reason = refusals.get((urlparse_cached(request).hostname or "").lower())
            if reason is not None:
                self._refuse(request, reason)

    def _refuse(self, request: Request, reason: str) -> None:
        if request.meta.get("dont_obey_robotstxt") and not request.meta.get("redirect_urls"):
            # robots.txt fetched for a request to the same host: that request's refusal is the one counted.
            logger.debug("refused %s: %s", request.url, reason)
        else:
            count_error(self.stats, ERROR_KIND)
            logger.warning("refused %s: %s", request.url, reason)
        raise AddressRefused(f"refused: {reason}")
