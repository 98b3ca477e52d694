"""The QA plugin beside pytest-playwright, which QA teams already use: no fixture or option
collides, and one session can use both plugins' pages in either order."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER_CONFTEST = '''
import pytest

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    # Playwright cannot download its own browser here: the system Chromium, no network
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium",
            "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]}
'''

INNER_TESTS = '''
def test_ours_first(consent_page):
    consent_page.goto("/")
    assert consent_page.banner.is_visible()
    consent_page.reject_all()
    assert consent_page.state()["decided"]

def test_theirs(page):  # pytest-playwright's own fixture
    page.set_content("<p id=x>hello</p>")
    assert page.text_content("#x") == "hello"

def test_ours_again(consent_new_page):
    p = consent_new_page(locale="en")
    p.goto("/products")
    assert p.banner.is_visible()
'''


@pytest.mark.local_gateway
def test_beside_pytest_playwright(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_inner=INNER_TESTS)
    result = pytester.runpytest_subprocess(timeout=240)  # both plugins load by their entry points
    result.assert_outcomes(passed=3)
