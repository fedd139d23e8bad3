"""Real web frameworks as functions, driven over HTTP through a function URL and through a route
of the route table with both payload formats: FastAPI behind Mangum and Flask behind
serverless-wsgi, installed into the function zip from PyPI (pinned)."""

from __future__ import annotations

import pytest

from http_front_support import (
    check_framework,
    create_zip_function,
    framework_zip,
    public_url,
    request,
)
from lambent_util import unique


@pytest.fixture(scope="module")
def apps(lam):
    names = {}
    for kind in ("fastapi", "flask"):
        name = unique(kind)
        create_zip_function(lam, name, framework_zip(kind))
        names[kind] = name
    return names


@pytest.mark.parametrize("kind", ["fastapi", "flask"])
def test_framework_through_function_url(server, lam, apps, kind):
    url = public_url(lam, apps[kind])
    check_framework(server, url.rstrip("/"))
    # The path form reaches the same function for clients that cannot set Host.
    url_id = url.split("//", 1)[1].split(".", 1)[0]
    r = request(server, f"{server.endpoint}/_lambent/url/{url_id}/items/3?q=p")
    assert r.status == 200 and r.json()["item_id"] == 3, (r.status, r.body[:300])


@pytest.mark.parametrize("kind", ["fastapi", "flask"])
@pytest.mark.parametrize("version", ["2.0", "1.0"])
def test_framework_through_route(server, lam, apps, kind, version):
    route = server.raw(
        "POST", "/_lambent/routes",
        body=('{"RouteKey": "ANY /{proxy+}", "FunctionName": "%s", "PayloadFormatVersion": "%s"}'
              % (apps[kind], version)).encode(),
        headers={"content-type": "application/json"},
    )
    assert route.status == 201, (route.status, route.body)
    route_id = route.json()["RouteId"]
    try:
        check_framework(server, f"{server.endpoint}/_lambent/http")
        # The same table answers on the execute-api host name.
        r = request(server, f"http://api1.execute-api.us-east-1.localhost:{server.port}/items/5")
        assert r.status == 200 and r.json()["item_id"] == 5, (r.status, r.body[:300])
    finally:
        assert server.raw("DELETE", f"/_lambent/routes/{route_id}").status == 204
