"""The route table: its API (/_lambent/routes), route matching ({param}, {proxy+}, $default, method
over ANY), payload formats 1.0 and 2.0, API Gateway's error statuses, the integration timeout and
persistence across restarts."""

from __future__ import annotations

import json

import pytest

from http_front_support import create_zip_function, request, zip_files
from lambent_util import Server, unique

ECHO = '''
import json, time
def handler(event, context):
    path = event.get("rawPath") or event.get("path")
    if path.endswith("/sleep"):
        time.sleep(2)
    if path.endswith("/fail"):
        raise ValueError("nope")
    if path.endswith("/plain"):
        return "not a response"
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "multiValueHeaders": {"x-multi": ["a", "b"]}, "body": json.dumps(event)}
'''


def api(server, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    r = server.raw(method, path, body=data, headers={"content-type": "application/json"} if body else {})
    return r.status, (r.json() if r.body else None)


@pytest.fixture(scope="module")
def fn(lam):
    name = unique("routes")
    create_zip_function(lam, name, zip_files({"app.py": ECHO}), Timeout=10)
    v = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v)
    return name


@pytest.fixture
def routes(server):
    created = []

    def add(key, function, **kw):
        status, body = api(server, "POST", "/_lambent/routes", {"RouteKey": key, "FunctionName": function, **kw})
        assert status == 201, body
        created.append(body["RouteId"])
        return body

    yield add
    for route_id in created:
        server.raw("DELETE", f"/_lambent/routes/{route_id}")


def test_route_api(server, fn, routes):
    r = routes("GET /items/{id}", fn, Qualifier="live", TimeoutInMillis=5000)
    assert r["RouteKey"] == "GET /items/{id}" and r["FunctionName"] == fn and r["Qualifier"] == "live"
    assert r["PayloadFormatVersion"] == "2.0" and r["TimeoutInMillis"] == 5000
    status, body = api(server, "POST", "/_lambent/routes", {"RouteKey": "GET /items/{id}", "FunctionName": fn})
    assert status == 409, body
    for bad in [{"RouteKey": "GET items", "FunctionName": fn}, {"RouteKey": "GET /{a+}/b", "FunctionName": fn},
                {"RouteKey": "GET /x", "FunctionName": fn, "PayloadFormatVersion": "3.0"},
                {"RouteKey": "GET /x", "FunctionName": fn, "TimeoutInMillis": 40000},
                {"RouteKey": "GET /x"}]:
        status, body = api(server, "POST", "/_lambent/routes", bad)
        assert status == 400, (bad, body)
    status, listed = api(server, "GET", "/_lambent/routes")
    assert status == 200 and r["RouteId"] in [x["RouteId"] for x in listed["Routes"]]
    status, got = api(server, "GET", f"/_lambent/routes/{r['RouteId']}")
    assert status == 200 and got == r
    status, updated = api(server, "PUT", f"/_lambent/routes/{r['RouteId']}", {"PayloadFormatVersion": "1.0"})
    assert status == 200 and updated["PayloadFormatVersion"] == "1.0" and updated["Qualifier"] == "live"
    assert api(server, "GET", "/_lambent/routes/nope")[0] == 404


def test_matching_and_payload_2(server, fn, routes):
    routes("GET /items/{id}", fn)
    routes("ANY /items/{id}", fn)
    routes("ANY /files/{path+}", fn)
    routes("$default", fn)
    r = request(server, f"{server.endpoint}/_lambent/http/items/a%20b?x=1&x=2", headers={"cookie": "k=v"})
    assert r.status == 200, r.body
    assert r.all("x-multi") == ["a", "b"]
    e = r.json()
    assert e["version"] == "2.0" and e["routeKey"] == "GET /items/{id}" and e["rawPath"] == "/items/a%20b"
    assert e["pathParameters"] == {"id": "a b"} and e["queryStringParameters"] == {"x": "1,2"}
    assert e["cookies"] == ["k=v"] and e["requestContext"]["routeKey"] == "GET /items/{id}"
    assert e["requestContext"]["requestId"] == r.header("x-amzn-requestid")
    e = request(server, f"{server.endpoint}/_lambent/http/items/1", "DELETE").json()
    assert e["routeKey"] == "ANY /items/{id}"
    e = request(server, f"{server.endpoint}/_lambent/http/files/a/b/c.txt").json()
    assert e["pathParameters"] == {"path": "a/b/c.txt"}
    e = request(server, f"{server.endpoint}/_lambent/http/other").json()
    assert e["routeKey"] == "$default" and "pathParameters" not in e


def test_payload_1(server, fn, routes):
    routes("POST /v1/{name}", fn, PayloadFormatVersion="1.0")
    r = request(server, f"http://execute-api.localhost:{server.port}/v1/n1?a=1&a=2", "POST", b"\x00\x01",
                {"content-type": "application/octet-stream", "x-h": "v"})
    assert r.status == 200, r.body
    e = r.json()
    assert e["version"] == "1.0" and e["resource"] == "/v1/{name}" and e["path"] == "/v1/n1"
    assert e["httpMethod"] == "POST" and e["pathParameters"] == {"name": "n1"}
    assert e["queryStringParameters"] == {"a": "2"} and e["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert e["headers"]["x-h"] == "v" and e["multiValueHeaders"]["x-h"] == ["v"]
    assert e["isBase64Encoded"] is True and e["body"] == "AAE="
    assert e["requestContext"]["resourcePath"] == "/v1/{name}" and e["requestContext"]["httpMethod"] == "POST"
    assert e["stageVariables"] is None


def test_errors_and_timeouts(server, fn, routes):
    routes("GET /v2/{op}", fn, TimeoutInMillis=500)
    routes("GET /v1/{op}", fn, PayloadFormatVersion="1.0")
    routes("GET /ghost", unique("missing"))
    base = f"{server.endpoint}/_lambent/http"
    assert request(server, base + "/nothing/here").status == 404
    r = request(server, base + "/v2/fail")
    assert r.status == 500 and r.json() == {"message": "Internal Server Error"}
    r = request(server, base + "/v1/fail")
    assert r.status == 502 and r.json() == {"message": "Internal server error"}
    assert request(server, base + "/v1/plain").status == 502  # payload 1.0 needs statusCode
    assert request(server, base + "/v2/plain").body == b"not a response"
    r = request(server, base + "/v2/sleep")
    assert r.status == 504, (r.status, r.body)
    assert request(server, base + "/ghost").status == 500


def test_routes_survive_a_restart(tmp_path, lam):
    srv = Server.start(tmp_path / "data")
    try:
        client_fn = unique("persist")
        from lambent_util import lambda_client

        c = lambda_client(srv.endpoint)
        create_zip_function(c, client_fn, zip_files({"app.py": ECHO}))
        status, body = api(srv, "POST", "/_lambent/routes", {"RouteKey": "GET /p", "FunctionName": client_fn})
        assert status == 201, body
        url = c.create_function_url_config(FunctionName=client_fn, AuthType="NONE")["FunctionUrl"]
        c.add_permission(FunctionName=client_fn, StatementId="u", Action="lambda:InvokeFunctionUrl",
                         Principal="*", FunctionUrlAuthType="NONE")
        srv.stop_and_check()
        srv = Server.start(tmp_path / "data")
        assert request(srv, f"{srv.endpoint}/_lambent/http/p").status == 200
        # The URL keeps its id, on the new port.
        new_url = lambda_client(srv.endpoint).get_function_url_config(FunctionName=client_fn)["FunctionUrl"]
        assert new_url.split(".")[0] == url.split(".")[0]
        assert request(srv, new_url).status == 200
    finally:
        srv.stop_and_check()
