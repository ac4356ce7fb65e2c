"""Every BingX signing vector in docs/exchanges/bingx.md section 2."""

from __future__ import annotations

from exchanges.bingx import sign, signed_params, signing_payload

# The example credentials printed in BingX's own docs.
SECRET = "mheO6dR8ovSsxZQCOYEFCtelpuxcWGTfHw7te326y6jOwq5WpvFQ9JNljoTwBXZGv5It07m9RXSPpDQEK2w"


def test_official_vector_tv1_reproduces():
    payload = "symbol=BTC-USDT&timestamp=1667872120843&side=LONG&leverage=6"
    assert sign(SECRET, payload) == (
        "4f581ecdb1fa09b9d6e57886b6f70cffed17f82b93399722939e49a38edec2bf"
    )


def test_official_vector_tv2_query_plus_body_reproduces():
    # The doc concatenated query and body with no "&" between them; signed as printed.
    payload = "symbol=BTC-USDT&timestamp=1668159715051side=LONG&leverage=6"
    assert sign(SECRET, payload) == (
        "8b756b01e7a30f02e19c58a91ab01b29528694316b08a51ecb8dd072942bd47d"
    )


def test_current_docs_vector_tv3_does_not_reproduce():
    # Documentation error: the docs-v3 SignAuth page prints 1e63e8cf... for this message, but
    # HMAC-SHA256 with the documented key gives f8d88360...
    payload = "recvWindow=0&symbol=BTC-USDT&timestamp=1696751141337"
    ours = sign(SECRET, payload)
    assert ours != "1e63e8cfd1c04919881e60cf369e404b9b7c87d3a09bc300f1abfdcce7da57e8"
    assert ours == "f8d883609dfd31c824feb4de865b071008dedb1d461451fa70847875c8e7a7a2"


def test_current_docs_body_vector_tv3b_does_not_reproduce():
    # Documentation error: the same page reuses TV3's printed value for a different message.
    payload = "recvWindow=0&subAccountString=abc12345&timestamp=1696751141337"
    ours = sign(SECRET, payload)
    assert ours != "1e63e8cfd1c04919881e60cf369e404b9b7c87d3a09bc300f1abfdcce7da57e8"
    assert ours == "8d0d3ea9b592be3678c33332ab13e9102e093e67255921e15a581146c87c272f"


def test_batch_orders_vector_tv4_does_not_reproduce_with_the_example_secret():
    # Documentation error: the docs-v3 batchOrders example was signed with an unstated secret.
    payload = (
        'batchOrders=[{"symbol":"ETH-USDT","type":"MARKET","side":"BUY","positionSide":"LONG",'
        '"quantity":1},{"symbol":"BTC-USDT","type":"MARKET","side":"BUY","positionSide":"LONG",'
        '"quantity":0.001}]&timestamp=1692956597902'
    )
    ours = sign(SECRET, payload)
    assert ours != "bab521321a62a1381a76b485b92dd0f4a8b16b4616cfa4c75ffba899f80dfc86"
    assert ours == "04aa41e1f14441dc1465fe5593c07f0e0b190ebe49fda0476cb7ff9d612cd028"


def test_derived_vector_for_a_sorted_limit_order():
    params = [
        ("clientOrderId", "myorder-001"),
        ("positionSide", "LONG"),
        ("price", "60000"),
        ("quantity", "0.001"),
        ("side", "BUY"),
        ("symbol", "BTC-USDT"),
        ("timestamp", "1700000000000"),
        ("type", "LIMIT"),
    ]
    assert sign(SECRET, signing_payload(params)) == (
        "98ea8f6c837a742a18dc540b7d2499f33799e5464ac536a8e2ca787a2ad0be68"
    )


def test_derived_vector_for_the_balance_read_comes_out_of_signed_params():
    signed = signed_params([], secret=SECRET, timestamp_ms=1700000000000, recv_window_ms=5000)
    assert signed == [
        ("recvWindow", "5000"),
        ("timestamp", "1700000000000"),
        ("signature", "b2f691a975d3d7236f5dbca85d831eee29bfaed0f7963304568e8ef3c5b3dfc9"),
    ]


def test_signed_params_sort_keys_and_put_the_signature_last():
    signed = signed_params(
        [("symbol", "BTC-USDT"), ("side", "BUY"), ("clientOrderId", "a1")],
        secret=SECRET,
        timestamp_ms=1,
        recv_window_ms=5000,
    )
    keys = [key for key, _ in signed]
    assert keys == ["clientOrderId", "recvWindow", "side", "symbol", "timestamp", "signature"]
    assert signed[-1][1] == sign(SECRET, signing_payload(signed[:-1]))


def test_signature_changes_with_any_parameter_and_with_the_secret():
    base = "symbol=BTC-USDT&timestamp=1667872120843"
    assert sign(SECRET, base) != sign(SECRET, base + "&side=LONG")
    assert sign(SECRET, base) != sign(SECRET + "x", base)
    assert sign(SECRET, base) == sign(SECRET, base)
