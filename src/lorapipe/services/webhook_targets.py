"""Where a webhook may be sent: a strict URL check, every resolved address checked, and a request that
connects to exactly the address that was checked.

A webhook URL is chosen by a user but fetched by the server, so without these checks it reaches
whatever the server can reach: loopback services, the private network, cloud metadata at
169.254.169.254. Three rules close that:

- The URL is parsed strictly (http/https, no credentials, a real port, a host that is a DNS name or an
  IP literal). IPv4 shorthands that resolvers accept but URL parsers read differently (``127.1``,
  ``0177.0.0.1``, ``2130706433``, ``0x7f000001``) are decoded the resolver's way and judged as the
  address they denote.
- Every address the host resolves to must be public (:func:`address_refusal`); IPv6 forms that embed
  an IPv4 address (mapped, compatible, NAT64, 6to4) are judged by the embedded address. One private
  answer refuses the whole host: a resolver may return them in any order.
- The request goes to the checked IP with the original ``Host`` header and TLS server name
  (:func:`send_pinned`), so a DNS answer that changes between the check and the connection (DNS
  rebinding) changes nothing.

``allow_private`` (``LORAPIPE_WEBHOOK_ALLOW_PRIVATE_TARGETS``, for self-hosting) admits loopback,
private and shared (CGNAT) addresses; link-local (where metadata services live), multicast,
unspecified and reserved addresses are refused even then.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from lorapipe.errors import UserError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
#: The generic reason a delivery log shows for a refused target (the category stays server-side).
REFUSED = "target refused: not a public address"
#: Refused always, whatever ``allow_private`` says.
NEVER = ("unspecified", "link-local", "multicast", "reserved")

_RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")  # Linux connects 0.x.y.z to the local host
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_V4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_ULA = ipaddress.IPv6Network("fc00::/7")
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
# A DNS label; the last one must not be all digits, or it is an IPv4 shorthand in disguise.
_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")


class TargetRefusedError(UserError):
    """The webhook URL is malformed or reaches a non-public address; ``param`` is ``url``."""

    code = "webhook_target_refused"


@dataclass(frozen=True)
class CheckedTarget:
    """A webhook URL whose every resolved address passed the check; ``address`` is the one to use."""

    url: str
    scheme: str
    #: Lower-case host name (IDNA) or IP literal without brackets: the Host header and TLS name.
    host: str
    port: int
    address: IPAddress
    addresses: tuple[IPAddress, ...]


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, translated, NAT64, 6to4, compatible)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _V4_TRANSLATED or (ip in _V4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_category(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (``loopback``, ``private``, ``shared``, ``link-local``,
    ``multicast``, ``unspecified``, ``reserved``), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "link-local"  # a zone only means something on this host's links
        embedded = _embedded_v4(ip)
        if embedded is not None:
            return address_category(embedded)
        checks = (
            ("unspecified", ip.is_unspecified),
            ("loopback", ip.is_loopback),
            ("link-local", ip.is_link_local),
            ("multicast", ip.is_multicast),
            ("private", ip in _ULA or ip.is_site_local),
            # Python's is_global has not always known these; say it explicitly. Unicast on the
            # internet is 2000::/3; the rest of the space is reserved.
            ("reserved", ip in _NAT64_LOCAL or ip in _TEREDO or ip not in _GLOBAL_UNICAST),
        )
    else:
        checks = (
            ("unspecified", ip in _THIS_NETWORK),
            ("loopback", ip.is_loopback),
            ("link-local", ip.is_link_local),
            ("multicast", ip.is_multicast),
            ("shared", ip in _SHARED),
            ("private", any(ip in net for net in _RFC1918)),
        )
    for category, hit in checks:
        if hit:
            return category
    return None if ip.is_global else "reserved"


def address_refusal(ip: IPAddress, *, allow_private: bool = False) -> str | None:
    """The category that refuses ``ip`` under this policy, or None when it may be a target."""
    category = address_category(ip)
    if category is None or (allow_private and category not in NEVER):
        return None
    return category


def _refuse(url: str, why: str) -> TargetRefusedError:
    return TargetRefusedError(f"url {url[:100]!r}: {why}", param="url")


def _refuse_address(url: str, subject: str, category: str) -> TargetRefusedError:
    """``subject`` is "<host> is" or "<name> resolves to": the address a name resolves to is not shown,
    so registration does not read out internal DNS."""
    article = "an" if category[0] in "aeiou" else "a"
    return TargetRefusedError(
        f"url {url[:100]!r}: {subject} {article} {category} address; webhooks go to public addresses only",
        param="url",
        hint="a self-hosted receiver on a private network needs LORAPIPE_WEBHOOK_ALLOW_PRIVATE_TARGETS=true",
    )


def _ipv4_shorthand(host: str) -> ipaddress.IPv4Address | None:
    """The address a resolver reads in ``host`` when it is an inet_aton form (``127.1``, octal, hex,
    one 32-bit number), else None."""
    if not re.fullmatch(r"[0-9a-fx.]+", host) or not host[:1].isdigit():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _parse(url: str) -> tuple[str, str, int, IPAddress | None]:
    """Scheme, host, port and (for an IP literal or shorthand) the address; refuses anything else."""
    if len(url) > MAX_URL_LENGTH or _UNSAFE_CHARS.search(url):
        raise _refuse(url, "not a well-formed URL (too long, spaces, control characters or backslashes)")
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:  # an out-of-range port, an unclosed "[" of an IPv6 literal
        raise _refuse(url, "not a well-formed http(s) URL") from None
    if scheme not in ("http", "https") or not host:
        raise _refuse(url, "not an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise _refuse(url, "credentials in the URL are not allowed; verify the signature instead")
    if port == 0:
        raise _refuse(url, "port 0 is not a port")
    port = port or (443 if scheme == "https" else 80)
    if "[" in parts.netloc:
        try:
            return scheme, host, port, ipaddress.IPv6Address(host)
        except ValueError:
            raise _refuse(url, "not a valid IPv6 literal") from None
    shorthand = _ipv4_shorthand(host.rstrip("."))
    if shorthand is not None:
        return scheme, host, port, shorthand
    try:
        # The delivery client's own encoding, so the name resolved is the name sent in Host and SNI.
        ascii_host = httpx.URL(url).raw_host.decode("ascii").rstrip(".")
    except (httpx.InvalidURL, UnicodeError):
        raise _refuse(url, "the host is not a valid name") from None
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise _refuse(url, "the host is not a valid name")
    return scheme, ascii_host, port, None


def check_target(url: str, *, allow_private: bool = False) -> CheckedTarget:
    """Parse ``url``, resolve its host, and return it with the address to connect to.

    Raises :class:`TargetRefusedError` (``param="url"``) when the URL is malformed, the host does not
    resolve, or any of its addresses is refused by :func:`address_refusal`.
    """
    url = url.strip()
    scheme, host, port, literal = _parse(url)
    if literal is not None:
        addresses: tuple[IPAddress, ...] = (literal,)
        if literal.version == 4 and str(literal) != host:
            # Shorthands are resolver dialect; a delivery client would read them some other way.
            refused = address_refusal(literal, allow_private=allow_private)
            if refused is not None:
                raise _refuse_address(url, f"{host} ({literal}) is", refused)
            raise _refuse(url, f"{host} means {literal}: write it in dotted-decimal form")
    else:
        if host == "localhost" or host.endswith(".localhost"):
            addresses = (ipaddress.IPv4Address("127.0.0.1"),)  # RFC 6761: always this host
        else:
            addresses = _resolve(url, host, port)
    for address in addresses:
        refused = address_refusal(address, allow_private=allow_private)
        if refused is not None:
            raise _refuse_address(
                url, f"{host} is" if literal is not None else f"{host} resolves to", refused
            )
    return CheckedTarget(url, scheme, host, port, addresses[0], addresses)


def _resolve(url: str, host: str, port: int) -> tuple[IPAddress, ...]:
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise _refuse(url, f"{host} does not resolve") from None
    found: list[IPAddress] = []
    for family, *_, sockaddr in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0]).split("%")[0]
        # An IPv6 answer's zone is its fourth field; a zoned (link-local) address is refused later.
        scope = sockaddr[3] if len(sockaddr) == 4 else 0
        address = ipaddress.ip_address(f"{text}%{scope}" if scope else text)
        if address not in found:
            found.append(address)
    if not found:
        raise _refuse(url, f"{host} does not resolve")
    return tuple(found)


def webhook_client() -> httpx.Client:
    """The HTTP client for deliveries: no redirects (a delivery goes to the checked address or fails)
    and no proxies from the environment (a proxy would resolve the name again, itself)."""
    return httpx.Client(follow_redirects=False, trust_env=False)


def send_pinned(
    client: httpx.Client,
    target: CheckedTarget,
    *,
    content: bytes,
    headers: dict[str, str],
    timeout_s: float,
) -> httpx.Response:
    """POST ``content`` to ``target``, connecting to ``target.address`` only.

    The URL's host is replaced by the checked IP; the ``Host`` header and the TLS server name (SNI,
    and the name the certificate is verified against) stay the registered host. ``Connection: close``
    keeps a pooled connection, verified for one host name, from carrying another's request.
    """
    url = httpx.URL(target.url)
    host_header = url.netloc.decode("ascii")
    pinned = url.copy_with(host=str(target.address).split("%")[0], fragment=None)
    request = client.build_request(
        "POST",
        pinned,
        content=content,
        headers={**headers, "host": host_header, "connection": "close"},
        timeout=timeout_s,
        extensions={"sni_hostname": target.host} if target.scheme == "https" else None,
    )
    return client.send(request)
