"""TLS against a real local HTTPS simulator whose certificate comes from a test CA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Run
from simulator import MaasSimulator

CA_HINT = "could not be verified; give its CA with --cacert FILE"


@pytest.fixture
def env_profile(tls: MaasSimulator, monkeypatch: pytest.MonkeyPatch) -> MaasSimulator:
    """The HTTPS server chosen through $MAAS_API_URL and $MAAS_API_KEY (no config)."""
    monkeypatch.setenv("MAAS_API_URL", tls.url)
    monkeypatch.setenv("MAAS_API_KEY", tls.api_key)
    return tls


def whoami(result: object) -> str:
    stdout = result.stdout  # type: ignore[attr-defined]
    return str(json.loads(stdout)["username"])


def test_default_verification_fails_with_a_hint(env_profile: MaasSimulator, run: Run) -> None:
    """client._connect_message names --cacert; a certificate error is not retried."""
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 6
    assert CA_HINT in result.stderr and "--insecure" in result.stderr
    assert "retrying" not in result.stderr
    assert "Traceback" not in result.stderr
    assert env_profile.requests == []


def test_login_without_the_ca_fails_and_saves_nothing(
    tls: MaasSimulator, run: Run, home: Path
) -> None:
    result = run("login", "tls", tls.url, tls.api_key)
    assert result.exit_code == 6
    assert CA_HINT in result.stderr
    assert not (home / "config" / "config.toml").exists()


def test_cacert_option(env_profile: MaasSimulator, run: Run, ca_file: Path) -> None:
    """client._verify loads the CA file into an SSL context."""
    result = run("get", "users", "op=whoami", "--cacert", str(ca_file))
    assert result.exit_code == 0, result.stderr
    assert whoami(result) == "admin"
    assert "warning" not in result.stderr


def test_cacert_from_the_environment(
    env_profile: MaasSimulator, run: Run, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config.environment_profile reads $MAAS_API_CACERT."""
    monkeypatch.setenv("MAAS_API_CACERT", str(ca_file))
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr
    assert whoami(result) == "admin"


def test_login_cacert_is_remembered(tls: MaasSimulator, run: Run, ca_file: Path) -> None:
    """login stores cacert in the profile; Transport.for_profile uses it later."""
    login = run("login", "tls", tls.url, tls.api_key, "--cacert", str(ca_file))
    assert login.exit_code == 0, login.stderr
    assert "logged in" in login.stderr
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr
    assert whoami(result) == "admin"


def test_login_cacert_relative_path_works_from_elsewhere(
    tls: MaasSimulator, run: Run, ca_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ca_file.parent)
    login = run("login", "tls", tls.url, tls.api_key, "--cacert", ca_file.name, "--no-check")
    assert login.exit_code == 0, login.stderr
    elsewhere = ca_file.parent / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = run("get", "users", "op=whoami")
    assert result.exit_code == 0, result.stderr


def test_insecure_works_and_warns(env_profile: MaasSimulator, run: Run) -> None:
    result = run("get", "users", "op=whoami", "-k")
    assert result.exit_code == 0, result.stderr
    assert whoami(result) == "admin"
    assert "maascurl: warning: TLS certificate verification is off (--insecure)" in result.stderr


def test_a_bad_ca_file_is_a_clear_error(
    env_profile: MaasSimulator, run: Run, tmp_path: Path
) -> None:
    bogus = tmp_path / "not-a-ca.pem"
    bogus.write_text("hello\n")
    result = run("get", "users", "op=whoami", "--cacert", str(bogus))
    assert result.exit_code == 1
    assert f"cannot load CA certificate {bogus}" in result.stderr


@pytest.mark.parametrize("follow_any", [False, True])
def test_https_to_http_redirect_is_never_followed(
    env_profile: MaasSimulator,
    run: Run,
    ca_file: Path,
    other_origin: tuple[str, list[dict[str, str]]],
    follow_any: bool,
) -> None:
    """client._cross_origin refuses a downgrade even with --follow-any."""
    target, hits = other_origin
    env_profile.queue(302, "", {"Location": target}, path="machines/")
    extra = ["--follow-any"] if follow_any else []
    result = run("get", "machines", "--cacert", str(ca_file), *extra)
    assert result.exit_code == 3
    assert target in result.stderr
    assert hits == []
    assert result.stdout == ""


def test_same_origin_https_redirect_is_followed(
    env_profile: MaasSimulator, run: Run, ca_file: Path
) -> None:
    env_profile.queue(302, "", {"Location": "/MAAS/api/2.0/users/?op=whoami"}, path="machines/")
    result = run("get", "machines", "--cacert", str(ca_file))
    assert result.exit_code == 0, result.stderr
    assert whoami(result) == "admin"
    assert len(env_profile.requests) == 2


def test_refresh_and_describe_take_k_and_cacert(
    tls: MaasSimulator, run: Run, ca_file: Path
) -> None:
    """Issue 22: refresh and describe fetch the description like any request: -k and
    --cacert work for them too (a profile saved with --no-check has neither)."""
    assert run("login", "tls", tls.url, tls.api_key, "--no-check").exit_code == 0
    refused = run("refresh")
    assert refused.exit_code == 1 and CA_HINT in refused.stderr
    insecure = run("refresh", "-k")
    assert insecure.exit_code == 0, insecure.stderr
    assert "TLS certificate verification is off (--insecure)" in insecure.stderr
    assert run("refresh", "--cacert", str(ca_file)).exit_code == 0
    from maascurl.api.apidesc import cache_file

    cache_file(tls.api_root).unlink()
    assert run("describe", "machines").exit_code == 6  # it must fetch: the CA is unknown
    shown = run("describe", "machines", "--cacert", str(ca_file))
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith("machines/")
    cache_file(tls.api_root).unlink()
    assert run("describe", "machines", "--insecure").exit_code == 0
