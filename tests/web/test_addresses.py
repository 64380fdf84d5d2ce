"""Client keys for the per-address limits: IPv4 by address, IPv6 by /64, loopback exempt unless asked."""

from __future__ import annotations

import pytest

from newsroom.web.addresses import client_key


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("fe80::1%eth0", "fe80::/64"),
    ],
)
def test_ipv4_counts_by_address_and_ipv6_by_its_64(host: str, key: str) -> None:
    """An IPv4 client is its address; any address in one IPv6 /64 is one client; mapped IPv4 is IPv4."""
    assert client_key(host) == key


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_exempt_unless_asked(host: str) -> None:
    """Loopback clients (a reverse proxy on the same machine) have no key unless limit_loopback is set."""
    assert client_key(host) is None
    assert client_key(host, limit_loopback=True) is not None


@pytest.mark.parametrize("host", [None, "/run/newsroom.sock", "not an address"])
def test_what_is_not_an_ip_address_has_no_key(host: str | None) -> None:
    """A Unix socket path or an unknown peer is not limited per address."""
    assert client_key(host, limit_loopback=True) is None
