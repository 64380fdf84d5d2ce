"""HTML pages for people: the home page with the latest articles and where to go next."""

from __future__ import annotations

from aiohttp import web
from lxml import etree
from lxml.html import builder as E

from newsroom.web.http import NEWSROOM, POSITION_HEADER, SETTINGS

HOME_COUNT = 20
_EXAMPLE_QUERY = """curl -s {url}/graphql -H 'content-type: application/json' \\
  -d '{{"query":"{{ articles {{ id title category author_name }} }}"}}'"""


async def home(request: web.Request) -> web.Response:
    """GET /: the latest published articles, and how to query and write them."""
    newsroom = request.app[NEWSROOM]
    newsroom.projectors["articles"].check()
    latest = newsroom.articles.latest("PUBLISHED", count=HOME_COUNT)
    url = request.app[SETTINGS].public_url
    page = E.HTML(
        E.HEAD(E.META(charset="utf-8"), E.TITLE("newsroom")),
        E.BODY(
            E.H1("newsroom"),
            E.P("An event-sourced news back end. Latest published articles:"),
            E.UL(*[E.LI(f"{a.title} — {a.category}, by {a.author_name}") for a in latest])
            if latest
            else E.P("No published articles yet."),
            E.H2("Try it"),
            E.PRE(_EXAMPLE_QUERY.format(url=url)),
            E.P(
                "Health: ",
                E.A("/healthz", href="/healthz"),
                ", readiness: ",
                E.A("/readyz", href="/readyz"),
                ".",
            ),
        ),
    )
    html = etree.tostring(page, method="html", encoding="unicode", doctype="<!DOCTYPE html>")
    response = web.Response(text=html, content_type="text/html")
    response.headers[POSITION_HEADER] = str(newsroom.position)
    return response


def add_routes(app: web.Application) -> None:
    """Mount the pages."""
    app.router.add_get("/", home)
