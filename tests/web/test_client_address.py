"""Which client sent an event: on a Space every connection comes from Hugging Face's proxy, so the
address is the last X-Forwarded-For entry (the one that proxy added); what a client sends itself
to the left of it can't change its address. Elsewhere it is the connection's (uvicorn applies
the header for a proxy on 127.0.0.1)."""

from __future__ import annotations

from types import SimpleNamespace

from rag.web.client_address import client_address

SPACE = {"SPACE_HOST": "someone-rag.hf.space"}


def request(host: str, forwarded: str = "") -> SimpleNamespace:
    headers = {"x-forwarded-for": forwarded} if forwarded else {}
    return SimpleNamespace(client=SimpleNamespace(host=host), headers=headers)


def test_on_a_space_the_address_is_the_one_the_proxy_added():
    assert client_address(request("10.16.3.80", "203.0.113.7"), SPACE) == "203.0.113.7"
    spoofed = request("10.16.3.80", "1.2.3.4, 5.6.7.8, 203.0.113.7")  # the client sent the first two
    assert client_address(spoofed, SPACE) == "203.0.113.7"
    assert client_address(request("10.16.3.80"), SPACE) == "10.16.3.80"  # no header: the connection's


def test_elsewhere_the_header_is_not_taken_from_the_client():
    assert client_address(request("198.51.100.20", "1.2.3.4"), {}) == "198.51.100.20"
    assert client_address(None, SPACE) == ""
