"""Where a connection may send its requests: each exchange's official hosts, the checks a
stored base URL or WebSocket URL must pass, and the check of resolved addresses made right
before connecting.

A connection's ``base_url`` / ``ws_url`` is a user's input that our workers will call with
the user's keys, so it must point at the exchange itself: ``https://`` / ``wss://`` on one of
that exchange's official hosts for the connection's environment (the default port unless the
exchange documents another), or on a ``host[:port]`` the operator allowlisted
(``EXCHANGE_HOST_ALLOWLIST``; plain ``http://`` / ``ws://`` only there). At request time the
addresses a host resolves to are checked again (``vet_addresses``): a name that resolves to
a loopback, private, link-local or cloud-metadata address is refused unless allowlisted, so
DNS cannot turn an official name into a way into our own network. docs/security.md explains
the rules and where each host comes from.
"""

from __future__ import annotations

import ipaddress
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal
from urllib.parse import urlsplit

from exchanges.errors import DestinationNotAllowed

Transport = Literal["rest", "websocket"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# the database column's length; nothing longer is a plausible REST or stream root
MAX_URL_LENGTH = 255
DEFAULT_PORTS = {"https": 443, "http": 80, "wss": 443, "ws": 80}
SECURE_SCHEME: Mapping[Transport, str] = {"rest": "https", "websocket": "wss"}
PLAIN_SCHEME: Mapping[Transport, str] = {"rest": "http", "websocket": "ws"}

# Official hosts per exchange and environment, as the exchanges document them
# (docs/security.md names the source of each). "host" means that host on the
# scheme's default port only; "host:port" a port the exchange itself documents. "testnet" is
# our name for every environment with simulated money, so it holds demo hosts too.
_BYBIT_REGIONS = (
    "bybit.nl",
    "bybit.tr",
    "bybit.kz",
    "bybitgeorgia.ge",
    "bybit.ae",
    "bybit.eu",
    "bybit.id",
    "manepa.jp",
)
OFFICIAL_HOSTS: Mapping[str, Mapping[str, Mapping[Transport, frozenset[str]]]] = {
    "bybit": {
        "live": {
            "rest": frozenset(
                {"api.bybit.com", "api.bytick.com", *(f"api.{region}" for region in _BYBIT_REGIONS)}
            ),
            # the guide: regional stream hosts follow the REST pattern (stream.bybit.tr ...)
            "websocket": frozenset(
                {"stream.bybit.com", *(f"stream.{region}" for region in _BYBIT_REGIONS)}
            ),
        },
        "testnet": {
            # testnet, mainnet demo and Japan's testnet; pybit's demo-on-testnet hosts are
            # left out (the docs discourage them)
            "rest": frozenset(
                {"api-testnet.bybit.com", "api-demo.bybit.com", "api-testnet.manepa.jp"}
            ),
            # demo serves private streams only; its public data comes from the mainnet host
            "websocket": frozenset(
                {
                    "stream-testnet.bybit.com",
                    "stream-demo.bybit.com",
                    "stream-testnet.manepa.jp",
                    "stream.bybit.com",
                }
            ),
        },
    },
    "binance": {
        "live": {
            "rest": frozenset(
                {
                    "api.binance.com",
                    "api-gcp.binance.com",
                    "api1.binance.com",
                    "api2.binance.com",
                    "api3.binance.com",
                    "api4.binance.com",
                    "data-api.binance.vision",
                    "fapi.binance.com",
                }
            ),
            "websocket": frozenset(
                {
                    "ws-api.binance.com",
                    "ws-api.binance.com:9443",
                    "stream.binance.com:9443",
                    "fstream.binance.com",
                    "ws-fapi.binance.com",
                }
            ),
        },
        "testnet": {
            "rest": frozenset(
                {
                    "testnet.binance.vision",
                    "testnet.binancefuture.com",
                    "demo-api.binance.com",
                    "demo-fapi.binance.com",
                }
            ),
            # demo-fstream is UNVERIFIED (third-party code), but it is Binance's own domain
            "websocket": frozenset(
                {
                    "ws-api.testnet.binance.vision",
                    "stream.testnet.binance.vision",
                    "fstream.binancefuture.com",
                    "testnet.binancefuture.com",
                    "demo-ws-api.binance.com",
                    "demo-stream.binance.com",
                    "demo-stream.binance.com:9443",
                    "demo-fstream.binance.com",
                }
            ),
        },
    },
    "okx": {
        # demo trading uses the live REST hosts plus a header; its streams have hosts of
        # their own (wspap, wseeapap), all on port 8443
        "live": {
            "rest": frozenset({"www.okx.com", "eea.okx.com", "us.okx.com", "aws.okx.com"}),
            "websocket": frozenset(
                {"ws.okx.com:8443", "wseea.okx.com:8443", "wsus.okx.com:8443", "wsaws.okx.com:8443"}
            ),
        },
        "testnet": {
            "rest": frozenset({"www.okx.com", "eea.okx.com"}),
            "websocket": frozenset({"wspap.okx.com:8443", "wseeapap.okx.com:8443"}),
        },
    },
    "bingx": {
        "live": {
            # .io is the documented backup domain, .pro the network-failure fallback
            "rest": frozenset({"open-api.bingx.com", "open-api.bingx.io", "open-api.bingx.pro"}),
            "websocket": frozenset(
                {"open-api-ws.bingx.com", "open-api-swap.bingx.com", "open-api-cswap-ws.bingx.com"}
            ),
        },
        "testnet": {
            "rest": frozenset({"open-api-vst.bingx.com"}),
            "websocket": frozenset({"vst-open-api-ws.bingx.com"}),
        },
    },
    "pionex": {
        "live": {"rest": frozenset({"api.pionex.com"}), "websocket": frozenset({"ws.pionex.com"})},
    },
    "orangex": {
        "live": {
            "rest": frozenset({"api.orangex.com"}),
            "websocket": frozenset({"api.orangex.com"}),
        },
    },
}

# Addresses of cloud metadata and platform services. Most already fall in the link-local,
# private or shared ranges refused below; they are named here so that stays true even where
# a range is global (Azure's WireServer is a public address).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OCI, DigitalOcean instance metadata
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "100.100.100.200",  # Alibaba Cloud metadata
        "168.63.129.16",  # Azure WireServer
        "192.0.0.192",  # Oracle Cloud metadata (classic)
    )
)
# NAT64's well-known prefix carries an IPv4 address in its last 32 bits (RFC 6052)
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PORT = re.compile(r"^[1-9][0-9]{0,4}$")
_PATH = re.compile(r"^(/[A-Za-z0-9._~-]+)*/?$")
# what a connection URL may contain at all: no percent-escapes, backslashes or other
# characters that URL parsers disagree on
_URL_CHARACTERS = frozenset(string.ascii_letters + string.digits + "._~:/[]-")


class UrlNotAllowed(ValueError):
    """A stored connection URL that breaks the rules; the message says which."""


# -- endpoints: "host" or "host:port", hosts lowercase, IPv6 in brackets ------------------


def endpoint_key(host: str, port: int, scheme: str) -> str:
    """How official hosts and the allowlist name an endpoint: the port only when it is not
    the scheme's default."""
    host = _bracketed(host)
    return host if DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"


def is_allowlisted(host: str, port: int, allowlist: frozenset[str]) -> bool:
    """``host:port`` is listed, or ``host`` without a port, which covers ports 80 and 443."""
    host = _bracketed(host.lower())
    return f"{host}:{port}" in allowlist or (host in allowlist and port in (80, 443))


def parse_allowlist(text: str | Iterable[str]) -> frozenset[str]:
    """``EXCHANGE_HOST_ALLOWLIST`` (comma-separated ``host[:port]``) as normalized entries;
    ValueError on an entry that is not one, so a typo fails at start-up, not at a request."""
    entries = text.split(",") if isinstance(text, str) else list(text)
    parsed = set()
    for raw in entries:
        entry = raw.strip().lower()
        if not entry:
            continue
        try:
            host, port = _split_authority(entry)
        except UrlNotAllowed as exc:
            raise ValueError(f"EXCHANGE_HOST_ALLOWLIST: {raw.strip()!r}: {exc}") from None
        parsed.add(_bracketed(host) if port is None else f"{_bracketed(host)}:{port}")
    return frozenset(parsed)


def url_endpoint(url: str) -> str:
    """``host:port`` of a URL we configure ourselves (PAPER_EXCHANGE_URL), for allowlists."""
    _, host, port = _loose_parts(url)
    return f"{_bracketed(host)}:{port}"


def rest_destination(root: str) -> str:
    """The rate-limit destination of a REST root: ``scheme://host:port``, port always
    written, so ``https://api.binance.com`` and ``https://api.binance.com:443`` are one."""
    scheme, host, port = _loose_parts(root)
    return f"{scheme}://{_bracketed(host)}:{port}"


def is_official_destination(exchange: str, destination: str) -> bool:
    """True when a ``rest_destination`` is one of the exchange's own REST hosts (any
    environment): its documented bans then hold, rather than our cap for other hosts."""
    scheme, host, port = _loose_parts(destination)
    if scheme != "https":
        return False
    key = endpoint_key(host, port, scheme)
    return any(key in hosts["rest"] for hosts in OFFICIAL_HOSTS.get(exchange, {}).values())


def _loose_parts(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL already in use; never raises, so a legacy stored URL
    still gets a destination of its own (and the request-time check) instead of a crash."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme, 0)


def official_hosts(exchange: str, environment: str, transport: Transport) -> frozenset[str]:
    return OFFICIAL_HOSTS.get(exchange, {}).get(environment, {}).get(transport, frozenset())


# -- the stored-URL rule ------------------------------------------------------------------


def check_connection_url(
    url: str, *, exchange: str, environment: str, transport: Transport, allowlist: frozenset[str]
) -> None:
    """Raise UrlNotAllowed unless ``url`` may be a connection's REST root (``transport``
    "rest") or stream root ("websocket") for this exchange and environment."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlNotAllowed(f"at most {MAX_URL_LENGTH} characters")
    secure, plain = SECURE_SCHEME[transport], PLAIN_SCHEME[transport]
    scheme, host, port, _ = _split_url(url, schemes=(secure, plain))
    effective_port = port or DEFAULT_PORTS[scheme]
    if is_allowlisted(host, effective_port, allowlist):
        return
    if _bracketed(host) in allowlist:
        raise UrlNotAllowed(f"{host} is allowlisted on ports 80 and 443 only, not {effective_port}")
    if scheme == plain:
        raise UrlNotAllowed(
            f"use {secure}://; plain {plain}:// is only for hosts in EXCHANGE_HOST_ALLOWLIST"
        )
    if _ip_literal(host) is not None:
        raise UrlNotAllowed("an IP address is only allowed when it is in EXCHANGE_HOST_ALLOWLIST")
    official = official_hosts(exchange, environment, transport)
    if endpoint_key(host, effective_port, scheme) not in official:
        raise UrlNotAllowed(
            _not_official_message(
                host,
                effective_port,
                scheme,
                official,
                exchange=exchange,
                environment=environment,
                transport=transport,
            )
        )


def _not_official_message(
    host: str,
    port: int,
    scheme: str,
    official: frozenset[str],
    *,
    exchange: str,
    environment: str,
    transport: Transport,
) -> str:
    kind = "REST" if transport == "rest" else "WebSocket"
    if not official:
        return (
            f"{exchange} has no official {kind} host for {environment}; only hosts in "
            "EXCHANGE_HOST_ALLOWLIST"
        )
    if _bracketed(host) in {entry.split(":")[0] for entry in official}:
        return f"{host} is official only on the port {exchange} documents, not {port}"
    return (
        f"{host} is not an official {exchange} {kind} host for {environment} "
        f"({', '.join(sorted(official))}) nor in EXCHANGE_HOST_ALLOWLIST"
    )


def _split_url(url: str, schemes: Sequence[str]) -> tuple[str, str, int | None, str]:
    """(scheme, host, port or None, path) of a strictly written URL; UrlNotAllowed else."""
    if not url.isascii() or not url.isprintable() or " " in url:
        raise UrlNotAllowed(
            "only plain ASCII without spaces or control characters "
            "(international host names are not accepted)"
        )
    scheme, separator, rest = url.partition("://")
    if not separator or scheme not in schemes:
        raise UrlNotAllowed(f"must start with {' or '.join(f'{s}://' for s in schemes)}")
    if "?" in rest or "#" in rest:
        raise UrlNotAllowed("no query string or fragment")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        raise UrlNotAllowed("no user name or password in the URL")
    bad = sorted(set(rest) - _URL_CHARACTERS)
    if bad:
        raise UrlNotAllowed(f"character {bad[0]!r} is not allowed")
    host, port = _split_authority(authority)
    path = slash + path
    if not _PATH.match(path) or any(part in (".", "..") for part in path.split("/")):
        raise UrlNotAllowed("the path may hold only letters, digits and . _ ~ - segments")
    return scheme, host, port, path


def _split_authority(authority: str) -> tuple[str, int | None]:
    """(host, port or None) of ``host[:port]``; hosts lowercase, IPv6 without brackets."""
    if authority.startswith("["):
        inside, bracket, after = authority[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise UrlNotAllowed("an IPv6 address must be written [address] or [address]:port")
        host, port_text = _ipv6_literal(inside), after[1:] if after else None
    else:
        host, colon, port_text_or_empty = authority.partition(":")
        port_text = port_text_or_empty if colon else None
        _check_host_name(host)
    if port_text is None:
        return host, None
    if not _PORT.match(port_text) or not 0 < int(port_text) <= 65535:
        raise UrlNotAllowed("the port must be a number from 1 to 65535 without leading zeros")
    return host, int(port_text)


def _check_host_name(host: str) -> None:
    if not host:
        raise UrlNotAllowed("a host is required")
    if host != host.lower():
        raise UrlNotAllowed("write the host in lowercase")
    if host.endswith("."):
        raise UrlNotAllowed("no trailing dot after the host")
    if _ip_literal(host) is not None:
        return
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise UrlNotAllowed("not a valid host name")
    if labels[-1].isdigit():  # 127.1, 2130706433 and other numeric spellings of addresses
        raise UrlNotAllowed("write an IP address in full dotted form")


def _ipv6_literal(text: str) -> str:
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise UrlNotAllowed("not a valid IPv6 address") from None


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# -- the request-time rule ----------------------------------------------------------------


def vet_addresses(
    host: str, port: int, addresses: Sequence[str], *, allowlist: frozenset[str]
) -> None:
    """Raise DestinationNotAllowed unless every address ``host`` resolved to may be reached:
    none loopback, private, link-local, metadata, unspecified, reserved or multicast (IPv4
    inside IPv6 judged as the IPv4 it carries), unless ``host:port`` is allowlisted. The
    transport connects only to addresses that passed, so a second lookup cannot differ."""
    if is_allowlisted(host, port, allowlist):
        return
    if not addresses:
        raise DestinationNotAllowed(f"{host} resolved to no address")
    for address in addresses:
        if not _is_public(address):
            raise DestinationNotAllowed(
                f"{host} resolves to an address a connection may not reach "
                "(loopback, private, link-local or metadata)"
            )


def _is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        carried = _carried_ipv4(ip)
        if carried is not None:
            return _is_public(str(carried))
        ip = ipaddress.IPv6Address(ip.compressed.split("%")[0])  # a zone id changes nothing
    refused = (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
        or not ip.is_global
    )
    return not refused and ip not in METADATA_ADDRESSES


def _carried_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 address, else None."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None
