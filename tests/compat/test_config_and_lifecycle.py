"""Server settings (flag > LAMBENT_* environment > lambent.toml > defaults) as seen through the
API, and process lifecycle: SIGTERM/SIGINT exit 0 and free the port, data survives a restart."""

from __future__ import annotations

import signal
import socket
import subprocess
import time

import pytest

from lambent_util import (
    Server,
    create_function,
    download,
    lambda_client,
    lambent_bin,
    make_zip,
    server_env,
    strip_meta,
    unique,
)


def arn_region_and_account(srv: Server, client_region: str) -> tuple[str, str]:
    c = lambda_client(srv.endpoint, region=client_region)
    arn = create_function(c, unique("cfg"))["FunctionArn"]
    parts = arn.split(":")
    assert parts[:3] == ["arn", "aws", "lambda"] and parts[5] == "function", arn
    return parts[3], parts[4]


@pytest.mark.parametrize(
    "flag,env,file,want",
    [
        (None, None, None, "us-east-1"),
        ("eu-west-1", None, None, "eu-west-1"),
        (None, "ap-northeast-1", None, "ap-northeast-1"),
        (None, None, "ap-south-1", "ap-south-1"),
        ("eu-west-1", "ap-northeast-1", "ap-south-1", "eu-west-1"),
        (None, "ap-northeast-1", "ap-south-1", "ap-northeast-1"),
        ("eu-west-1", None, "ap-south-1", "eu-west-1"),
    ],
    ids=["default", "flag", "env", "file", "flag_beats_env_and_file", "env_beats_file", "flag_beats_file"],
)
def test_region_precedence(tmp_path, flag, env, file, want):
    args, envs = [], {}
    if flag:
        args += ["--region", flag]
    if env:
        envs["LAMBENT_REGION"] = env
    if file:
        cfg = tmp_path / "lambent.toml"
        cfg.write_text(f'region = "{file}"\n')
        args += ["--config", str(cfg)]
    srv = Server.start(tmp_path / "data", args=args, env=envs)
    try:
        region, account = arn_region_and_account(srv, want)
        assert region == want
        assert account == "000000000000"
    finally:
        srv.stop_and_check()


def test_account_id_and_data_dir_from_file_and_env(tmp_path):
    cfg = tmp_path / "lambent.toml"
    cfg.write_text('account_id = "111122223333"\nregion = "eu-central-1"\n')
    data = tmp_path / "from-env"
    srv = Server.start(data, args=["--config", str(cfg), "--account-id", "123456789012"],
                       env={"LAMBENT_DATA_DIR": str(data)}, use_data_dir_flag=False)
    try:
        region, account = arn_region_and_account(srv, "eu-central-1")
        assert (region, account) == ("eu-central-1", "123456789012")
        assert str(data) in srv.log()
        assert data.is_dir() and any(data.iterdir()), "the data directory from LAMBENT_DATA_DIR was not used"
    finally:
        srv.stop_and_check()


def test_lambent_toml_in_working_directory(tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    (work / "lambent.toml").write_text('region = "sa-east-1"\n')
    srv = Server.start(tmp_path / "data", cwd=work)
    try:
        assert arn_region_and_account(srv, "sa-east-1")[0] == "sa-east-1"
    finally:
        srv.stop_and_check()


@pytest.mark.parametrize("args,toml", [(["--region", "US East 1"], None), (["--account-id", "12345"], None),
                                        ([], 'region = "us-east-1"\nbogus_key = 1\n'),
                                        ([], "this is = not [valid toml\n")],
                         ids=["bad_region", "bad_account", "unknown_toml_key", "broken_toml"])
def test_bad_settings_exit_nonzero(tmp_path, args, toml):
    if toml is not None:
        (tmp_path / "bad.toml").write_text(toml)
        args = args + ["--config", str(tmp_path / "bad.toml")]
    proc = subprocess.run([lambent_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                           *args], stdin=subprocess.DEVNULL, capture_output=True, env=server_env(), timeout=10,
                          cwd=str(tmp_path))
    assert proc.returncode != 0
    assert b"listening on" not in proc.stderr, proc.stderr[-2000:]


# ---------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen(1)
            return True
        except OSError:
            return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_exits_zero_and_frees_port(tmp_path, sig):
    srv = Server.start(tmp_path / "data")
    port = srv.port
    c = lambda_client(srv.endpoint)  # keeps an idle keep-alive connection open
    create_function(c, unique("sig"))
    c.list_functions()
    assert not port_is_free(port)
    t0 = time.monotonic()
    srv.proc.send_signal(sig)
    try:
        rc = srv.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        srv.kill()
        pytest.fail(f"lambent did not exit within 10 s of {sig.name} (idle keep-alive connection open)")
    assert rc == 0, f"exit code {rc} after {sig.name}; log:\n{srv.log()[-3000:]}"
    assert time.monotonic() - t0 < 10
    assert port_is_free(port), "the port is still taken after exit"
    with socket.socket() as s:
        s.settimeout(1)
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_restart_keeps_everything(tmp_path):
    data = tmp_path / "data"
    srv = Server.start(data)
    c = lambda_client(srv.endpoint)
    names = [unique("keep") for _ in range(3)]
    zips = {}
    for n in names:
        zips[n] = make_zip(marker=n)
        create_function(c, n, zips[n], Tags={"n": n}, Environment={"Variables": {"NAME": n}})
    c.update_function_configuration(FunctionName=names[0], Timeout=42)
    c.add_permission(FunctionName=names[1], StatementId="s", Action="lambda:InvokeFunction",
                     Principal="s3.amazonaws.com")
    c.delete_function(FunctionName=names[2])
    before = {n: strip_meta(c.get_function(FunctionName=n)) for n in names[:2]}
    policy = c.get_policy(FunctionName=names[1])["Policy"]
    port = srv.port
    srv.stop_and_check()

    # Same port and data directory.
    srv2 = Server.start(data, listen=f"127.0.0.1:{port}")
    try:
        c2 = lambda_client(srv2.endpoint)
        for n in names[:2]:
            got = strip_meta(c2.get_function(FunctionName=n))
            assert got["Configuration"] == before[n]["Configuration"]
            assert got["Tags"] == {"n": n}
            assert download(got["Code"]["Location"]) == zips[n]
        assert c2.get_function_configuration(FunctionName=names[0])["Timeout"] == 42
        assert c2.get_policy(FunctionName=names[1])["Policy"] == policy
        assert {f["FunctionName"] for f in c2.list_functions()["Functions"]} == set(names[:2])
    finally:
        srv2.stop_and_check()
