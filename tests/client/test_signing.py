"""The signing unit against vectors computed by hand (``printf … | sha256sum``) from the documented formula."""

from newtel._signing import TOKEN_LENGTH, bearer_token, parse_token, signature, signatures_match

# The keys printed in the provider's own PHP examples.
ACCESS = "616a2cbbc392c798c06161dae2bd0c2093af4f399e95f48d"
SIGNING = "84c29e3807ccb092f50ea7e66537ba9b519628efdd741046"


def test_signature_of_the_documented_get_state_example() -> None:
    # The PHP example sends json_encode('') == '""' as the body.
    digest = signature("company/get-state", 1607762100, ACCESS, b'""', SIGNING)
    assert digest == "e2dcf61947e4cf456142d7be71aab604bb69887ee6b3fd0ebe9201b240c613bc"


def test_signature_covers_the_exact_body_bytes() -> None:
    body = b'{"callerId":"74951112233","dstNumber":"79041112233","srcNumber":"79991112233","timeout":30}'
    assert signature("call/start-simple-call", 1700000000, ACCESS, body, SIGNING) == (
        "ecb9f4ac3b81bd4520098d87a7f7338b05a82b55fba196a0ee1f98092cfe08f4"
    )
    # One byte of whitespace more is another signature: the server hashes what it received.
    spaced = body.replace(b",", b", ")
    assert signature("call/start-simple-call", 1700000000, ACCESS, spaced, SIGNING) != (
        "ecb9f4ac3b81bd4520098d87a7f7338b05a82b55fba196a0ee1f98092cfe08f4"
    )


def test_token_is_key_time_and_digest_122_characters() -> None:
    token = bearer_token("company/get-state", 1607762100, ACCESS, b'""', SIGNING)
    assert len(token) == TOKEN_LENGTH == 122
    assert token == ACCESS + "1607762100" + "e2dcf61947e4cf456142d7be71aab604bb69887ee6b3fd0ebe9201b240c613bc"
    assert parse_token(token) == (ACCESS, 1607762100, token[58:])


def test_parse_token_refuses_malformed_tokens() -> None:
    good = bearer_token("company/get-state", 1607762100, ACCESS, b"{}", SIGNING)
    assert parse_token(good[:-1]) is None
    assert parse_token(good.upper()) is None
    assert parse_token(good[:48] + "16077621xx" + good[58:]) is None


def test_signatures_match_is_exact() -> None:
    digest = signature("company/get-state", 1, ACCESS, b"{}", SIGNING)
    assert signatures_match(digest, digest)
    assert signatures_match(digest, digest.upper() + "\n")  # header value whitespace and case
    assert not signatures_match(digest, digest[:-1] + ("0" if digest[-1] != "0" else "1"))
