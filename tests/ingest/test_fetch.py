"""The SSRF guard and the fetch limits, against real HTTP servers on 127.0.0.1 and 127.0.0.2."""

from __future__ import annotations

import time

import pytest

from rag.ingest.fetch import AddressPolicy, Fetcher, FetchError, FetchLimits, canonical, file_name, resolve
from tests.ingest.web_site import Site, html_page, serve

LOOPBACK_ONLY = AddressPolicy.from_setting("127.0.0.1")


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.10.10", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "not a public address"),  # carrier-grade NAT
        ("240.0.0.1", "reserved"),
    ],
)
def test_the_policy_refuses_every_kind_of_non_public_address(address, why):
    assert why in AddressPolicy().refusal(address)


def test_the_policy_lets_public_addresses_and_what_the_operator_allows_through():
    assert AddressPolicy().refusal("93.184.216.34") == ""
    assert AddressPolicy().refusal("2606:2800:220:1:248:1893:25c8:1946") == ""
    anything = AddressPolicy.from_setting("1")
    assert anything.refusal("10.1.2.3") == "" and anything.refusal("127.0.0.1") == ""
    assert "metadata" in anything.refusal("169.254.169.254")  # "1" still keeps the credentials away
    named = AddressPolicy.from_setting("10.0.0.0/8, 169.254.169.254")
    assert named.refusal("10.9.9.9") == "" and named.refusal("169.254.169.254") == ""
    assert "private" in named.refusal("192.168.1.1")
    with pytest.raises(ValueError, match="RAG_ALLOW_PRIVATE_URLS"):
        AddressPolicy.from_setting("intranet")


def test_without_the_setting_the_loopback_server_itself_is_refused_before_any_request():
    site = Site(pages={"/page.html": ("text/html", html_page("Hello", "words"))})
    with serve(site), Fetcher(AddressPolicy()) as fetcher, pytest.raises(FetchError) as refused:
        fetcher.fetch(site.base + "/page.html")
    assert refused.value.source == site.base + "/page.html"
    assert "127.0.0.1 is a loopback address" in refused.value.reason
    assert site.requests == []


def test_a_redirect_to_another_address_is_checked_again_and_refused():
    """127.0.0.1 is allowed, 127.0.0.2 is not: only a check on the redirect itself stops it."""
    inner = Site(pages={"/secret": ("text/plain", b"the intranet's secret")})
    with serve(inner, "127.0.0.2"):
        outer = Site(redirects={"/go": inner.base + "/secret"})
        with serve(outer), Fetcher(LOOPBACK_ONLY) as fetcher, pytest.raises(FetchError) as refused:
            fetcher.fetch(outer.base + "/go")
    assert refused.value.source == outer.base + "/go"
    assert "127.0.0.2 is a loopback address" in refused.value.reason
    assert outer.requests == ["/go"] and inner.requests == []


def test_a_redirect_to_the_metadata_service_or_another_scheme_is_refused():
    site = Site(
        redirects={
            "/meta": "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
            "/file": "file:///etc/passwd",
            "/loop": "/loop",
        }
    )
    with serve(site), Fetcher(LOOPBACK_ONLY) as fetcher:
        with pytest.raises(FetchError, match=r"169\.254\.169\.254 is a cloud metadata address"):
            fetcher.fetch(site.base + "/meta")
        with pytest.raises(FetchError, match="not an http"):
            fetcher.fetch(site.base + "/file")
        with pytest.raises(FetchError, match="more than 5 redirects"):
            fetcher.fetch(site.base + "/loop")


def test_the_connection_goes_to_the_checked_address_without_a_second_lookup():
    """A name the system can't resolve (`.invalid`) is fetched through the resolver's one answer,
    with the original Host header: no other lookup happens that a rebinding DNS could answer."""
    site = Site(pages={"/p": ("text/plain", b"pinned")})
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    with serve(site), Fetcher(LOOPBACK_ONLY, resolver=resolver) as fetcher:
        port = site.base.rsplit(":", 1)[1]
        fetched = fetcher.fetch(f"http://docs.invalid:{port}/p")
    assert fetched.data == b"pinned" and lookups == ["docs.invalid"]
    with pytest.raises(OSError):
        resolve("docs.invalid", 80)


def test_a_name_with_one_private_address_among_public_ones_is_refused():
    fetcher = Fetcher(AddressPolicy(), resolver=lambda host, port: ["93.184.216.34", "10.0.0.7"])
    with (
        fetcher,
        pytest.raises(
            FetchError, match=r"mixed\.invalid resolves to 10\.0\.0\.7; 10\.0\.0\.7 is a private address"
        ),
    ):
        fetcher.fetch("http://mixed.invalid/")


def test_a_huge_response_is_refused_at_the_cap_without_reading_it_all():
    site = Site()
    fetcher = Fetcher(LOOPBACK_ONLY, FetchLimits(max_bytes=1024 * 1024))
    with serve(site), fetcher, pytest.raises(FetchError) as refused:
        fetcher.fetch(site.base + "/big")
    assert refused.value.source == site.base + "/big"
    assert "larger than the 1 MB limit (RAG_MAX_UPLOAD_MB)" in refused.value.reason
    # the server stops at its next write once the client hangs up; socket buffers hold a few MB
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and site.sent_big < 1024 * 1024:
        time.sleep(0.05)
    assert 1024 * 1024 <= site.sent_big < 16 * 1024 * 1024 < site.big_bytes


def test_a_declared_length_over_the_cap_is_refused_before_reading():
    site = Site(pages={"/large.txt": ("text/plain", b"y" * 300_000)})
    fetcher = Fetcher(LOOPBACK_ONLY, FetchLimits(max_bytes=100_000))
    with serve(site), fetcher, pytest.raises(FetchError, match="larger than"):
        fetcher.fetch(site.base + "/large.txt")


def test_a_slow_response_is_refused_at_the_time_limit():
    site = Site()
    with serve(site), Fetcher(LOOPBACK_ONLY, FetchLimits(seconds=1.0)) as fetcher:
        start = time.monotonic()
        with pytest.raises(FetchError) as refused:
            fetcher.fetch(site.base + "/slow")  # 1,000 bytes at one per 50 ms: 50 s
    assert time.monotonic() - start < 10
    assert refused.value.source == site.base + "/slow"
    assert "took over 1 s (RAG_FETCH_TIMEOUT_S)" in refused.value.reason


def test_unsupported_types_and_errors_are_refused_with_the_reason():
    site = Site(pages={"/logo": ("image/png", b"\x89PNG....")})
    with serve(site), Fetcher(LOOPBACK_ONLY) as fetcher:
        with pytest.raises(FetchError, match="content type image/png is not a supported one"):
            fetcher.fetch(site.base + "/logo")
        with pytest.raises(FetchError, match="answered 404"):
            fetcher.fetch(site.base + "/missing")
        with pytest.raises(FetchError, match="only http"):
            fetcher.fetch("ftp://example.com/file")


def test_file_names_follow_the_content_type():
    assert file_name("https://a.example/docs/", "text/html") == "index.html"
    assert file_name("https://a.example/docs/guide", "application/pdf") == "guide.pdf"
    assert file_name("https://a.example/docs/guide.pdf", "application/pdf") == "guide.pdf"
    assert file_name("https://a.example/x/report.docx", "application/octet-stream") == "report.docx"
    assert file_name("https://a.example/x/run.exe", "application/octet-stream") == ""
    assert canonical("https://a.example#top") == "https://a.example/"
