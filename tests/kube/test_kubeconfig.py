"""``connect()``'s own kubeconfig and in-cluster reading against ``kubernetes.config``'s.

For each kubeconfig form the truth is the official loader (``load_configuration``, which still
uses it): the client ``connect()`` builds must send the same ``Authorization`` header, open the
same kind of pool (direct or through the same proxy) with the same TLS settings (the same CA,
client certificate and key: the same files, or for ``-data`` fields temporary files of the same
bytes), and refuse a bad file with the same message. The common forms must be read here
(``kubepulse.kube.kubeconfig.Configuration``), the plugin forms handed to the official loader.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader

from kubepulse.kube import kubeconfig
from kubepulse.kube.client import KubeClient, connect, load_configuration
from kubepulse.kube.kubeconfig import ConfigError, Configuration, load_incluster

CA = b"-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n"
CERT = b"-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n"
KEY = b"-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n"
SERVER = "https://127.0.0.1:6443"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig_doc(
    cluster: dict[str, Any], user: dict[str, Any] | None, **extra: Any
) -> dict[str, Any]:
    context: dict[str, Any] = {"cluster": "c"}
    if user is not None:
        context["user"] = "u"
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "contexts": [{"name": "ctx", "context": context}],
        "users": [{"name": "u", "user": user}] if user is not None else [],
        "current-context": "ctx",
    }
    doc.update(extra)
    return doc


def exec_plugin(*args: str) -> dict[str, Any]:
    """A user's ``exec`` credential plugin: this Python with ``args``."""
    return {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": list(args),
    }


# Each case: a kubeconfig document (its files are written next to it, some in sub/).
OWN_CASES: dict[str, dict[str, Any]] = {
    "token, CA file": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"}, {"token": "abc"}
    ),
    "token, CA data": kubeconfig_doc(
        {"server": SERVER, "certificate-authority-data": b64(CA)}, {"token": "abc"}
    ),
    "CA data wins over the CA file": kubeconfig_doc(
        {
            "server": SERVER,
            "certificate-authority-data": b64(CERT),
            "certificate-authority": "missing.crt",
        },
        {"token": "abc"},
    ),
    "empty CA data means the system's CAs": kubeconfig_doc(
        {"server": SERVER, "certificate-authority-data": ""}, {"token": "abc"}
    ),
    "client certificate files, relative": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "sub/../ca.crt"},
        {"client-certificate": "sub/client.crt", "client-key": "sub/client.key"},
    ),
    "client certificate data": kubeconfig_doc(
        {"server": SERVER, "certificate-authority-data": b64(CA)},
        {"client-certificate-data": b64(CERT), "client-key-data": b64(KEY)},
    ),
    "client certificate data with line breaks": kubeconfig_doc(
        {"server": SERVER, "certificate-authority-data": b64(CA)},
        {
            "client-certificate-data": "\n".join(b64(CERT)[i : i + 8] for i in range(0, 80, 8)),
            "client-key-data": b64(KEY),
        },
    ),
    "client certificate and token": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"},
        {"client-certificate": "sub/client.crt", "client-key": "sub/client.key", "token": "t"},
    ),
    "token file, unstripped": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"}, {"tokenFile": "sub/token"}
    ),
    "token wins over the token file": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"},
        {"token": "inline", "tokenFile": "sub/token"},
    ),
    "empty token, token file ignored, basic auth": kubeconfig_doc(
        {"server": SERVER, "insecure-skip-tls-verify": True},
        {"token": "", "tokenFile": "sub/token", "username": "ann", "password": "pw:1"},
    ),
    "token wins over basic auth": kubeconfig_doc(
        {"server": SERVER, "insecure-skip-tls-verify": True},
        {"token": "tok", "username": "ann", "password": "pw"},
    ),
    "basic auth": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"},
        {"username": "ann", "password": "s3cr3t"},
    ),
    "username without password": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"}, {"username": "ann"}
    ),
    "insecure-skip-tls-verify": kubeconfig_doc(
        {"server": SERVER, "insecure-skip-tls-verify": True}, {"token": "abc"}
    ),
    "insecure-skip-tls-verify false": kubeconfig_doc(
        {"server": SERVER, "insecure-skip-tls-verify": False, "certificate-authority": "ca.crt"},
        {"token": "abc"},
    ),
    "tls-server-name": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt", "tls-server-name": "api.internal"},
        {"token": "abc"},
    ),
    "server with trailing slashes and a path": kubeconfig_doc(
        {"server": "https://127.0.0.1:6443/prefix//", "certificate-authority": "ca.crt"},
        {"token": "abc"},
    ),
    "plain http: TLS fields not read": kubeconfig_doc(
        {"server": "http://127.0.0.1:8080", "certificate-authority": "missing.crt"},
        {"token": "abc", "client-certificate": "missing.crt", "client-key": "missing.key"},
    ),
    "no server": kubeconfig_doc({"insecure-skip-tls-verify": True}, {"token": "abc"}),
    "no user in the context": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"}, None
    ),
    "empty user": kubeconfig_doc({"server": SERVER, "certificate-authority": "ca.crt"}, {}),
    "the context's user is not listed": {
        **kubeconfig_doc({"server": SERVER, "certificate-authority": "ca.crt"}, {"token": "x"}),
        "users": [{"name": "someone-else", "user": {"token": "y"}}],
    },
    "same-named entries: the first is used": {
        "clusters": [
            {"name": "c", "cluster": {"server": SERVER, "certificate-authority": "ca.crt"}},
            {"name": "c", "cluster": {"server": "https://10.0.0.1", "tls-server-name": "x"}},
        ],
        "contexts": [
            {"name": "ctx", "context": {"cluster": "c", "user": "u"}},
            {"name": "ctx", "context": {"cluster": "other", "user": "nobody"}},
        ],
        "users": [
            {"name": "u", "user": {"token": "first"}},
            {"name": "u", "user": {"token": "second"}},
        ],
        "current-context": "ctx",
    },
    "several contexts: the current one": {
        "clusters": [
            {
                "name": "a",
                "cluster": {"server": "https://10.0.0.1", "insecure-skip-tls-verify": True},
            },
            {"name": "b", "cluster": {"server": SERVER, "certificate-authority": "ca.crt"}},
        ],
        "contexts": [
            {"name": "one", "context": {"cluster": "a", "user": "x"}},
            {"name": "two", "context": {"cluster": "b", "user": "y", "namespace": "ns"}},
        ],
        "users": [
            {"name": "x", "user": {"token": "tx"}},
            {"name": "y", "user": {"token": "ty"}},
        ],
        "current-context": "two",
        "preferences": {},
    },
}

# Read by the official loader (plugins, or what the official loader refuses in its own words).
FALLBACK_CASES: dict[str, dict[str, Any]] = {
    "exec plugin token": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"},
        {"exec": exec_plugin("sub/plugin.py")},
    ),
    "token and an exec plugin": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"},
        {"token": "static", "exec": exec_plugin("sub/plugin.py")},
    ),
    "a failing exec plugin (logged; no credentials)": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"},
        {"exec": exec_plugin("-c", "raise SystemExit(3)")},
    ),
    "oidc auth-provider": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"},
        {
            "auth-provider": {
                "name": "oidc",
                "config": {
                    # header.payload.signature, the payload {"exp": 4102444800} (year 2100)
                    "id-token": "e30."
                    + base64.urlsafe_b64encode(b'{"exp": 4102444800}').decode().rstrip("=")
                    + ".c2ln",
                    "idp-issuer-url": "https://127.0.0.1:1",
                },
            }
        },
    ),
    "an unknown auth-provider, then the token": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"},
        {"auth-provider": {"name": "other"}, "token": "after"},
    ),
    "a token that is a number": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"}, {"token": 12345}
    ),
    "insecure-skip-tls-verify as a string": kubeconfig_doc(
        {"server": SERVER, "insecure-skip-tls-verify": "false"}, {"token": "abc"}
    ),
    "a context name that is a number": {
        **kubeconfig_doc({"server": SERVER, "certificate-authority": "ca.crt"}, {"token": "n"}),
        "contexts": [{"name": 7, "context": {"cluster": "c", "user": "u"}}],
        "current-context": 7,
    },
}

ERROR_CASES: dict[str, dict[str, Any]] = {
    "missing CA file": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "nope.crt"}, {"token": "abc"}
    ),
    "missing client key file": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"},
        {"client-certificate": "sub/client.crt", "client-key": "sub/nope.key"},
    ),
    "missing token file": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"}, {"tokenFile": "nope"}
    ),
    "bad base64": kubeconfig_doc(
        {"server": SERVER, "certificate-authority-data": "abc"}, {"token": "abc"}
    ),
    "null token": kubeconfig_doc(
        {"server": SERVER, "certificate-authority": "ca.crt"}, {"token": None}
    ),
    "no current-context": {
        k: v
        for k, v in kubeconfig_doc({"server": SERVER}, {"token": "abc"}).items()
        if k != "current-context"
    },
    "current-context not listed": kubeconfig_doc(
        {"server": SERVER}, {"token": "abc"}, **{"current-context": "elsewhere"}
    ),
    "context's cluster not listed": {
        **kubeconfig_doc({"server": SERVER}, {"token": "abc"}),
        "contexts": [{"name": "ctx", "context": {"cluster": "gone", "user": "u"}}],
    },
    "context without a cluster": {
        **kubeconfig_doc({"server": SERVER}, {"token": "abc"}),
        "contexts": [{"name": "ctx", "context": {"user": "u"}}],
    },
    "an entry without a name": {
        **kubeconfig_doc({"server": SERVER}, {"token": "abc"}),
        "users": [{"user": {"token": "x"}}],
    },
}

PLUGIN = """\
import json
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1beta1",
    "kind": "ExecCredential",
    "status": {"token": "from-the-plugin"},
}))
"""


def write_case(directory: Path, doc: dict[str, Any]) -> Path:
    (directory / "sub").mkdir()
    (directory / "ca.crt").write_bytes(CA)
    (directory / "sub" / "client.crt").write_bytes(CERT)
    (directory / "sub" / "client.key").write_bytes(KEY)
    (directory / "sub" / "token").write_text("from-file\n")
    (directory / "sub" / "plugin.py").write_text(PLUGIN)
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy, no service account and no kubeconfig from the machine running the tests."""
    for name in (*PROXY_VARIABLES, "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def behaviour(client: KubeClient, directory: Path) -> dict[str, Any]:
    """What the client sends and how it connects; a file inside ``directory`` by its path, any
    other (a ``-data`` field written out) by its bytes."""

    def file(path: Any) -> Any:
        if path is None:
            return None
        if str(path).startswith(str(directory)):
            return ("file", str(path))
        return ("written", Path(path).read_bytes())

    pool = client._pool
    kw = dict(pool.connection_pool_kw)
    for key in ("ca_certs", "cert_file", "key_file"):
        if key in kw:
            kw[key] = file(kw[key])
    kw["retries"] = repr(kw["retries"])  # Retry has no equality
    return {
        "base_url": client.base_url,
        "headers": client._headers(),
        "pool": type(pool).__name__,
        "proxy": str(getattr(pool, "proxy", None)),
        "proxy_headers": getattr(pool, "proxy_headers", None),
        "pool_kw": kw,
    }


def official_client(path: str | None) -> KubeClient:
    configuration = load_configuration(path)
    assert isinstance(configuration, k8s.Configuration)
    return KubeClient(configuration)


def read_as_official(path: str | None, directory: Path) -> KubeClient:
    """``connect(path)``, checked to behave as the official loader's client for that file."""
    ours = connect(path)
    assert behaviour(ours, directory) == behaviour(official_client(path), directory)
    return ours


def test_the_cases_differ_from_each_other(tmp_path: Path) -> None:
    """Control: the comparison below is not between identical defaults; the cases give many
    different clients (headers, TLS files, verification, proxies)."""
    seen = []
    for i, doc in enumerate(OWN_CASES.values()):
        directory = tmp_path / str(i)
        directory.mkdir()
        client = official_client(str(write_case(directory, doc)))
        seen.append(json.dumps(behaviour(client, directory), default=repr))
    assert len(OWN_CASES) == 25
    assert len(set(seen)) >= 20


@pytest.mark.parametrize("case", OWN_CASES)
def test_common_forms_are_read_here_as_the_official_loader_reads_them(
    case: str, tmp_path: Path
) -> None:
    path = str(write_case(tmp_path, OWN_CASES[case]))
    assert type(read_as_official(path, tmp_path).configuration) is Configuration


@pytest.mark.parametrize("case", FALLBACK_CASES)
def test_other_forms_go_to_the_official_loader(case: str, tmp_path: Path) -> None:
    path = str(write_case(tmp_path, FALLBACK_CASES[case]))
    assert isinstance(read_as_official(path, tmp_path).configuration, k8s.Configuration)


@pytest.mark.parametrize("case", ERROR_CASES)
def test_bad_files_are_refused_with_the_official_message(case: str, tmp_path: Path) -> None:
    path = str(write_case(tmp_path, ERROR_CASES[case]))
    with pytest.raises(ValueError) as official:
        load_configuration(path)
    with pytest.raises(ValueError) as ours:
        connect(path)
    assert str(ours.value) == str(official.value)
    assert str(ours.value).startswith(f"--kubeconfig: {path}: ")


def test_known_values(tmp_path: Path) -> None:
    """Written out by hand for one file: what the client sends and trusts."""
    path = str(write_case(tmp_path, OWN_CASES["client certificate data"]))
    cfg = connect(path).configuration
    assert cfg.host == SERVER
    assert cfg.get_api_key_with_prefix("authorization") is None
    assert cfg.ssl_ca_cert is not None and Path(cfg.ssl_ca_cert).read_bytes() == CA
    assert cfg.cert_file is not None and Path(cfg.cert_file).read_bytes() == CERT
    assert cfg.key_file is not None and Path(cfg.key_file).read_bytes() == KEY
    assert oct(os.stat(cfg.key_file).st_mode & 0o777) == "0o600"
    (tmp_path / "basic").mkdir()
    path = str(write_case(tmp_path / "basic", OWN_CASES["basic auth"]))
    assert connect(path)._headers()["Authorization"] == "Basic " + b64(b"ann:s3cr3t")
    (tmp_path / "tf").mkdir()
    path = str(write_case(tmp_path / "tf", OWN_CASES["token file, unstripped"]))
    assert connect(path)._headers()["Authorization"] == "Bearer from-file\n"


@pytest.mark.parametrize(
    "variables",
    [
        {"HTTPS_PROXY": "http://127.0.0.1:3128"},
        {"HTTPS_PROXY": "http://127.0.0.1:3128", "http_proxy": "http://127.0.0.1:3129"},
        {"https_proxy": "http://127.0.0.1:3128", "HTTP_PROXY": "http://127.0.0.1:3130"},
        {"HTTPS_PROXY": "http://127.0.0.1:3128", "NO_PROXY": "127.0.0.1"},
        {"HTTPS_PROXY": "http://127.0.0.1:3128", "no_proxy": "example.com,.0.0.1"},
        {"http_proxy": "http://127.0.0.1:3128", "NO_PROXY": "*"},
        {"HTTPS_PROXY": "", "HTTP_PROXY": "http://127.0.0.1:3131"},
    ],
)
def test_proxy_variables_are_read_as_before(
    variables: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    path = str(write_case(tmp_path, OWN_CASES["token, CA file"]))
    assert type(read_as_official(path, tmp_path).configuration) is Configuration


def test_a_proxy_is_used_unless_no_proxy_names_the_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Control for the comparison above: the variables do change the client."""
    path = str(write_case(tmp_path, OWN_CASES["token, CA file"]))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:3129")
    proxied = behaviour(connect(path), tmp_path)
    assert (proxied["pool"], proxied["proxy"]) == ("ProxyManager", "http://127.0.0.1:3129")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert behaviour(connect(path), tmp_path)["pool"] == "PoolManager"


@pytest.mark.parametrize("case", ["token, CA data", "client certificate files, relative"])
def test_kubeconfig_from_the_environment_and_home(
    case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without --kubeconfig: the first existing file of $KUBECONFIG, else ~/.kube/config."""
    directory = tmp_path / "k"
    directory.mkdir()
    path = write_case(directory, OWN_CASES[case])
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(tmp_path / "absent"), str(path)]))
    assert type(read_as_official(None, directory).configuration) is Configuration
    monkeypatch.delenv("KUBECONFIG")
    home = tmp_path / "home" / ".kube"
    home.mkdir(parents=True)
    write_case(home, OWN_CASES[case]).rename(home / "config")
    assert type(read_as_official(None, home).configuration) is Configuration


@pytest.mark.parametrize("case", ["bad base64", "no current-context", "an entry without a name"])
def test_bad_files_from_the_environment_get_the_official_message(
    case: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write_case(tmp_path, ERROR_CASES[case])
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(ValueError) as official:
        load_configuration(None)
    with pytest.raises(ValueError) as ours:
        connect(None)
    assert str(ours.value) == str(official.value)
    assert str(ours.value).startswith(f"kubeconfig {path}: ")


# --- in-cluster ---------------------------------------------------------------------------


def official_incluster(env: dict[str, str], token: Path, ca: Path) -> Any:
    """The official in-cluster loader's configuration, or the ConfigException text."""
    cfg = k8s.Configuration()
    try:
        InClusterConfigLoader(str(token), str(ca), environ=env).load_and_set(cfg)
    except ConfigException as exc:
        return str(exc)
    return cfg


@pytest.mark.parametrize(
    ("env", "token", "ca"),
    [
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}, "t0k", CA),
        ({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"}, "t\n", CA),
        ({"KUBERNETES_SERVICE_HOST": "fe80::1%eth0", "KUBERNETES_SERVICE_PORT": "6443"}, "t", CA),
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, "t", CA),
        ({"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": "443"}, "t", CA),
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": ""}, "t", CA),
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}, "", CA),
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}, None, CA),
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}, "t", b""),
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}, "t", None),
    ],
)
def test_incluster_is_read_as_the_official_loader_reads_it(
    env: dict[str, str], token: str | None, ca: bytes | None, tmp_path: Path
) -> None:
    token_path, ca_path = tmp_path / "token", tmp_path / "ca.crt"
    if token is not None:
        token_path.write_text(token)
    if ca is not None:
        ca_path.write_bytes(ca)
    theirs = official_incluster(env, token_path, ca_path)
    ours = load_incluster(env, token_path, ca_path)
    if isinstance(theirs, str):  # refused: the lookup goes on to the kubeconfig files
        assert ours is None, theirs
        return
    assert ours is not None
    assert behaviour(KubeClient(ours), tmp_path) == behaviour(KubeClient(theirs), tmp_path)
    assert ours.get_api_key_with_prefix("authorization") == f"bearer {token}"


def test_incluster_token_is_read_again_each_minute(tmp_path: Path) -> None:
    """Service account tokens rotate: as the official client, the file is read again once a
    minute has passed (not sooner), and an emptied file is an error that is no ValueError or
    OSError (those the informers retry)."""
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    token_path, ca_path = tmp_path / "token", tmp_path / "ca.crt"
    token_path.write_text("first")
    ca_path.write_bytes(CA)
    now = [1000.0]
    cfg = load_incluster(env, token_path, ca_path, clock=lambda: now[0])
    assert cfg is not None
    token_path.write_text("second")
    now[0] += 59
    assert cfg.get_api_key_with_prefix("authorization") == "bearer first"
    now[0] += 1
    assert cfg.get_api_key_with_prefix("authorization") == "bearer second"
    token_path.write_text("")
    now[0] += 60
    with pytest.raises(ConfigError, match=r"^Token file exists but empty\.$") as raised:
        cfg.get_api_key_with_prefix("authorization")
    assert not isinstance(raised.value, ValueError | OSError)
    token_path.write_text("third")
    assert cfg.get_api_key_with_prefix("authorization") == "bearer third"


def test_connect_uses_the_service_account_then_the_kubeconfig(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text("sa-token")
    (account / "ca.crt").write_bytes(CA)
    monkeypatch.setattr(kubeconfig, "SERVICE_ACCOUNT", account)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    client = connect(None)
    assert client.base_url == "https://127.0.0.1:6443"
    assert client._headers()["Authorization"] == "bearer sa-token"
    assert client._pool.connection_pool_kw["ca_certs"] == str(account / "ca.crt")
    # No token file: not in a cluster after all; $KUBECONFIG is next.
    (account / "token").unlink()
    directory = tmp_path / "k"
    directory.mkdir()
    monkeypatch.setenv("KUBECONFIG", str(write_case(directory, OWN_CASES["token, CA file"])))
    assert connect(None)._headers()["Authorization"] == "Bearer abc"
