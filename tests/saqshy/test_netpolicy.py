"""The outbound address policy: what counts as public, allowed ranges, spellings, credentials."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from saqshy import netpolicy
from saqshy.netpolicy import (
    AddressNotAllowed,
    AddressPolicy,
    CredentialsInUrl,
    HostUnresolvable,
    host_literal,
    parse_networks,
)
from saqshy.settings import Settings

PUBLIC = AddressPolicy()


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",  # multicast is "global" to ipaddress, never a web server
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1%eth0",
        "fd00::1",
        "::ffff:127.0.0.1",  # IPv4-mapped
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
        "ff02::1",
    ],
)
def test_private_special_and_wrapped_addresses_are_refused(address: str) -> None:
    assert not PUBLIC.permits(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_are_permitted(address: str) -> None:
    assert PUBLIC.permits(address)


def test_allowed_networks_open_listed_ranges_only() -> None:
    policy = AddressPolicy.of("127.0.0.0/8, 10.1.0.0/16")
    assert policy.permits("127.0.0.1") and policy.permits("10.1.200.3")
    assert policy.permits("::ffff:127.0.0.1")  # the mapped spelling of an allowed address
    assert not policy.permits("10.2.0.1") and not policy.permits("169.254.169.254") and not policy.permits("::1")


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("example.org", None),
        ("localhost", None),
    ],
)
def test_numeric_spellings_are_address_literals(host: str, address: str | None) -> None:
    literal = host_literal(host)
    assert (str(literal) if literal else None) == address


@pytest.mark.parametrize("host", ["2130706433", "0x7f000001", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254"])
def test_check_host_refuses_literals_without_dns(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netpolicy, "resolve_host", lambda name: pytest.fail(f"DNS asked for {name}"))
    with pytest.raises(AddressNotAllowed, match="not a public address"):
        PUBLIC.check_host(host)


def test_check_host_refuses_a_name_with_any_private_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netpolicy, "resolve_host", lambda name: ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(AddressNotAllowed, match=r"intranet\.test resolves to 10\.0\.0\.7"):
        PUBLIC.check_host("intranet.test")
    monkeypatch.setattr(netpolicy, "resolve_host", lambda name: ["93.184.216.34"])
    assert PUBLIC.check_host("www.test") == ["93.184.216.34"]


def test_unresolvable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(name: str) -> list[str]:
        raise OSError("Name or service not known")

    monkeypatch.setattr(netpolicy, "resolve_host", fail)
    with pytest.raises(HostUnresolvable, match="cannot resolve"):
        PUBLIC.check_host("gone.test")
    assert PUBLIC.check_host("gone.test", unresolvable_ok=True) == []


def test_pin_url_connects_to_the_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netpolicy, "resolve_host", lambda name: ["93.184.216.34"])
    pinned = netpolicy.pin_url("https://user:pw@www.test:8443/a?b=1#frag", PUBLIC)
    assert pinned.url == "https://93.184.216.34:8443/a?b=1"
    assert pinned.headers == {"Host": "www.test:8443"} and pinned.extensions == {"sni_hostname": "www.test"}


@pytest.mark.parametrize(
    "url", ["https://user:secret@example.org/", "https://user@example.org/", "http://:secret@example.org/"]
)
def test_credentials_in_urls_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(CredentialsInUrl) as refused:
        netpolicy.refuse_credentials(url)
    assert "secret" not in str(refused.value) and "example.org" in str(refused.value)


def test_allowed_networks_setting_is_validated() -> None:
    assert parse_networks(" 127.0.0.1/8 ,, fd00::/8 ") == parse_networks(["127.0.0.0/8", "fd00::/8"])
    settings = Settings(_env_file=None, crawler_allowed_networks="10.1.0.0/16, 127.0.0.1")  # type: ignore[call-arg]
    assert settings.crawler_allowed_networks == "10.1.0.0/16,127.0.0.1/32"
    assert settings.address_policy.permits("10.1.2.3")
    assert Settings(_env_file=None).address_policy == AddressPolicy()  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="not a CIDR range: 'intranet'"):
        Settings(_env_file=None, crawler_allowed_networks="intranet")  # type: ignore[call-arg]


def test_without_credentials() -> None:
    assert netpolicy.without_credentials("https://user:pw@example.org:8443/a?b#c") == "https://example.org:8443/a?b#c"
    assert netpolicy.without_credentials("https://example.org/") == "https://example.org/"
