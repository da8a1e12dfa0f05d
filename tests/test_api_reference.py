"""The API reference as a reader sees it: the built site, not the docstrings' source.

mkdocstrings renders Google-style docstrings as Markdown: a Sphinx role (``:meth:`x```)
shows as literal text, a ``>>>`` example becomes three nested block quotes, and an
unformatted signature is one long line. These tests read the HTML of a strict build.
"""

from __future__ import annotations

import html
import importlib
import re
from pathlib import Path

import pytest

PUBLIC_MODULES = ["license_token", "license_token.store", "license_token.startup",
                  "license_token.aws", "license_token.aws.marketplace",
                  "license_token.aws.credentials", "license_token.node", "license_token.testing"]
SPHINX_ROLE = re.compile(r":(meth|class|func|data|attr|exc|mod|obj):`")


def _pages(site: Path) -> dict[str, str]:
    return {path.relative_to(site).as_posix(): path.read_text(encoding="utf-8")
            for path in site.rglob("*.html")}


def _api(site: Path) -> str:
    return (site / "reference" / "api" / "index.html").read_text(encoding="utf-8")


def _text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_no_sphinx_role_or_doctest_directive_shows(built_site: tuple[Path, str]) -> None:
    site, _ = built_site
    for page, source in _pages(site).items():
        text = _text(source)
        assert not SPHINX_ROLE.search(text), (page, SPHINX_ROLE.findall(text)[:5])
        assert "doctest:" not in text, page


def test_examples_are_code_blocks_not_block_quotes(built_site: tuple[Path, str]) -> None:
    site, _ = built_site
    for page, source in _pages(site).items():
        for quote in re.findall(r"<blockquote>(.*?)</blockquote>", source, re.S):
            assert "<blockquote>" not in quote, (page, _text(quote)[:200])  # ">>>" rendered
            assert ">>>" not in _text(quote), (page, _text(quote)[:200])
    examples = re.findall(r'<details class="example".*?</details>', _api(site), re.S)
    assert examples, "no example in the API reference"
    for example in examples:
        assert "<pre" in example and "<code" in example, _text(example)[:200]


def test_signatures_are_formatted(built_site: tuple[Path, str]) -> None:
    """ruff formats them (the docs extra installs it): one parameter a line when long."""
    site, log = built_site
    assert "Formatting signatures requires" not in log
    verifier = _api(site).split('id="license_token.Verifier"', 1)[1]
    signature = re.search(r'<div class="doc-signature highlight">(.*?)</div>', verifier, re.S)
    assert signature is not None
    lines = _text(signature.group(1)).strip().splitlines()
    assert lines[0] == "Verifier(" and lines[-1] == ")", lines
    assert "    keys: TrustStore," in lines


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_is_documented(module_name: str,
                                         built_site: tuple[Path, str]) -> None:
    site, _ = built_site
    api = _api(site)
    module = importlib.import_module(module_name)
    for name in module.__all__:
        qualified = f"{module_name}.{name}"
        assert f'id="{qualified}"' in api, f"{qualified} is not in the API reference"


def test_the_emulators_identity_service_is_documented(built_site: tuple[Path, str]) -> None:
    api = _api(built_site[0])
    for anchor in ("license_token.testing.LocalLicenseManager.identity",
                   "license_token.testing.IdentityService.require_issued_credentials",
                   "license_token.testing.IdentityService.signers",
                   "license_token.testing.IdentityService.delete_token",
                   "license_token.testing.IdentityService.expire_credentials"):
        assert f'id="{anchor}"' in api, anchor


def test_wide_code_is_readable(built_site: tuple[Path, str]) -> None:
    """The theme's 800 px column is widened and long code lines wrap."""
    site, _ = built_site
    css = (site / "css" / "extra.css").read_text()
    assert re.search(r"\.wy-nav-content\s*\{\s*max-width:\s*1100px", css)
    assert "white-space: pre-wrap" in css
    assert 'href="../../css/extra.css"' in _api(site)
