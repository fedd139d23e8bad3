"""Helpers for the function URL and route tests (test_function_urls*.py, test_routes*.py).

Function URLs are `http://<id>.lambda-url.<region>.localhost:<port>/`. `*.localhost` does not
resolve on every host, so requests connect to the server's own address and send the URL's host
name in `Host`, which is what a resolving client sends too.

Framework functions (FastAPI behind Mangum, Flask behind serverless-wsgi) are built by pip
installing pinned wheels for the host interpreter (which serves python3.12 functions) into a cache
under target/, then zipping them with the app.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import subprocess
import sys
import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lambent_util import REGION, REPO_ROOT, ROLE

FASTAPI_PACKAGES = ["fastapi==0.115.12", "mangum==0.19.0", "pydantic==2.11.4", "starlette==0.46.2"]
FLASK_PACKAGES = ["flask==3.1.1", "serverless-wsgi==3.1.0", "werkzeug==3.1.3"]


@dataclass
class Reply:
    status: int
    headers: list
    body: bytes

    def header(self, name: str):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def all(self, name: str) -> list:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        import json

        return json.loads(self.body)


def request(server, url: str, method: str = "GET", body: bytes = b"", headers: dict | None = None,
            timeout: float = 60.0, sign: tuple | None = None) -> Reply:
    """Sends a request for `url` (any host) to `server`'s socket, with `Host` from the URL.
    `sign=(key, secret)` signs it with SigV4 for service lambda, as an IAM caller would."""
    parts = urllib.parse.urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    hdrs = {"Host": parts.netloc}
    hdrs.update(headers or {})
    if sign:
        aws = AWSRequest(method=method, url=url, data=body, headers=dict(hdrs))
        SigV4Auth(Credentials(*sign), "lambda", REGION).add_auth(aws)
        hdrs = dict(aws.headers.items())
    host, port = server.address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers=hdrs)
        r = conn.getresponse()
        return Reply(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


def zip_files(files: dict, tree: Path | None = None) -> bytes:
    """A zip of `files` (name -> str|bytes) plus everything under `tree`."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if tree is not None:
            for path in sorted(tree.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    zf.write(path, path.relative_to(tree).as_posix())
        for name, data in files.items():
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            zi.external_attr = 0o100644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
    return buf.getvalue()


def site_packages(packages: list) -> Path:
    """Pinned wheels for the host interpreter, installed once into target/compat-pip/<hash>."""
    key = hashlib.sha256((" ".join(packages) + sys.version).encode()).hexdigest()[:16]
    target = REPO_ROOT / "target" / "compat-pip" / key
    done = target / ".complete"
    if not done.exists():
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "--only-binary=:all:", "--target", str(target), *packages],
            check=True, timeout=600,
        )
        done.write_text("ok\n")
    return target


def create_zip_function(lam, name: str, zip_bytes: bytes, handler: str = "app.handler", **kw) -> dict:
    params = dict(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler=handler,
                  Code={"ZipFile": zip_bytes}, Timeout=30, MemorySize=256)
    params.update(kw)
    return lam.create_function(**params)


def public_url(lam, name: str, qualifier: str | None = None, **kw) -> str:
    """Creates a NONE URL with the permission Lambda requires for it; returns the URL."""
    q = {"Qualifier": qualifier} if qualifier else {}
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", **q, **kw)["FunctionUrl"]
    lam.add_permission(FunctionName=name, StatementId="public-url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE", **q)
    return url


FASTAPI_APP = '''
from typing import Optional
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from mangum import Mangum

app = FastAPI()

@app.get("/items/{item_id}")
def item(item_id: int, request: Request, q: Optional[str] = None):
    return {"item_id": item_id, "q": q, "m": request.query_params.getlist("m")}

@app.post("/json")
async def json_body(payload: dict):
    return {"got": payload}

@app.post("/echo")
async def echo(request: Request):
    return Response(content=await request.body(), media_type=request.headers.get("content-type"))

@app.get("/cookies")
def cookies(request: Request):
    r = JSONResponse({"cookies": dict(request.cookies)})
    r.set_cookie("a", "1")
    r.set_cookie("b", "2")
    return r

@app.get("/redirect")
def redirect():
    return RedirectResponse("/items/1", status_code=302)

@app.get("/boom")
def boom():
    raise RuntimeError("boom")

handler = Mangum(app, lifespan="off")
'''

FLASK_APP = '''
from flask import Flask, jsonify, make_response, redirect, request
import serverless_wsgi

app = Flask(__name__)

@app.route("/items/<int:item_id>")
def item(item_id):
    return jsonify(item_id=item_id, q=request.args.get("q"), m=request.args.getlist("m"))

@app.route("/json", methods=["POST"])
def json_body():
    return jsonify(got=request.get_json())

@app.route("/echo", methods=["POST"])
def echo():
    return app.response_class(request.get_data(), mimetype=request.content_type)

@app.route("/cookies")
def cookies():
    r = make_response(jsonify(cookies=dict(request.cookies)))
    r.set_cookie("a", "1")
    r.set_cookie("b", "2")
    return r

@app.route("/redirect")
def go():
    return redirect("/items/1", code=302)

@app.route("/boom")
def boom():
    raise RuntimeError("boom")

def handler(event, context):
    return serverless_wsgi.handle_request(app, event, context)
'''


def framework_zip(kind: str) -> bytes:
    if kind == "fastapi":
        return zip_files({"app.py": FASTAPI_APP}, site_packages(FASTAPI_PACKAGES))
    return zip_files({"app.py": FLASK_APP}, site_packages(FLASK_PACKAGES))


def check_framework(server, base: str) -> None:
    """Drives a framework app at `base` (no trailing slash) over HTTP: paths, query strings, JSON
    and binary bodies, cookies, redirects, not found and errors."""
    r = request(server, base + "/items/7?q=hello%20world&m=1&m=2")
    assert r.status == 200, (r.status, r.body[:500])
    assert r.json() == {"item_id": 7, "q": "hello world", "m": ["1", "2"]}, r.body

    r = request(server, base + "/json", "POST", b'{"a": [1, 2, {"b": null}]}',
                {"content-type": "application/json"})
    assert r.status == 200, (r.status, r.body[:500])
    assert r.json() == {"got": {"a": [1, 2, {"b": None}]}}

    blob = bytes(range(256)) * 4
    r = request(server, base + "/echo", "POST", blob, {"content-type": "application/octet-stream"})
    assert r.status == 200, (r.status, r.body[:500])
    assert r.body == blob, "binary body changed on the way"

    r = request(server, base + "/cookies", headers={"cookie": "s=1; t=two"})
    assert r.status == 200, (r.status, r.body[:500])
    assert r.json() == {"cookies": {"s": "1", "t": "two"}}
    set_cookies = r.all("set-cookie")
    assert len(set_cookies) == 2 and {c.split(";")[0] for c in set_cookies} == {"a=1", "b=2"}, set_cookies

    r = request(server, base + "/redirect")
    assert r.status == 302, (r.status, r.body[:300])
    assert (r.header("location") or "").endswith("/items/1"), r.headers

    r = request(server, base + "/no/such/page")
    assert r.status == 404, (r.status, r.body[:300])

    r = request(server, base + "/boom")
    assert r.status in (500, 502), (r.status, r.body[:300])
