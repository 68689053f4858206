"""URL safety: refuse URLs that would make the server fetch from its own network.

Editors paste URLs (web and CLI); fetching them from the server must not let
anyone probe loopback services, cloud metadata endpoints (169.254.169.254)
or the private network (server-side request forgery). Every address a host
name resolves to is checked; one private address is enough to refuse.
Profiles that read from a local network (and the tests, on loopback) allow
it explicitly.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit


class UnsafeURL(ValueError):
    """The URL is malformed, not http(s), or resolves to a non-public address."""


class UnresolvedHost(UnsafeURL):
    """The host name does not resolve now (offline, or a typo): nothing is known about its addresses.

    Callers that only register a URL for later fetching may accept it: the
    fetcher checks the address it actually connects to on every request.
    """


def is_public_address(address: str) -> bool:
    """Whether an IP address (string, IPv6 zone allowed) is public: the one rule for every check.

    The fetcher's connection backend applies it to the address it actually
    connects to (DNS rebinding); ``check_url`` to every address a name resolves to.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified)


_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NOT_FOUND = {getattr(socket, name) for name in ("EAI_NONAME", "EAI_AGAIN", "EAI_FAIL", "EAI_NODATA")
              if hasattr(socket, name)}


def _well_formed(host: str) -> bool:
    """A host name of DNS labels (after IDNA), or an IP literal."""
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.rstrip(".").encode("idna").decode("ascii").lower()
        ascii_host.encode("ascii").decode("idna")  # an "xn--" label must be valid punycode too
    except UnicodeError:
        return False
    labels = ascii_host.split(".")
    return (0 < len(ascii_host) <= 253 and all(_LABEL.match(label) for label in labels)
            and not labels[-1].isdigit())  # 256.1.1.1 is no address, and no name has a numeric top level


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (a literal address resolves to itself).

    :class:`UnresolvedHost` only when a well-formed name is not found now
    (offline, or not yet in DNS); a malformed name is :class:`UnsafeURL`.
    """
    if not _well_formed(host):
        raise UnsafeURL(f"{host!r} is not a valid host name")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        error = UnresolvedHost if exc.errno in _NOT_FOUND else UnsafeURL
        raise error(f"cannot resolve host {host!r}: {exc.strerror or exc}") from None
    except UnicodeError as exc:
        raise UnsafeURL(f"{host!r} is not a valid host name ({exc})") from None
    return sorted({info[4][0] for info in infos})


def check_url(url: str, allow_private: bool = False) -> str:
    """Return ``url`` when it is an http(s) URL that is safe to fetch, else raise :class:`UnsafeURL`."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"{url!r} is not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeURL(f"{url!r} is not an http(s) URL")
    host = parts.hostname
    if not host:
        raise UnsafeURL(f"{url!r} has no host")
    if parts.username or parts.password:
        raise UnsafeURL(f"{url!r} carries a user name or password; paste the plain URL")
    if allow_private:
        return url.strip()
    port = port or (443 if parts.scheme.lower() == "https" else 80)
    for address in resolve(host, port):
        if not is_public_address(address):
            raise UnsafeURL(f"{url!r} resolves to {address}, a private, loopback or link-local address "
                            "(allow it with allow_private_addresses in the profile's [fetch] section)")
    return url.strip()
