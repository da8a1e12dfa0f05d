"""Mistakes never pass silently: a store directory that is not there, files the store
cannot use, empty or negative options, an --out that is no regular file, a file that
demo would replace, a terminal waiting on stdin, Ctrl-C, a garbled clock mark."""

from __future__ import annotations

import json
import os
import pty
import select
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import EXIT_USAGE, cli_argv

from license_token import Verifier
from license_token.cli import main
from license_token.store import LicenseStore
from license_token.testing import TokenFactory

SCRIPT = str(Path(sys.executable).with_name("license-token"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.fixture
def key(tmp_path: Path, factory: TokenFactory) -> Path:
    path = tmp_path / "issuer.pem"
    path.write_bytes(factory.public_key_pem())
    return path


@pytest.fixture
def store(tmp_path: Path, factory: TokenFactory) -> Path:
    """A store holding one valid checkout."""
    directory = tmp_path / "store"
    LicenseStore(directory).save(factory.response(), Verifier(factory.trust_store()))
    return directory


@pytest.mark.parametrize("command", [
    "store list --dir {typo} --key {key}",
    "store show arn:x --dir {typo} --key {key}",
    "store verify --dir {typo} --key {key}",
    "store remove arn:x --dir {typo}",
    "store list --dir {typo} --key {key} --json",
])
def test_store_commands_on_a_missing_directory_are_usage_errors(
        command: str, tmp_path: Path, key: Path) -> None:
    typo = tmp_path / "typo"
    done = _run(*command.format(typo=typo, key=key).split())
    assert done.returncode == 2, done.stdout
    assert f"{typo}: no such directory" in done.stderr
    if "--json" in command:
        assert json.loads(done.stdout)["code"] == "usage"
    else:
        assert done.stdout == ""
    assert not typo.exists()


def test_store_import_creates_its_directory(tmp_path: Path, key: Path,
                                            factory: TokenFactory) -> None:
    response = tmp_path / "response.json"
    response.write_text(json.dumps(factory.response()))
    new = tmp_path / "new" / "store"
    done = _run("store", "import", str(response), "--dir", str(new), "--key", str(key),
                "--node-id", "node-7f3a")
    assert done.returncode == 0, done.stderr
    assert len(LicenseStore(new).paths()) == 1


def test_store_list_reports_a_response_copied_in_by_hand(store: Path, key: Path,
                                                         factory: TokenFactory) -> None:
    (store / "license-response.json").write_text(json.dumps(factory.response()))
    done = _run("store", "list", "--dir", str(store), "--key", str(key))
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[0] == f"1 valid, 0 invalid in {store}; 1 other file skipped"
    assert lines[-1].split() == ["skipped", "license-response.json:", "not", "a", "store",
                                 "entry"]
    doc = json.loads(_run("store", "list", "--dir", str(store), "--key", str(key),
                          "--json").stdout)
    assert doc["skipped"] == [{"file": str(store / "license-response.json"),
                               "reason": "not a store entry"}]


def test_store_verify_names_skipped_corrupt_and_foreign_files(store: Path, key: Path) -> None:
    corrupt = store / ("0" * 32 + ".json")
    corrupt.write_text("{garbled")
    (store / "notes.txt").write_text("hand-written")
    done = _run("store", "verify", "--dir", str(store), "--key", str(key), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [Path(s["file"]).name for s in doc["skipped"]] == [corrupt.name, "notes.txt"]
    assert doc["skipped"][0]["reason"].startswith("store_corrupt: ")
    assert doc["skipped"][1]["reason"] == "not a store entry"
    assert "license-token: 2 files skipped:" in done.stderr
    assert f"skipped  {corrupt.name}: store_corrupt: " in done.stderr
    assert "skipped  notes.txt: not a store entry" in done.stderr


def test_a_garbled_clock_mark_is_warned_about_once(store: Path, key: Path) -> None:
    (store / "clock.json").write_text("{not json")
    done = _run("store", "verify", "--dir", str(store), "--key", str(key))
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("ignoring unreadable clock mark") == 1, done.stderr
    assert done.stderr.startswith("license-token: warning: ignoring unreadable clock mark")


def _on_a_terminal(*args: str) -> tuple[subprocess.Popen[bytes], int]:
    """``license-token ARGS`` with a terminal (a pty) as stdin; stderr a pipe.

    The child gets Ctrl-C's default disposition, as a shell's foreground job does: a suite
    started in the background (``pytest &``) ignores SIGINT, and a child would inherit
    that (Python keeps an ignored SIGINT ignored), so Ctrl-C would never reach it.
    """
    primary, secondary = pty.openpty()
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)  # reset by exec
    try:
        process = subprocess.Popen([SCRIPT, *args], stdin=secondary, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
    finally:
        signal.signal(signal.SIGINT, inherited)
        os.close(secondary)
    return process, primary


def _read_line(stream: Any) -> bytes:
    ready, _, _ = select.select([stream], [], [], 60)
    assert ready, "no line within 60 s"
    line: bytes = stream.readline()
    return line


@pytest.mark.skipif(sys.platform == "win32", reason="a pty is POSIX")
def test_stdin_on_a_terminal_prompts_on_stderr(key: Path, factory: TokenFactory) -> None:
    process, terminal = _on_a_terminal("verify", "-", "--key", str(key))
    try:
        prompt = _read_line(process.stderr)
        assert prompt.startswith(b"license-token: reading the response or token from the "
                                 b"terminal")
        assert b"Ctrl-D" in prompt
        os.write(terminal, factory.token().encode() + b"\n\x04")
        out, err = process.communicate(timeout=60)
    finally:
        os.close(terminal)
    assert process.returncode == 0, err
    assert out.startswith(b"VALID")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT and a pty are POSIX")
def test_ctrl_c_is_exit_130_with_one_line_and_no_traceback(key: Path) -> None:
    process, terminal = _on_a_terminal("verify", "-", "--key", str(key), "--json")
    try:
        _read_line(process.stderr)  # the prompt: it is now waiting on the terminal
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        os.close(terminal)
        process.kill()  # no-op once it exited; a hung child must not outlive the test
        process.communicate()
    assert process.returncode == 130
    assert err == b"license-token: interrupted\n"
    assert out == b""


@pytest.mark.parametrize("argv", [
    ["verify", "-", "--key", "{key}"],
    ["store", "list", "--dir", "{dir}", "--key", "{key}"],
    ["node-id", "--installation-file", "{dir}/id"],
])
def test_ctrl_c_in_any_command_is_exit_130(argv: list[str], tmp_path: Path, key: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*_: Any, **__: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("license_token.cli._common.read_input", interrupted)
    monkeypatch.setattr("license_token.cli._verify.read_input", interrupted)
    monkeypatch.setattr(LicenseStore, "load_all", interrupted)
    monkeypatch.setattr("license_token.node.installation_node_id", interrupted)
    try:
        code = main([a.format(key=key, dir=tmp_path) for a in argv])
    except KeyboardInterrupt:  # pragma: no cover - the regression itself
        pytest.fail("KeyboardInterrupt escaped main()")
    assert code == 130
    out, err = capsys.readouterr()
    assert (out, err) == ("", "license-token: interrupted\n")


# -- empty and negative options, an --out that is no file, files never replaced ----------------

@pytest.mark.parametrize("command", [
    "node-id --salt ''",
    "store import {response} --dir {dir}/store --key {key} --salt ''",
    "store import {response} --dir {dir}/store --key {key} --salt '' --json",
])
def test_an_empty_salt_is_a_usage_error(command: str, key_file: Path, factory: TokenFactory,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    argv = cli_argv(command, key_file, factory)
    assert main(argv) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert "license-token: error: app_salt must not be empty" in err
    if "--json" in argv:
        assert json.loads(out)["code"] == "usage"
    else:
        assert out == ""
    assert not (key_file.parent / "store").exists()


@pytest.mark.parametrize(("command", "message"), [
    ("verify {response} --key {key} --require Users:Count=-1", "at_least '-1' is not a number"),
    ("verify {response} --key {key} --license-arn ''", "--license-arn: must not be empty"),
    ("verify {response} --key {key} --node-id ''", "--node-id: must not be empty"),
    ("store verify --dir {dir} --key {key} --license-arn ''", "--license-arn: must not be"),
    ("store import {response} --dir {dir}/s --key {key} --node-id ''", "--node-id: must not"),
    ("checkout-borrow --license-arn '' --entitlement Users:Count=1 --key {key} "
     "--out {dir}/r.json", "--license-arn: must not be empty"),
    ("checkout-borrow --license-arn arn:x --entitlement Users:Count=1 --key {key} "
     "--node-id '' --out {dir}/r.json", "--node-id: must not be empty"),
])
def test_empty_pins_and_negative_minimums_are_usage_errors(
        command: str, message: str, key_file: Path, factory: TokenFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    argv = cli_argv(command, key_file, factory)
    assert main(argv) == EXIT_USAGE
    out, err = capsys.readouterr()
    assert message in err
    assert out == ""


@pytest.mark.parametrize("command", [
    "checkout-borrow --license-arn arn:x --entitlement Users:Count=1 --key {key} --out {out}",
    "public-key --kms-key-id k --out {out}",
])
@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize("force", [False, True])
def test_out_must_be_a_regular_file_even_with_force(
        command: str, kind: str, force: bool, key_file: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    if kind == "fifo":
        out = key_file.parent / "pipe"
        os.mkfifo(out)
    else:
        out = Path(os.devnull)
        assert out.is_char_device()
    argv = shlex.split(command.format(key=key_file, out=out)) + (["--force"] if force else [])
    assert main(argv) == EXIT_USAGE
    stdout, err = capsys.readouterr()
    assert f"--out {out} is not a regular file" in err
    assert stdout == ""
    assert out.exists() and not out.is_file()


@pytest.mark.parametrize("existing", ["license-response.json", "issuer-public-key.pem"])
def test_demo_never_replaces_a_file_without_force(
        existing: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``demo --dir .`` in an app's directory must not overwrite its real checkout or key."""
    kept = tmp_path / existing
    kept.write_text("the user's own file")
    assert main(["demo", "--dir", str(tmp_path)]) == 2
    assert f"{existing} exists; pass --force to replace it" in capsys.readouterr().err
    assert kept.read_text() == "the user's own file"
    assert sorted(p.name for p in tmp_path.iterdir()) == [existing]
    assert main(["demo", "--dir", str(tmp_path), "--force"]) == 0
    assert kept.read_text() != "the user's own file"


@pytest.mark.parametrize("as_json", [False, True])
def test_store_list_names_the_license_of_a_failed_entry(
        as_json: bool, key_file: Path, factory: TokenFactory,
        capsys: pytest.CaptureFixture[str]) -> None:
    store = key_file.parent / "store"
    saved = LicenseStore(store).save(factory.response(), Verifier(factory.trust_store()))
    garbled = store / ("0" * 32 + ".json")
    garbled.write_text("{not json")
    argv = ["store", "list", "--dir", str(store), "--key", str(key_file), "--at", "2999-01-01"]
    assert main([*argv, *(["--json"] if as_json else [])]) == 1
    out = capsys.readouterr().out
    arn = saved.license.license_arn
    if as_json:
        entries = {e["file"]: e for e in json.loads(out)["entries"]}
        assert entries[str(saved.path)]["license_arn"] == arn
        assert entries[str(saved.path)]["code"] == "expired"
        assert entries[str(garbled)]["license_arn"] is None
        assert entries[str(garbled)]["code"] == "store_corrupt"
    else:
        rows = {line.split(None, 2)[1]: line.split(None, 2)[2] for line in out.splitlines()[1:]}
        assert rows["(expired)"].startswith(f"{arn}: ")
        assert rows["(store_corrupt)"].startswith(f"{garbled}: truncated or garbled")
        assert rows["(store_corrupt)"].count(str(garbled)) == 1
