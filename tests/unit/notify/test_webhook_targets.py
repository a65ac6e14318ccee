"""The webhook target guard over every encoding of a non-public address, names that resolve to one,
and the operator's allowance for private targets. Resolution is real (numeric forms, ``localhost``,
/etc/hosts) except where a test makes a name resolve by patching ``socket.getaddrinfo``."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

import pytest

from lorapipe.services.webhook_targets import TargetRefusedError, address_category, check_target

pytestmark = pytest.mark.unit

#: (url, category) — every form the hardening issue listed, and the categories around them.
NON_PUBLIC = [
    ("http://2130706433:8080/", "loopback"),
    ("http://0x7f000001/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://127.0.0.1/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[::ffff:7f00:1]/", "loopback"),
    ("http://[::127.0.0.1]/", "loopback"),
    ("http://[64:ff9b::127.0.0.1]/", "loopback"),
    ("http://[2002:7f00:1::]/", "loopback"),
    ("http://localhost/", "loopback"),
    ("http://LOCALHOST./", "loopback"),
    ("http://hooks.localhost/", "loopback"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://0/", "unspecified"),
    ("http://[::]/", "unspecified"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://2852039166/", "link-local"),
    ("http://0xa9fea9fe/", "link-local"),
    ("http://0251.0376.0251.0376/", "link-local"),
    ("http://169.254.43518/", "link-local"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fe80::1%25eth0]/", "link-local"),
    ("http://10.0.0.1/", "private"),
    ("http://10.255.255.255:9000/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://192.168.0.1/", "private"),
    ("http://[::ffff:192.168.0.1]/", "private"),
    ("http://[fd00::1]/", "private"),
    ("http://[fc00::1]/", "private"),
    ("http://100.64.0.1/", "shared"),
    ("http://224.0.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://255.255.255.255/", "reserved"),
    ("http://240.0.0.1/", "reserved"),
    ("http://192.0.2.1/", "reserved"),
    ("http://[2001:db8::1]/", "reserved"),
    ("http://[64:ff9b:1::1]/", "reserved"),
    ("http://[2001::1]/", "reserved"),
    ("http://[fe00::]/", "reserved"),
    ("http://[100::1]/", "reserved"),
]

MALFORMED = [
    "ftp://8.8.8.8/",
    "file:///etc/passwd",
    "http:///nohost",
    "http://[::1",
    "http://user:secret@8.8.8.8/",
    "http://8.8.8.8:0/",
    "http://8.8.8.8:65536/",
    "http://8.8.8.8:port/",
    "http://exa mple.com/",
    "http://example.com\\@8.8.8.8/",
    "http://8.8.8.8./",  # a trailing dot makes it resolver dialect, not an address
    "http://1.2.3.4.5/",
    "http://-bad-.example/",
    "http://" + "a" * 2100 + ".example/",
]


def _resolver(table: dict[str, list[str]]) -> Any:
    """A ``socket.getaddrinfo`` that answers from ``table`` and defers to the real one otherwise."""
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            return real(host, port, *args, **kwargs)
        answers = []
        for text in table[host]:
            if ":" in text:
                answers.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (text, port, 0, 0)))
            else:
                answers.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (text, port)))
        return answers

    return getaddrinfo


@pytest.mark.parametrize(("url", "category"), NON_PUBLIC)
def test_every_non_public_form_is_refused(url: str, category: str) -> None:
    with pytest.raises(TargetRefusedError) as refused:
        check_target(url)
    assert refused.value.param == "url"
    assert f" {category} address" in refused.value.message


@pytest.mark.parametrize("url", MALFORMED)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(TargetRefusedError) as refused:
        check_target(url)
    assert refused.value.param == "url"


def test_the_category_of_embedded_ipv4_forms_is_the_embedded_address() -> None:
    assert address_category(ipaddress.ip_address("::ffff:8.8.8.8")) is None
    assert address_category(ipaddress.ip_address("64:ff9b::8.8.8.8")) is None
    assert address_category(ipaddress.ip_address("2002:0808:0808::1")) is None
    assert address_category(ipaddress.ip_address("64:ff9b::10.0.0.1")) == "private"


def test_a_public_address_is_a_target_and_is_what_delivery_connects_to() -> None:
    target = check_target("https://8.8.8.8:8443/hook?x=1")
    assert (target.scheme, target.host, target.port, str(target.address)) == (
        "https",
        "8.8.8.8",
        8443,
        "8.8.8.8",
    )


def test_names_resolving_to_a_non_public_address_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {
        "metadata.google.internal": ["169.254.169.254"],
        "hooks.attacker.example": ["127.0.0.1"],
        "mixed.attacker.example": ["93.184.216.34", "10.1.2.3"],  # one private answer is enough
        "v6.attacker.example": ["::ffff:127.0.0.1"],
        "good.example": ["93.184.216.34", "2606:2800:220:1::1"],
    }
    monkeypatch.setattr(socket, "getaddrinfo", _resolver(table))
    for host, category in (
        ("metadata.google.internal", "link-local"),
        ("hooks.attacker.example", "loopback"),
        ("mixed.attacker.example", "private"),
        ("v6.attacker.example", "loopback"),
    ):
        with pytest.raises(TargetRefusedError) as refused:
            check_target(f"https://{host}/hook")
        assert f"{host} resolves to a {category} address" in refused.value.message
        assert "127.0.0.1" not in refused.value.message  # registration does not read out internal DNS
    target = check_target("https://good.example/hook")
    assert [str(a) for a in target.addresses] == ["93.184.216.34", "2606:2800:220:1::1"]
    assert str(target.address) == "93.184.216.34"


def test_names_that_do_not_resolve_are_refused() -> None:
    with pytest.raises(TargetRefusedError, match="does not resolve"):
        check_target("http://no-such-host.invalid/hook")


def test_hosts_file_names_are_judged_by_their_address() -> None:
    names = []
    for line in Path("/etc/hosts").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and address_category(ipaddress.ip_address(fields[0].split("%")[0])) is not None:
            names += [n for n in fields[1:] if n != "localhost"]
    if not names:
        pytest.skip("/etc/hosts names no non-public address other than localhost")
    for name in names:
        with pytest.raises(TargetRefusedError, match="resolves to"):
            check_target(f"http://{name}:8080/")


def test_allow_private_admits_loopback_and_private_but_never_metadata_or_unspecified() -> None:
    for url in (
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
        "http://localhost/",
    ):
        check_target(url, allow_private=True)
    for url in (
        "http://169.254.169.254/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://0177.0.0.1/",
    ):
        with pytest.raises(TargetRefusedError):
            check_target(url, allow_private=True)
