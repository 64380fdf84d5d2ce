"""Who a client is, for the per-address limits: the key its connections and requests count under.

An IPv4 address counts as itself. An IPv6 address counts by its /64: the interface half of an
IPv6 address is the host's to choose (RFC 4291 section 2.5.1; privacy addresses, RFC 8981, change
it all the time), so one client may use any of 2^64 addresses, but not another /64.

Loopback clients have no key unless `limit_loopback` is set: behind a reverse proxy on the same
machine every request comes from loopback, and limiting "the proxy" would limit everyone at once.
"""

from __future__ import annotations

import functools
import ipaddress

IPV6_PREFIX = 64  # bits of an IPv6 address that name the client's network


@functools.lru_cache(maxsize=4096)  # the rate limit asks once per request; the cache is bounded
def client_key(host: str | None, limit_loopback: bool = False) -> str | None:
    """The key `host`'s connections and requests count under; None if no per-address limit
    applies to it (loopback unless `limit_loopback`, or not an IP address at all)."""
    if host is None:
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # e.g. the path of a Unix socket
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d
    if address.is_loopback and not limit_loopback:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    network = int(address) >> (128 - IPV6_PREFIX) << (128 - IPV6_PREFIX)
    return f"{ipaddress.IPv6Address(network)}/{IPV6_PREFIX}"
