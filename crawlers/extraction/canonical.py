"""Canonical URLs: one spelling per document, so a recrawl and a repost collapse to one item."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url, safe_url_string, url_query_cleaner

# Click and campaign trackers: they change per visitor, never the document.
TRACKING_PARAMS = re.compile(
    r"^(utm_[a-z_]+|fbclid|gclid|dclid|gbraid|wbraid|yclid|ysclid|msclkid|igshid|mc_cid|mc_eid"
    r"|_openstat|_hsenc|_hsmi|mkt_tok|oly_anon_id|oly_enc_id|vero_id|rb_clickid|s_cid|ref_src)$",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _strip_tracking(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    names = {pair.split("=", 1)[0] for pair in parts.query.split("&") if pair}
    drop = [name for name in names if TRACKING_PARAMS.match(name)]
    if not drop:
        return url
    return url_query_cleaner(url, drop, remove=True, keep_fragments=True)


def canonical_url(url: str) -> str:
    """Tracking parameters stripped, query sorted, fragment dropped, host lowercased, no default port."""
    url = _strip_tracking(safe_url_string(url.strip()))
    url = canonicalize_url(url, keep_fragments=False)
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.port is not None and _DEFAULT_PORTS.get(parts.scheme) == parts.port:
        netloc = netloc.rsplit(":", 1)[0]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def _site(host: str) -> str:
    host = host.lower()
    return host[4:] if host.startswith("www.") else host


def page_canonical_url(response_url: str, rel_canonical: str | None) -> str:
    """The page's canonical URL: its ``rel=canonical`` when that points to the same site.

    A page may not claim another site's URL as its canonical: that would let hostile content
    overwrite another site's item in the store.
    """
    if rel_canonical:
        candidate = urljoin(response_url, rel_canonical.strip())
        target, own = urlsplit(candidate), urlsplit(response_url)
        if target.scheme in ("http", "https") and _site(target.hostname or "") == _site(own.hostname or ""):
            return canonical_url(candidate)
    return canonical_url(response_url)


@lru_cache(maxsize=4096)
def _netloc_site(netloc: str) -> str:
    return _site(urlsplit(f"//{netloc}").hostname or "")


def host_of(url: str) -> str:
    """The URL's host, lowercased, ``www.`` dropped (what "the same site" compares)."""
    # Called for every link of every page: an http(s) URL's netloc is cut out with str methods
    # and its host looked up per netloc; anything else goes through urlsplit.
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("http", "https"):
        end = len(rest)
        for delimiter in "/?#":
            found = rest.find(delimiter, 0, end)
            if found >= 0:
                end = found
        return _netloc_site(rest[:end])
    return _site(urlsplit(url).hostname or "")
