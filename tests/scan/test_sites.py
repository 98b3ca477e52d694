from __future__ import annotations

from gateway.scan.sites import same_site, site_of


def test_site_of() -> None:
    assert site_of("www.googletagmanager.com") == "googletagmanager.com"
    assert site_of("shop.example.co.uk") == "example.co.uk"
    assert site_of("hm.baidu.com") == "baidu.com" and site_of("a.b.example.com.cn") == "example.com.cn"
    assert site_of(".facebook.com") == "facebook.com"
    assert site_of("127.0.0.1") == "127.0.0.1" and site_of("localhost") == "localhost"


def test_same_site_links_only() -> None:
    start = "https://www.shop.example/"
    assert same_site("https://blog.shop.example/post", start)
    assert not same_site("http://www.shop.example/", start)  # scheme changes
    assert not same_site("https://elsewhere.example/", start)
    assert not same_site("javascript:alert(1)", start) and not same_site("mailto:a@shop.example", start)
    assert same_site("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/")
    assert not same_site("http://127.0.0.1:8000/a", "http://127.0.0.1:8080/")  # another server on the host
