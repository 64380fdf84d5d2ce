"""The one stylesheet: WCAG contrast of every colour pair it declares, in the light and the dark
scheme (computed from the CSS file itself), what it must provide, and how it is cached."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import html5lib
import pytest
from lxml import etree, html

from tests.web.conftest import Client

CSS = (Path(__file__).resolve().parents[2] / "newsroom" / "web" / "static" / "site.css").read_text()
# The pairs the pages put together: text on a background (WCAG 1.4.3, AA: 4.5:1), and the
# borders of controls and the focus ring against what they sit on (WCAG 1.4.11: 3:1).
TEXT_PAIRS = [("--text", "--bg"), ("--muted", "--bg"), ("--link", "--bg"), ("--visited", "--bg"),
              ("--text", "--surface"), ("--muted", "--surface"), ("--link", "--surface"),
              ("--visited", "--surface"), ("--mark-text", "--mark-bg")]  # fmt: skip
NON_TEXT_PAIRS = [("--control", "--bg"), ("--control", "--surface"), ("--focus", "--bg"),
                  ("--focus", "--surface")]  # fmt: skip


def _blocks(css: str) -> list[tuple[str, str]]:
    """The top-level rules of `css` as (prelude, body), comments removed."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    blocks, depth, start, prelude = [], 0, 0, ""
    for i, c in enumerate(css):
        if c == "{":
            if depth == 0:
                prelude, start = css[start:i].strip(), i + 1
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                blocks.append((prelude, css[start:i]))
                start = i + 1
    return blocks


def _variables(body: str) -> dict[str, str]:
    return dict(re.findall(r"(--[a-z-]+)\s*:\s*([^;]+);", body))


def _scheme(prelude: str) -> dict[str, str]:
    """The custom properties that :root declares at top level, or inside the @media `prelude`."""
    blocks = _blocks(CSS)
    if prelude == "":
        return _variables(next(body for p, body in blocks if p == ":root"))
    inner = next(body for p, body in blocks if p == prelude)
    return _variables(next(body for p, body in _blocks(inner) if p == ":root"))


LIGHT, DARK = _scheme(""), _scheme("@media (prefers-color-scheme: dark)")


def _luminance(colour: str) -> float:
    """WCAG 2 relative luminance of an sRGB #rrggbb colour."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two colours, 1 to 21."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_contrast_formula_matches_known_ratios() -> None:
    """Black on white is 21:1, a colour on itself 1:1, and #777 on white just misses AA."""
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#5a4700", "#5a4700") == pytest.approx(1)
    assert 4.47 < contrast("#777777", "#ffffff") < 4.5


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_colour_pair_is_readable_in_both_schemes(scheme: str) -> None:
    """Text pairs reach WCAG AA (4.5:1); control borders and the focus ring 3:1."""
    colours = LIGHT if scheme == "light" else DARK
    assert all(re.fullmatch("#[0-9a-f]{6}", value) for value in colours.values()), colours
    for pairs, minimum in ((TEXT_PAIRS, 4.5), (NON_TEXT_PAIRS, 3.0)):
        for foreground, background in pairs:
            ratio = contrast(colours[foreground], colours[background])
            assert ratio >= minimum, (scheme, foreground, background, round(ratio, 2))


def test_both_schemes_declare_the_same_colours_and_rules_use_only_them() -> None:
    """The dark scheme overrides every colour; outside the declarations (and print, which is
    black on white), rules name colours only through the declared properties."""
    assert LIGHT.keys() == DARK.keys()
    pairs = {name for pair in TEXT_PAIRS + NON_TEXT_PAIRS for name in pair}
    assert pairs <= LIGHT.keys()
    for prelude, body in _blocks(CSS):
        if prelude in (":root", "@media (prefers-color-scheme: dark)", "@media print"):
            continue
        assert not re.search(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|hsla?\(", body), prelude
        used = set(re.findall(r"var\((--[a-z-]+)\)", body))
        assert used <= LIGHT.keys(), (prelude, used - LIGHT.keys())


def test_the_stylesheet_serves_phones_print_and_keyboards() -> None:
    """A fluid column, a dark scheme, a visible focus ring, and a print style that hides the
    navigation and the search form and prints black on white."""
    blocks = dict(_blocks(CSS))
    assert "outline" in blocks[":focus-visible"]
    assert "max-width" in blocks["body > header,\nbody > main,\nbody > footer"]
    printed = dict(_blocks(blocks["@media print"]))
    hidden = next(p for p, body in printed.items() if "display: none" in body)
    assert {"nav", "form.search", ".skip"} <= {s.strip() for s in hidden.split(",")}
    assert _variables(printed[":root"])["--text"] == "#000000"
    assert _variables(printed[":root"])["--bg"] == "#ffffff"


async def _stylesheet_path(site: Client) -> str:
    doc = html.fromstring(await (await site.get("/")).text())
    link = doc.find(".//link[@rel='stylesheet']")
    assert link is not None
    return link.get("href", "")


async def test_the_stylesheet_is_cached_for_a_year_under_a_name_that_is_its_digest(
    site: Client,
) -> None:
    """The linked URL carries a digest of the bytes it serves, which may be kept a year
    (immutable); it has an ETag, answers If-None-Match with 304, and gzips."""
    path = await _stylesheet_path(site)
    response = await site.get(path, headers={"Accept-Encoding": "identity"})
    body = await response.read()
    assert response.status == 200 and response.content_type == "text/css"
    assert body.decode() == CSS
    digest = re.fullmatch(r"/static/site\.([0-9a-f]+)\.css", path)
    assert digest and hashlib.blake2b(body, digest_size=6).hexdigest() == digest.group(1)
    cache = {part.strip() for part in response.headers["Cache-Control"].split(",")}
    assert cache == {"public", "max-age=31536000", "immutable"}
    etag = response.headers["ETag"]
    again = await site.get(path, headers={"If-None-Match": etag, "Accept-Encoding": "identity"})
    assert again.status == 304 and not await again.read()
    zipped = await site.get(path, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    assert gzip.decompress(await zipped.read()) == body
    assert zipped.headers["ETag"] != etag and "Accept-Encoding" in zipped.headers["Vary"]


@pytest.mark.parametrize(
    "path", ["/static/site.css", "/static/site.000000000000.css", "/static/..%2Fconfig.py"]
)
async def test_other_static_names_are_404s(site: Client, path: str) -> None:
    """Only the current stylesheet's name is served; nothing else under /static/ reaches a file."""
    response = await site.get(path)
    assert response.status == 404


async def test_the_icon_is_linked_by_its_digest_and_served_at_favicon_ico(site: Client) -> None:
    """Pages link the icon (so a browser asks for nothing that is missing); clients that look
    for /favicon.ico without a page get the same SVG there, cached a day."""
    page = html5lib.parse(await (await site.get("/")).text(), namespaceHTMLElements=False)
    link = page.find(".//link[@rel='icon']")
    assert link is not None and link.get("type") == "image/svg+xml"
    path = link.get("href", "")
    assert re.fullmatch(r"/static/icon\.[0-9a-f]{12}\.svg", path), path
    linked = await site.get(path)
    icon = await linked.read()
    assert linked.status == 200 and linked.content_type == "image/svg+xml"
    assert "immutable" in linked.headers["Cache-Control"]
    assert etree.fromstring(icon).tag == "{http://www.w3.org/2000/svg}svg"
    fallback = await site.get("/favicon.ico")
    assert fallback.status == 200 and await fallback.read() == icon
    assert fallback.headers["Cache-Control"] == "public, max-age=86400"
