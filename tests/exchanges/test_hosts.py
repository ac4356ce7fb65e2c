"""Where a connection may point: the stored-URL rule and the request-time address check."""

from __future__ import annotations

import pytest

from exchanges import binance, bingx, bybit, errors, okx, orangex, pionex
from exchanges.hosts import (
    OFFICIAL_HOSTS,
    UrlNotAllowed,
    check_connection_url,
    is_allowlisted,
    is_official_destination,
    parse_allowlist,
    rest_destination,
    url_endpoint,
    vet_addresses,
)

NONE: frozenset[str] = frozenset()
PAPER = frozenset({"127.0.0.1:8900"})


def refused(
    url: str,
    *,
    exchange: str = "binance",
    environment: str = "live",
    transport: str = "rest",
    allowlist: frozenset[str] = NONE,
) -> str:
    with pytest.raises(UrlNotAllowed) as caught:
        check_connection_url(
            url,
            exchange=exchange,
            environment=environment,
            transport=transport,
            allowlist=allowlist,
        )
    return str(caught.value)


def accepted(
    url: str,
    *,
    exchange: str = "binance",
    environment: str = "live",
    transport: str = "rest",
    allowlist: frozenset[str] = NONE,
) -> None:
    check_connection_url(
        url, exchange=exchange, environment=environment, transport=transport, allowlist=allowlist
    )


# -- official hosts ------------------------------------------------------------------------


@pytest.mark.parametrize("module", [binance, bybit, okx, bingx, pionex, orangex])
def test_every_default_host_of_every_module_passes_its_own_rule(module):
    exchange = module.NAME if hasattr(module, "NAME") else module.__name__.split(".")[-1]
    for (environment, _), root in module.REST_HOSTS.items():
        accepted(root, exchange=exchange, environment=environment)
    for (environment, _), root in module.WS_HOSTS.items():
        accepted(root, exchange=exchange, environment=environment, transport="websocket")


@pytest.mark.parametrize(
    "url",
    [
        "https://api.binance.com",
        "https://api1.binance.com",
        "https://api2.binance.com",
        "https://api3.binance.com",
        "https://api4.binance.com",
        "https://api-gcp.binance.com",
        "https://fapi.binance.com",
        "https://api.binance.com:443",
        "https://api.binance.com/",
        "https://api.binance.com/api",
    ],
)
def test_binance_live_rest_hosts_including_backups_and_usd_m_are_accepted(url):
    accepted(url)


@pytest.mark.parametrize(
    "host",
    [
        "api.bybit.com",
        "api.bytick.com",
        "api.bybit.nl",
        "api.bybit.tr",
        "api.bybit.kz",
        "api.bybitgeorgia.ge",
        "api.bybit.ae",
        "api.bybit.eu",
        "api.bybit.id",
        "api.manepa.jp",
    ],
)
def test_bybit_live_accepts_its_alternative_and_regional_hosts(host):
    accepted(f"https://{host}", exchange="bybit")


@pytest.mark.parametrize(
    "exchange, url",
    [
        ("bybit", "https://api-testnet.bybit.com"),
        ("bybit", "https://api-demo.bybit.com"),
        ("binance", "https://testnet.binance.vision"),
        ("binance", "https://testnet.binancefuture.com"),
        ("binance", "https://demo-api.binance.com"),
        ("binance", "https://demo-fapi.binance.com"),
        ("bingx", "https://open-api-vst.bingx.com"),
        ("okx", "https://www.okx.com"),
    ],
)
def test_testnet_and_demo_hosts_are_accepted_for_testnet(exchange, url):
    accepted(url, exchange=exchange, environment="testnet")


def test_okx_aws_host_is_a_live_host():
    accepted("https://aws.okx.com", exchange="okx")


def test_a_testnet_host_is_refused_for_a_live_connection():
    assert "not an official binance REST host for live" in refused("https://testnet.binance.vision")


def test_a_live_host_is_refused_for_a_testnet_connection():
    refused("https://api.binance.com", environment="testnet")


def test_another_exchanges_host_is_refused():
    refused("https://api.bybit.com", exchange="binance")


def test_a_paper_connection_has_no_official_hosts():
    assert "no official REST host for paper" in refused(
        "https://api.binance.com", environment="paper"
    )


def test_okx_streams_are_accepted_on_their_documented_port_8443():
    accepted("wss://ws.okx.com:8443/ws/v5/private", exchange="okx", transport="websocket")
    accepted(
        "wss://wspap.okx.com:8443/ws/v5/private",
        exchange="okx",
        environment="testnet",
        transport="websocket",
    )


def test_binance_streams_are_accepted_on_443_and_the_documented_9443():
    accepted("wss://ws-api.binance.com:443/ws-api/v3", transport="websocket")
    accepted("wss://ws-api.binance.com:9443/ws-api/v3", transport="websocket")
    accepted("wss://stream.binance.com:9443/ws", transport="websocket")


def test_every_listed_host_is_a_lowercase_name_without_scheme_or_path():
    for environments in OFFICIAL_HOSTS.values():
        for transports in environments.values():
            for host in transports["rest"] | transports["websocket"]:
                assert host == host.lower() and "/" not in host and "@" not in host


# -- hostile stored URLs -------------------------------------------------------------------


def test_lookalike_host_ending_in_an_attackers_domain_is_refused():
    refused("https://api.binance.com.attacker.example")


def test_lookalike_host_starting_with_an_official_name_is_refused():
    refused("https://api.binance.com-attacker.example")


def test_official_name_as_a_subdomain_label_of_another_host_is_refused():
    refused("https://attacker.example/api.binance.com")


def test_trailing_dot_after_an_official_host_is_refused():
    assert "trailing dot" in refused("https://api.binance.com.")


def test_uppercase_host_is_refused():
    assert "lowercase" in refused("https://API.BINANCE.COM")


def test_uppercase_scheme_is_refused():
    refused("HTTPS://api.binance.com")


def test_idn_homoglyph_host_is_refused():
    # U+0430, the Cyrillic small a, in place of the Latin one
    assert "ASCII" in refused("https://\u0430pi.binance.com")


def test_fullwidth_dot_host_is_refused():
    refused("https://api.binance\u3002com")


def test_punycode_lookalike_host_is_refused():
    refused("https://xn--pi-7ld.binance.com")


def test_userinfo_user_and_password_is_refused():
    assert "user name or password" in refused("https://user:secret@api.binance.com")


def test_userinfo_that_hides_the_real_host_is_refused():
    refused("https://api.binance.com@attacker.example")


def test_backslash_that_parsers_read_differently_is_refused():
    refused("https://attacker.example\\@api.binance.com")
    refused("https://api.binance.com\\.attacker.example")


def test_fragment_is_refused():
    assert "fragment" in refused("https://api.binance.com#x")


def test_fragment_hiding_the_real_host_is_refused():
    refused("https://attacker.example#@api.binance.com")


def test_query_string_is_refused():
    assert "query" in refused("https://api.binance.com?x=1")


def test_empty_query_is_refused():
    refused("https://api.binance.com/?")


def test_non_default_port_on_an_official_host_is_refused():
    assert "port" in refused("https://api.binance.com:8443")


def test_port_with_leading_zeros_is_refused():
    refused("https://api.binance.com:0443")


def test_empty_port_is_refused():
    refused("https://api.binance.com:")


def test_port_out_of_range_is_refused():
    refused("https://api.binance.com:65536")


def test_plain_http_to_an_official_host_is_refused():
    assert "https://" in refused("http://api.binance.com")


def test_plain_ws_to_an_official_stream_host_is_refused():
    refused("ws://stream.binance.com:9443", transport="websocket")


def test_a_rest_scheme_for_a_stream_url_is_refused():
    refused("https://stream.binance.com:9443", transport="websocket")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://api.binance.com",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://api.binance.com",
        "//api.binance.com",
        "api.binance.com",
        "not a url",
        "",
    ],
)
def test_other_schemes_and_scheme_less_text_are_refused(url):
    refused(url)


def test_ipv4_literal_not_allowlisted_is_refused():
    assert "IP address" in refused("https://127.0.0.1")


def test_metadata_ipv4_literal_is_refused():
    refused("https://169.254.169.254")


def test_ipv6_loopback_literal_is_refused():
    refused("https://[::1]")


def test_ipv4_mapped_ipv6_literal_is_refused():
    refused("https://[::ffff:127.0.0.1]")


def test_decimal_integer_ip_spelling_is_refused():
    refused("https://2130706433")


def test_short_dotted_ip_spelling_is_refused():
    refused("https://127.1")


def test_hex_ip_spelling_is_refused():
    refused("https://0x7f.0.0.1")


def test_octal_ip_spelling_is_refused():
    refused("https://0177.0.0.1")


def test_overlong_url_is_refused():
    assert "255" in refused("https://api.binance.com/" + "a" * 240)


def test_overlong_host_label_is_refused():
    refused(f"https://{'a' * 64}.binance.com")


def test_whitespace_and_control_characters_are_refused():
    refused(" https://api.binance.com")
    refused("https://api.binance.com\n")
    refused("https://api.binance.com\tx")
    refused("https://api.binance.com\x00")


def test_percent_encoded_host_or_path_is_refused():
    refused("https://api%2ebinance.com")
    refused("https://api.binance.com/%2e%2e/")


def test_dot_segments_in_the_path_are_refused():
    refused("https://api.binance.com/../x")
    refused("https://api.binance.com/./x")


def test_double_slash_in_the_path_is_refused():
    refused("https://api.binance.com//attacker.example")


def test_empty_label_in_the_host_is_refused():
    refused("https://api..binance.com")


def test_hyphen_at_a_label_edge_is_refused():
    refused("https://-api.binance.com")


# -- the allowlist -------------------------------------------------------------------------


def test_an_allowlisted_host_and_port_may_use_plain_http():
    accepted("http://127.0.0.1:8900/binance", allowlist=PAPER)
    accepted("ws://127.0.0.1:8900/binance", transport="websocket", allowlist=PAPER)


def test_an_allowlisted_host_and_port_is_allowed_for_every_environment():
    accepted(
        "http://127.0.0.1:8900/bybit", exchange="bybit", environment="testnet", allowlist=PAPER
    )


def test_another_port_of_an_allowlisted_host_is_refused():
    refused("http://127.0.0.1:6379", allowlist=PAPER)


def test_an_allowlisted_host_without_a_port_covers_only_80_and_443():
    allowlist = frozenset({"proxy.internal"})
    accepted("https://proxy.internal", allowlist=allowlist)
    accepted("http://proxy.internal", allowlist=allowlist)
    assert "ports 80 and 443" in refused("http://proxy.internal:6379", allowlist=allowlist)


def test_an_allowlisted_ipv6_literal_is_matched_in_brackets():
    accepted("http://[::1]:8900", allowlist=frozenset({"[::1]:8900"}))


def test_the_allowlist_does_not_rescue_userinfo_or_fragments():
    refused("http://user:pw@127.0.0.1:8900", allowlist=PAPER)
    refused("http://127.0.0.1:8900#x", allowlist=PAPER)


def test_the_allowlist_setting_is_normalized():
    assert parse_allowlist(" Proxy.Internal , 127.0.0.1:8900,,[::1]:1 ") == frozenset(
        {"proxy.internal", "127.0.0.1:8900", "[::1]:1"}
    )


@pytest.mark.parametrize(
    "entry",
    [
        "https://proxy.internal",
        "proxy.internal/x",
        "proxy.internal:0",
        "proxy.internal:99999",
        "a b",
        "user@proxy.internal",
    ],
)
def test_a_malformed_allowlist_entry_fails_loudly(entry):
    with pytest.raises(ValueError, match="EXCHANGE_HOST_ALLOWLIST"):
        parse_allowlist(entry)


def test_url_endpoint_names_host_and_port():
    assert url_endpoint("http://127.0.0.1:8900") == "127.0.0.1:8900"
    assert url_endpoint("https://paper.internal") == "paper.internal:443"


# -- request time: resolved addresses ------------------------------------------------------


def vet(
    *addresses: str,
    host: str = "api.binance.com",
    port: int = 443,
    allowlist: frozenset[str] = NONE,
) -> None:
    vet_addresses(host, port, list(addresses), allowlist=allowlist)


def blocked(*addresses: str, **kwargs) -> None:
    with pytest.raises(errors.DestinationNotAllowed):
        vet(*addresses, **kwargs)


def test_public_addresses_pass():
    vet("52.84.150.39", "2600:9000:2034:a600:1d:8e6c:4440:93a1")


def test_ipv4_loopback_is_refused():
    blocked("127.0.0.1")


def test_ipv4_loopback_anywhere_in_127_slash_8_is_refused():
    blocked("127.53.0.1")


def test_ipv6_loopback_is_refused():
    blocked("::1")


def test_private_10_slash_8_is_refused():
    blocked("10.0.0.5")


def test_private_172_16_slash_12_is_refused():
    blocked("172.16.3.4")


def test_private_192_168_slash_16_is_refused():
    blocked("192.168.1.1")


def test_ipv6_unique_local_is_refused():
    blocked("fd12:3456::1")


def test_link_local_ipv4_is_refused():
    blocked("169.254.1.1")


def test_link_local_ipv6_with_a_zone_is_refused():
    blocked("fe80::1%eth0")


def test_aws_gcp_azure_metadata_address_is_refused():
    blocked("169.254.169.254")


def test_aws_ecs_task_metadata_address_is_refused():
    blocked("169.254.170.2")


def test_aws_ipv6_metadata_address_is_refused():
    blocked("fd00:ec2::254")


def test_alibaba_metadata_address_is_refused():
    blocked("100.100.100.200")


def test_azure_wireserver_address_is_refused_though_it_is_public():
    blocked("168.63.129.16")


def test_carrier_grade_nat_shared_range_is_refused():
    blocked("100.64.0.1")


def test_unspecified_ipv4_is_refused():
    blocked("0.0.0.0")


def test_this_network_0_slash_8_is_refused():
    blocked("0.1.2.3")


def test_unspecified_ipv6_is_refused():
    blocked("::")


def test_reserved_240_slash_4_is_refused():
    blocked("240.0.0.1")


def test_broadcast_is_refused():
    blocked("255.255.255.255")


def test_ipv4_multicast_is_refused():
    blocked("239.1.1.1")


def test_ipv6_multicast_is_refused():
    blocked("ff02::1")


def test_ipv4_mapped_loopback_is_refused():
    blocked("::ffff:127.0.0.1")


def test_ipv4_mapped_metadata_is_refused():
    blocked("::ffff:169.254.169.254")


def test_ipv4_mapped_private_is_refused():
    blocked("::ffff:10.0.0.1")


def test_ipv4_mapped_public_address_passes():
    vet("::ffff:52.84.150.39")


def test_nat64_of_a_private_address_is_refused():
    blocked("64:ff9b::a00:1")


def test_nat64_of_a_public_address_passes():
    vet("64:ff9b::3454:9627")


def test_6to4_of_loopback_is_refused():
    blocked("2002:7f00:1::1")


def test_documentation_ranges_are_refused():
    blocked("192.0.2.1")
    blocked("2001:db8::1")


def test_one_bad_address_among_good_ones_refuses_the_host():
    blocked("52.84.150.39", "127.0.0.1")


def test_no_address_at_all_is_refused():
    blocked()


def test_an_unparseable_address_is_refused():
    blocked("localhost")
    blocked("127.1")


def test_an_allowlisted_host_and_port_may_resolve_to_loopback():
    vet("127.0.0.1", host="127.0.0.1", port=8900, allowlist=PAPER)


def test_an_allowlisted_host_on_another_port_is_still_checked():
    blocked("127.0.0.1", host="127.0.0.1", port=6379, allowlist=PAPER)


def test_an_allowlisted_name_without_port_covers_80_and_443_only():
    allowlist = frozenset({"proxy.internal"})
    vet("10.0.0.7", host="proxy.internal", port=443, allowlist=allowlist)
    blocked("10.0.0.7", host="proxy.internal", port=6379, allowlist=allowlist)


def test_the_refusal_is_an_invalid_request_that_names_the_host_but_no_address():
    with pytest.raises(errors.InvalidRequest) as caught:
        vet("10.1.2.3")
    assert "api.binance.com" in str(caught.value) and "10.1.2.3" not in str(caught.value)


def test_allowlist_matching_is_case_insensitive_for_names():
    assert is_allowlisted("Proxy.Internal", 443, frozenset({"proxy.internal"}))


# -- destinations --------------------------------------------------------------------------


def test_a_destination_is_scheme_host_and_port_without_the_path():
    assert rest_destination("https://api.binance.com") == "https://api.binance.com:443"
    assert rest_destination("https://api.binance.com:443/") == "https://api.binance.com:443"
    assert rest_destination("http://127.0.0.1:8900/binance") == "http://127.0.0.1:8900"
    assert rest_destination("http://[::1]:8900/x") == "http://[::1]:8900"


def test_binance_spot_and_usd_m_are_different_destinations():
    assert rest_destination(binance.REST_HOSTS["live", "spot"]) != rest_destination(
        binance.REST_HOSTS["live", "linear"]
    )


def test_official_destinations_are_the_exchanges_own_https_hosts():
    assert is_official_destination("binance", "https://api.binance.com:443")
    assert is_official_destination("binance", "https://testnet.binance.vision:443")
    assert not is_official_destination("binance", "https://api.bybit.com:443")
    assert not is_official_destination("binance", "http://api.binance.com:80")
    assert not is_official_destination("binance", "https://api.binance.com:8443")
    assert not is_official_destination("binance", "http://127.0.0.1:8900")


def test_a_binance_connection_without_a_base_url_counts_spot_and_usd_m_apart():
    from exchanges.base import Call, Credentials

    destinations = []
    for api_type in ("spot", "perpetual_futures"):
        connector = binance.BinanceConnector(credentials=Credentials("k", "s"), api_type=api_type)
        call = Call("GET", "/time", product=connector.default_product())
        destinations.append(connector.destination(call))
    assert destinations == ["https://api.binance.com:443", "https://fapi.binance.com:443"]
