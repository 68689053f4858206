"""URL canonicalisation, so one article is stored once whatever link led to it."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that only track the click, never select content.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "msclkid", "mc_cid", "mc_eid", "igshid",
        "yclid", "_ga", "_gl", "ref", "ref_src", "cmpid", "ncid", "ocid",
        "smid", "smtyp", "mod", "taid", "cid", "guccounter", "sr_share",
        "at_medium", "at_campaign", "rss", "feed", "CMP", "spm", "share",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "ga_")
DEFAULT_PORTS = {"http": 80, "https": 443}


class BadURL(ValueError):
    """A URL that cannot be taken apart (``http://[::1``)."""


def _is_tracking(name: str) -> bool:
    lower = name.lower()
    return lower in {p.lower() for p in TRACKING_PARAMS} or lower.startswith(TRACKING_PREFIXES)


def canonicalise(url: str) -> str:
    """Return the canonical form of ``url`` used as the article's identity.

    ``http`` and ``https`` collapse to ``https``; host is lower-cased and a
    leading ``www.`` kept (sites differ) but default ports dropped; tracking
    parameters, fragments and trailing slashes go; remaining query
    parameters are sorted. Non-HTTP URLs (``file:``) keep their path.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError as exc:
        raise BadURL(f"url {url[:120]!r} is not a valid address ({exc})") from None
    if not host:
        raise BadURL(f"url {url[:120]!r} has no host")
    netloc = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    path = parts.path or "/"
    while "//" in path:
        path = path.replace("//", "/")
    if len(path) > 1:
        path = path.rstrip("/")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    query.sort()
    return urlunsplit(("https", netloc, path, urlencode(query, doseq=True), ""))


def host_of(url: str) -> str:
    """The host of ``url`` without ``www.`` (used to name unnamed outlets)."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
    return host[4:] if host.startswith("www.") else host
