"""SigV4 verification (LAMBENT_ACCESS_KEY_ID / LAMBENT_SECRET_ACCESS_KEY set) and the refusal to
listen beyond loopback without credentials."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

from lambent_util import (
    ACCOUNT,
    REGION,
    Server,
    aws_cli,
    call_error,
    create_function,
    free_port,
    http_get,
    lambda_client,
    lambent_bin,
    list_all_functions,
    make_zip,
    server_env,
    sha256_b64,
    unique,
)

KEY = "AKIDTEST"
SECRET = "secret"


@pytest.fixture(scope="module")
def signed_server():
    tmp = Path(tempfile.mkdtemp(prefix="lambent-signed-"))
    srv = Server.start(tmp / "data", env={"LAMBENT_ACCESS_KEY_ID": KEY, "LAMBENT_SECRET_ACCESS_KEY": SECRET})
    try:
        yield srv
    finally:
        running = srv.running()
        if running:
            srv.stop_and_check()
        shutil.rmtree(tmp, ignore_errors=True)
    assert running, srv.log()[-4000:]


@pytest.fixture(scope="module")
def good(signed_server):
    return lambda_client(signed_server.endpoint, key=KEY, secret=SECRET)


def test_right_key_works(signed_server, good):
    name = unique("signed")
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    z = make_zip(marker=name)
    created = create_function(good, name, z, Tags={"a": "1", "b": "2", "c": "3"})
    assert created["CodeSha256"] == sha256_b64(z)
    # A full ARN as the name: percent-encoded path, signed over the encoded path.
    assert good.get_function(FunctionName=arn)["Configuration"]["FunctionName"] == name
    assert good.get_function_configuration(FunctionName=f"{arn}:$LATEST")["FunctionName"] == name
    assert good.get_function(FunctionName=name, Qualifier="$LATEST")["Configuration"]["FunctionName"] == name
    good.update_function_configuration(FunctionName=arn, Description="signed update", Environment={
        "Variables": {"WITH_SPACES": "a b c", "SYMBOLS": "x=y&z/+%"}})
    # Repeated query parameters (tagKeys=a&tagKeys=b), keys with characters that need encoding.
    good.tag_resource(Resource=arn, Tags={"with space": "v", "k/x": "y"})
    good.untag_resource(Resource=arn, TagKeys=["a", "b", "with space"])
    assert good.list_tags(Resource=arn)["Tags"] == {"c": "3", "k/x": "y"}
    # Query parameters on list.
    page = good.list_functions(MaxItems=1)
    assert len(page["Functions"]) == 1
    assert name in {f["FunctionName"] for f in list_all_functions(good)}
    good.add_permission(FunctionName=arn, StatementId="s", Action="lambda:InvokeFunction",
                        Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::b")
    good.remove_permission(FunctionName=arn, StatementId="s")
    good.get_account_settings()
    good.delete_function(FunctionName=arn)


def test_cli_with_right_key(signed_server, good):
    name = unique("signedcli")
    create_function(good, name)
    r = aws_cli(signed_server.endpoint, "lambda", "get-function", "--function-name", name, key=KEY, secret=SECRET)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["Configuration"]["FunctionName"] == name
    r = aws_cli(signed_server.endpoint, "lambda", "list-functions", key=KEY, secret="wrong")
    assert r.returncode != 0 and ("403" in r.stderr or "InvalidSignatureException" in r.stderr), r.stderr


@pytest.mark.parametrize(
    "client_kw,codes",
    [
        ({"key": KEY, "secret": "not-the-secret"}, {"InvalidSignatureException", "SignatureDoesNotMatch"}),
        ({"key": "AKIDUNKNOWN", "secret": SECRET}, {"UnrecognizedClientException", "InvalidClientTokenId"}),
        ({"unsigned": True}, None),
    ],
    ids=["wrong_secret", "unknown_key", "unsigned"],
)
def test_bad_credentials_are_403(signed_server, good, client_kw, codes):
    name = unique("victim")
    create_function(good, name)
    bad = lambda_client(signed_server.endpoint, **client_kw)
    for call in (lambda: bad.get_function(FunctionName=name), lambda: bad.list_functions(),
                 lambda: bad.delete_function(FunctionName=name),
                 lambda: bad.update_function_configuration(FunctionName=name, Description="hacked")):
        err = call_error(call)
        assert err.status == 403, f"want 403, got {err}"
        assert err.code, err
        if codes:
            assert err.code in codes, err
        assert "ResponseMetadata" in err.response
    # Nothing happened.
    cfg = good.get_function(FunctionName=name)["Configuration"]
    assert cfg["Description"] == ""


def test_raw_unsigned_and_healthz(signed_server):
    r = signed_server.raw("GET", "/2015-03-31/functions", sign=False)
    assert r.status == 403, r.status
    assert r.error_type(), r.headers
    json.loads(r.body)
    status, _, _ = http_get(signed_server.endpoint + "/healthz")
    assert status == 200


def test_tampered_request_is_refused(signed_server, good):
    """A correctly signed request whose body was changed after signing."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    import urllib.request
    import urllib.error

    name = unique("tamper")
    create_function(good, name)
    url = f"{signed_server.endpoint}/2015-03-31/functions/{name}/configuration"
    body = json.dumps({"Description": "signed"}).encode()
    req = AWSRequest(method="PUT", url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(KEY, SECRET), "lambda", REGION).add_auth(req)
    tampered = json.dumps({"Description": "sigNed"}).encode()
    headers = dict(req.headers.items())
    assert len(tampered) == len(body)
    r = urllib.request.Request(url, data=tampered, headers=headers, method="PUT")
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            status = resp.status
    except urllib.error.HTTPError as e:
        status = e.code
    assert status == 403, status
    assert good.get_function(FunctionName=name)["Configuration"]["Description"] == ""


def test_refuses_public_listen_without_credentials(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [lambent_bin(), "serve", "--listen", f"0.0.0.0:{port}", "--data-dir", str(tmp_path / "data")],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server_env(),
        cwd=str(tmp_path),
    )
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"lambent kept running on 0.0.0.0 without credentials: {err[-2000:]!r}")
    assert time.monotonic() - started < 5, "it should refuse at once"
    assert proc.returncode != 0
    text = (out + err).decode(errors="replace")
    assert "LAMBENT_ACCESS_KEY_ID" in text, text
    assert "listening on" not in text, text
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex(("127.0.0.1", port)) != 0, "something listens on the port"


def test_public_listen_with_credentials_is_allowed(tmp_path):
    srv = Server.start(tmp_path / "data", listen="0.0.0.0:0",
                       env={"LAMBENT_ACCESS_KEY_ID": KEY, "LAMBENT_SECRET_ACCESS_KEY": SECRET})
    try:
        endpoint = f"http://127.0.0.1:{srv.port}"
        c = lambda_client(endpoint, key=KEY, secret=SECRET)
        assert c.list_functions()["Functions"] == []
    finally:
        srv.stop_and_check()
