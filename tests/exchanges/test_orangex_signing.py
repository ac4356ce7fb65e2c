"""OrangeX /public/auth client_signature: the official SDK vector (facts section 2)."""

from __future__ import annotations

import hashlib
import hmac

from exchanges import orangex
from exchanges.base import Credentials

# orangex_api/util/signature_util.py __main__ in OrangeX-Global/orangex-api-python
CLIENT_ID = "e429d4d1"
CLIENT_SECRET = "testclientSecret"
TIMESTAMP_MS = 1648544509453
NONCE = "401000476306309121"
INTERMEDIATE_HEX = "dce523fe2731c55ff30d775bdcb2b1b3cc4295ad69f90cba686fae224bbbb032"
EXPECTED_SIGNATURE = (
    "6463653532336665323733316335356666333064373735626463623262316233"
    "6363343239356164363966393063626136383666616532323462626262303332"
)


def test_string_to_sign_is_id_timestamp_nonce_each_followed_by_a_newline():
    assert orangex.string_to_sign(CLIENT_ID, TIMESTAMP_MS, NONCE) == (
        "e429d4d1\n1648544509453\n401000476306309121\n"
    )


def test_official_sdk_vector_reproduces():
    assert orangex.sign(CLIENT_SECRET, CLIENT_ID, TIMESTAMP_MS, NONCE) == EXPECTED_SIGNATURE


def test_signature_is_the_hex_of_the_ascii_of_the_hex_digest():
    signature = orangex.sign(CLIENT_SECRET, CLIENT_ID, TIMESTAMP_MS, NONCE)
    assert len(signature) == 128
    assert bytes.fromhex(signature).decode() == INTERMEDIATE_HEX


def test_the_docs_single_hex_form_differs_from_what_we_send():
    # The docs write HEX_STRING(HMAC_SHA256(...)): the plain 64-char digest, which the
    # community saw rejected. The SDK (and we) hex-encode it a second time.
    plain = hmac.new(
        CLIENT_SECRET.encode(),
        orangex.string_to_sign(CLIENT_ID, TIMESTAMP_MS, NONCE).encode(),
        hashlib.sha256,
    ).hexdigest()
    assert plain == INTERMEDIATE_HEX
    assert orangex.sign(CLIENT_SECRET, CLIENT_ID, TIMESTAMP_MS, NONCE) != plain


def test_signature_depends_on_every_input():
    base = orangex.sign(CLIENT_SECRET, CLIENT_ID, TIMESTAMP_MS, NONCE)
    assert orangex.sign("other", CLIENT_ID, TIMESTAMP_MS, NONCE) != base
    assert orangex.sign(CLIENT_SECRET, "other", TIMESTAMP_MS, NONCE) != base
    assert orangex.sign(CLIENT_SECRET, CLIENT_ID, TIMESTAMP_MS + 1, NONCE) != base
    assert orangex.sign(CLIENT_SECRET, CLIENT_ID, TIMESTAMP_MS, NONCE + "1") != base


def test_auth_params_carry_the_signature_and_never_the_secret():
    params = orangex.auth_params(Credentials(CLIENT_ID, CLIENT_SECRET), TIMESTAMP_MS, NONCE)
    assert params == {
        "grant_type": "client_signature",
        "client_id": CLIENT_ID,
        "timestamp": "1648544509453",
        "nonce": NONCE,
        "signature": EXPECTED_SIGNATURE,
    }
    assert CLIENT_SECRET not in repr(params)


def test_client_credentials_grant_is_available_as_the_proven_fallback():
    params = orangex.auth_params(
        Credentials(CLIENT_ID, CLIENT_SECRET), TIMESTAMP_MS, NONCE, grant_type="client_credentials"
    )
    assert params == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
