"""Secrets inside ordinary files: found by content, redacted before storage, never returned."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path

import pytest
import typer
from mcp import Client
from typer.testing import CliRunner

from lanterna.memory.commands import register
from lanterna.memory.redaction import REDACTED, redact
from lanterna.server.app import build_server

from .helpers import memory, write_tree

#: Secret values planted in a project, each in another shape.
AWS_KEY_ID = "AKIA" + "Q7XJ2M4N6P8R0T3V"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "9Zq3Lk2Pw8"
DB_PASSWORD = "Tr0ub4dor&3-horse"
URL_PASSWORD = "s3cr3tPassw0rd"
GITHUB = "ghp_" + "Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Jh0Gf9Ed8Cb7A"
GITLAB = "glpat-" + "Ab3dEf6hIj9kLm2nOp5q"
SLACK = "xoxb-" + "2048-1024-AbCdEfGhIjKlMnOp"
STRIPE = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"
YAML_API_KEY = "9f8e7d6c5b4a3f2e1d0c" + "B9A8F7E6"
JSON_CLIENT_SECRET = "Qm9vdHN0cmFwU2VjcmV0" + "K3y99xZ"
INI_PASSWORD = "m4ilRelay!pass"
GO_TOKEN = "tok_" + "8HbN2kLq9XzR4mVw7PsT"
JS_SECRET = "js-" + "Vd93KfLq02XmZa71PwRt"
JWT = "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
KEY_BODY = "MIIEowIBAAKCAQEA7bq9" + "x3Fj2Lk4Qw8Zr0Tn6Vm1Hs5Pd9Yc"
ENV_PASSWORD = "envfile-" + "hunter2-value"
ID_RSA_BODY = "b3BlbnNzaC1rZXktdjEAAAAA" + "BG5vbmUAAAAEbm9uZQ"

PLANTED = [
    AWS_KEY_ID,
    AWS_SECRET,
    DB_PASSWORD,
    URL_PASSWORD,
    GITHUB,
    GITLAB,
    SLACK,
    STRIPE,
    YAML_API_KEY,
    JSON_CLIENT_SECRET,
    INI_PASSWORD,
    GO_TOKEN,
    JS_SECRET,
    JWT,
    KEY_BODY,
    ENV_PASSWORD,
    ID_RSA_BODY,
]

FILES = {
    "app/settings.py": (
        '"""Settings of the billing service."""\n'
        f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"\n'
        f"AWS_SECRET_ACCESS_KEY = '{AWS_SECRET}'\n"
        f'DATABASE_PASSWORD = "{DB_PASSWORD}"\n'
        f'DATABASE_URL = "postgres://billing:{URL_PASSWORD}@db.internal:5432/billing"\n'
        "\n\ndef invoice_total(lines):\n    return sum(line.amount for line in lines)\n"
    ),
    "app/clients.py": (
        f'GITHUB = "{GITHUB}"\nGITLAB = "{GITLAB}"\n'
        f'headers = {{"Authorization": "Bearer {JWT}"}}\n'
        "\n\ndef slack_client():\n"
        f'    return Slack(token="{SLACK}", stripe="{STRIPE}")\n'
    ),
    "app/tls.py": (
        'CERT = """\n-----BEGIN RSA PRIVATE KEY-----\n'
        f'{KEY_BODY}\n{KEY_BODY[::-1]}\n-----END RSA PRIVATE KEY-----\n"""\n'
        "\n\ndef load_certificate():\n    return CERT\n"
    ),
    "config/app.yaml": f"service: billing\nstripe:\n  api_key: {YAML_API_KEY}\n",
    "config/oauth.json": f'{{"client_id": "billing", "client_secret": "{JSON_CLIENT_SECRET}"}}\n',
    "config/mail.ini": f"[smtp]\nhost = mail.internal\nsmtp_password = {INI_PASSWORD}\n",
    "cmd/main.go": f'package main\n\nconst apiToken = "{GO_TOKEN}"\n\nfunc main() {{}}\n',
    "web/auth.js": f"const clientSecret = '{JS_SECRET}';\nexport function login() {{ return clientSecret; }}\n",
    ".env": f"DATABASE_PASSWORD={ENV_PASSWORD}\n",
    "deploy/id_rsa": f"-----BEGIN OPENSSH PRIVATE KEY-----\n{ID_RSA_BODY}\n-----END OPENSSH PRIVATE KEY-----\n",
    "app/secrets.py": "def token_hex(nbytes=32):\n    return os.urandom(nbytes).hex()\n",
}


@pytest.mark.parametrize("rel", [r for r in FILES if r not in (".env", "deploy/id_rsa", "app/secrets.py")])
def test_every_planted_shape_is_redacted(rel: str) -> None:
    original = FILES[rel]
    result = redact(original, rel)
    assert result.count > 0 and REDACTED in result.text
    assert not [s for s in PLANTED if s in result.text or s[::-1] in result.text]
    assert result.text.count("\n") == original.count("\n")  # line numbers of the rest stay right


#: More shapes a secret takes in real projects: (path, text, the secret value).
MORE_SHAPES = [
    ("pyproject.toml", '[tool.deploy]\ntoken = "{v}"\n', "Zx8Yw7Vu6Ts5" + "Rq4Po3Nm2"),
    ("infra/main.tf", 'resource "db" "main" {{\n  password = "{v}"\n}}\n', "Hunter2" + "Pass"),
    ("app/cache.py", 'CACHE_URL = "redis://:{v}@cache:6379/0"\n', "Hunter2" + "Pass"),
    ("config/aws", "[default]\naws_secret_access_key = {v}\n", "wJalrXUtnFEMI/K7MDENG" + "/bPxRfiCY9Zq3Lk2Pw8"),
    ("deploy/run.sh", 'export API_TOKEN="{v}"\n', "Zx8Yw7Vu6Ts5" + "Rq4Po3Nm2"),
    ("Dockerfile", "FROM python:3.12\nENV DB_PASSWORD={v}\n", "Hunter2" + "Pass"),
    ("lib/client.rb", 'config = {{ api_key: "{v}" }}\n', "Zx8Yw7Vu6Ts5" + "Rq4Po3Nm2"),
    ("cmd/db.go", 'var dbPassword = "{v}"\n', "pw12"),
    ("app/keys.py", 'CLIENT_SECRET = "{v}"\n', "9f8e7d6c5b4a" + "3f2e1d0c"),
    (
        "gcp/prod-runner.json",
        '{{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\n{v}\\n'
        '-----END PRIVATE KEY-----\\n"}}\n',
        "MIIEvQIBADANBgkq" + "hkiG9w0BAQEFAASC",
    ),
    # a value holding the other quote character
    ("app/quotes.py", 'DB_PASSWORD = "{v}"\n', "it's-Secret9x"),
    ("app/quotes2.py", "db_password = '{v}'\n", 'say"Hunter2"'),
    # key=value connection strings inside source files (ADO.NET, ODBC, JDBC)
    ("app/mssql.py", 'CONN = "Server=db;User Id=sa;Password={v};Encrypt=yes"\n', "Hunter2Pass!"),
    ("app/odbc.py", 'DSN = "DRIVER={{ODBC Driver 18}};SERVER=db;UID=sa;PWD={v}"\n', "Hunter2" + "Pass"),
    ("src/Db.java", 'String url = "jdbc:postgresql://db/app?user=app&password={v}";\n', "Hunter2" + "Pass"),
    ("web/db.ts", "const url = `mysql://db/app?ssl=true&password={v}`;\n", "Hunter2" + "Pass"),
    # XML and .NET configuration
    ("web.config", '<appSettings>\n  <add key="ApiKey" value="{v}" />\n</appSettings>\n', "Zx8Yw7Vu6Ts5Rq4Po3"),
    ("conf/settings.xml", "<server>\n  <id>nexus</id>\n  <password>{v}</password>\n</server>\n", "Hunter2Pass"),
    (
        "app/App.config",
        '<connectionStrings>\n  <add name="db" connectionString="Data Source=db;Password={v};" />\n'
        "</connectionStrings>\n",
        "Hunter2" + "Pass",
    ),
    # f-strings and a value on the next line
    ("app/fkeys.py", 'API_KEY = f"{v}"\n', "Zx8Yw7Vu6Ts5" + "Rq4Po3Nm2"),
    ("app/wrapped.py", 'SECRET_KEY = (\n    "{v}"\n)\n', "Zx8Yw7Vu6Ts5" + "Rq4Po3Nm2"),
    # names ending in _PASS / _PWD
    ("docker-compose.yml", "services:\n  db:\n    environment:\n      DB_PASS: {v}\n", "Hunter2" + "Pass"),
    ("app/pass.py", 'SMTP_PASS = "{v}"\n', "Hunter2" + "Pass"),
    ("app/pwd.go", 'const mysqlPwd = "{v}"\n', "Hunter2" + "Pass"),
    # a long random key of letters only
    ("app/letters.py", 'API_KEY = "{v}"\n', "qwErtYuiOpAsDfGh" + "JkLz"),
]


@pytest.mark.parametrize(("rel", "template", "value"), MORE_SHAPES, ids=[s[0] for s in MORE_SHAPES])
def test_more_shapes_are_redacted(rel: str, template: str, value: str) -> None:
    original = template.format(v=value)
    result = redact(original, rel)
    assert value not in result.text and REDACTED in result.text, result.text
    assert result.text.count("\n") == original.count("\n")


@pytest.mark.parametrize(
    "prefix",
    [
        "x = compute(1)\n" * 20_000,  # deep in a long file
        "# İstanbul, Straße: text whose lower case is longer\n",
        "secret_setting = load()\nx = 1\n",  # a name line before, unrelated
    ],
    ids=["long-file", "unicode", "after-another-name"],
)
def test_secrets_are_found_anywhere_in_a_file(prefix: str) -> None:
    original = prefix + f'DB_PASSWORD = (\n    "{DB_PASSWORD}"\n)\nCLIENT = "{GITHUB}"\n'
    result = redact(original, "app/settings.py")
    assert DB_PASSWORD not in result.text and GITHUB not in result.text and result.count == 2
    assert result.text.startswith(prefix) and result.text.count("\n") == original.count("\n")


@pytest.mark.parametrize(
    "code",
    [
        "def check(token):\n    return token.kind == 'sk-ip'\n# AKIA is a prefix\n",
        "password = getpass.getpass()\nTOKEN_TYPE = 'bearer'\ntoken_type = 'quoted-string'\n",
        'url = "https://example.com/path?q=1"\nDATABASE_URL = "postgres://app:${DB_PASSWORD}@db/app"\n',
        "api_key = os.environ['API_KEY']\nSECRET_KEY = 'changeme'\n",
        'export GITHUB_TOKEN=github_pat_…\ntoken = "ghp_..."\n',
        'password = input()\ntoken = request.headers["x"]\nsecret = (\n    load_secret()\n)\n',
        'conn = connect(host=h, password=pw)\nurl = f"{base}?user={user}&password={password}"\n',
        "DB_PASSWORD = f\"{os.environ['DB_PASSWORD']}\"\nTOKEN = f'{prefix}-{suffix}'\n",
        'dsn = "Server=db;Password=" + password\nquery = "?password=%s" % pw\n',
        "user = user or ''\npasswd = passwd or ''\nx = 1; password = read_password()\n",
        "tokens = {\n    'root': [],\n}\nextra_tokens: (\n    r'(?i)(address|allof|anyof)'\n)\n",
        'token = f"arn:aws:s3:{region}:{account}:job/{uuid4().hex[:24]}"\nsecret_id = f"events!{cid}/auth"\n',
        "out.write('password={0}\\n'.format(signature))\n",
        "# User(username='scolvin' password=SecretStr('**********'))\n",
        'FIRST_PASS = "inline"\nBYPASS = "Hunter2Pass"\nbypass_cache = "yes"\n',
        'TOKEN_CLASS = "XMLHttpRequestToken"\nAPI_KEY_HEADER = "IsValidApiKeyForUser"\n'
        'TOKEN_TYPE = "BearerTokenAuthentication"\n',
        '<add key="Theme" value="dark-blue-contrast" />\n<password>${DB_PASSWORD}</password>\n',
    ],
)
def test_ordinary_code_is_left_alone(code: str) -> None:
    assert redact(code, "module.py").count == 0


@pytest.mark.parametrize("module", ["secrets.py", "json/decoder.py", "urllib/parse.py", "tokenize.py"])
def test_standard_library_modules_have_no_secrets(module: str) -> None:
    path = Path(sysconfig.get_paths()["stdlib"]) / module
    assert redact(path.read_text(encoding="utf-8"), module).count == 0


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "billing", FILES)


def _leaks(text: str) -> list[str]:
    return [s for s in PLANTED if s in text or s[::-1] in text]


@pytest.mark.anyio
async def test_no_planted_secret_comes_back_from_any_tool(planted: Path) -> None:
    async with Client(build_server()) as client:
        ingested = await client.call_tool("memory_ingest", {"path": str(planted), "service": "billing"})
        assert not ingested.is_error, ingested.content
        report = ingested.structured_content
        assert sorted(report["skipped_secrets"]) == [".env", "deploy/id_rsa"]
        assert sorted(report["redacted_secrets"]) == sorted(
            r for r in FILES if r not in (".env", "deploy/id_rsa", "app/secrets.py")
        )
        seen = [json.dumps(report)]
        queries = ["password secret token api key", "AWS access key", "private key certificate", *PLANTED]
        for query in queries:
            result = await client.call_tool("memory_search", {"query": query, "limit": 50})
            assert not result.is_error, result.content
            seen.append(str(result.content) + json.dumps(result.structured_content))
        listed = await client.call_tool("memory_list", {"service": "billing"})
        ids = [r["id"] for r in listed.structured_content["result"]]
        paths = {r["path"] for r in listed.structured_content["result"]}
        assert "app/secrets.py" in paths and "app/settings.py" in paths  # kept, not skipped
        seen.append(json.dumps(listed.structured_content))
        for doc_id in ids:
            got = await client.call_tool("memory_get", {"id": doc_id})
            seen.append(json.dumps(got.structured_content))
            if got.structured_content["path"] == "app/settings.py":
                assert "def invoice_total" in got.structured_content["text"]  # the rest of the file is there
        note = await client.call_tool(
            "memory_remember", {"text": f"staging db: password={DB_PASSWORD}, deploy token {GITHUB}"}
        )
        assert not note.is_error, note.content
        got = await client.call_tool("memory_get", {"id": note.structured_content["id"]})
        assert "staging db: password=[REDACTED]" in got.structured_content["text"]
        seen.append(json.dumps(note.structured_content) + json.dumps(got.structured_content))
        for tool in ("memory_services", "memory_stats"):
            seen.append(json.dumps((await client.call_tool(tool, {})).structured_content))
    assert not _leaks("\n".join(seen))

    from .helpers import operation

    with operation():
        store = memory().store()
    assert not [s for s in PLANTED if store.history_contains(s)]


def test_no_planted_secret_comes_back_from_any_command(planted: Path) -> None:
    cli = typer.Typer()
    register(cli, memory())
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, list(args))
        assert result.exit_code == 0, result.stderr
        return result.stdout + result.stderr

    outputs = [
        run("ingest", str(planted), "--service", "billing"),
        run("ingest", str(planted), "-s", "billing", "--json"),
    ]
    assert "secrets redacted" in outputs[0] and "app/settings.py" in outputs[0]
    for query in ["password secret token api key", *PLANTED]:
        outputs += [run("search", query, "-n", "50"), run("search", query, "-n", "50", "--json")]
    listed = json.loads(run("memories", "--service", "billing", "--json"))
    outputs.append(run("memories", "--service", "billing"))
    for row in listed:
        outputs += [run("show", row["id"]), run("show", row["id"], "--json")]
    outputs += [run("services"), run("services", "--json"), run("stats"), run("stats", "--json")]
    assert not _leaks("\n".join(outputs))
