"""argparse that helps: full option names only, plain words for a missing command, "did
you mean", help text on every option and argument, the library's defaults."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from license_token._policy import DEFAULT_LEEWAY
from license_token.cli import _parser, main
from license_token.testing import TokenFactory

SCRIPT = str(Path(sys.executable).with_name("license-token"))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60,
                          check=False)


def _commands(parser: argparse.ArgumentParser,
              path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...],
                                                             argparse.ArgumentParser]]:
    """Every parser of the CLI with the words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, (*path, name))


@pytest.fixture
def files(tmp_path: Path, factory: TokenFactory) -> tuple[str, str]:
    key = tmp_path / "issuer.pem"
    key.write_bytes(factory.public_key_pem())
    token = tmp_path / "token.txt"
    token.write_text(factory.token())
    return str(token), str(key)


def test_abbreviated_options_are_refused(files: tuple[str, str]) -> None:
    token, key = files
    done = _run("verify", token, "--key", key, "--lic", "arn:x")
    assert done.returncode == 2 and done.stdout == ""
    assert "unrecognized arguments: --lic; did you mean --license-arn?" in done.stderr
    assert _run("verify", token, "--ke", key).returncode == 2


def test_every_parser_refuses_abbreviations() -> None:
    for path, parser in _commands(_parser()):
        assert parser.allow_abbrev is False, path


@pytest.mark.parametrize(("words", "commands"), [
    ([], "verify, inspect, store, node-id, demo, checkout-borrow, public-key, check-in, emulator"),
    (["store"], "list, show, verify, import, remove"),
])
def test_a_missing_command_names_the_commands_of_its_group(words: list[str],
                                                           commands: str) -> None:
    done = _run(*words)
    assert done.returncode == 2 and done.stdout == ""
    prog = " ".join(["license-token", *words])
    assert done.stderr.startswith(f"usage: {prog} ")
    assert f"{prog}: error: a command is missing: {prog} needs one of " in done.stderr
    assert done.stderr.rstrip().endswith(commands)
    assert "store_command" not in done.stderr and "required" not in done.stderr


def test_an_unknown_option_gets_did_you_mean_and_its_command_s_usage(
        files: tuple[str, str]) -> None:
    token, key = files
    done = _run("verify", token, "--key", key, "--jsn")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: license-token verify ")
    assert "license-token verify: error: unrecognized arguments: --jsn; did you mean --json?" \
        in done.stderr


def test_a_misspelt_required_option_is_named_not_reported_missing(
        files: tuple[str, str]) -> None:
    token, key = files
    done = _run("verify", token, "--keys", key)
    assert done.returncode == 2
    assert "unrecognized arguments: --keys; did you mean --key?" in done.stderr
    assert "required" not in done.stderr


def test_an_option_with_no_near_match_lists_the_command_s_options(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node-id", "--zzzzzz"]) == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --zzzzzz; license-token node-id takes --allow-container, " \
           "--help, --installation-file, --json, --salt" in err


def test_every_option_and_argument_has_help_text() -> None:
    missing = [f"{' '.join(path) or 'license-token'} {action.dest}"
               for path, parser in _commands(_parser()) for action in parser._actions
               if not (action.help or "").strip()]
    assert missing == []


def test_store_import_help_says_what_import_checks() -> None:
    done = _run("store", "import", "--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "--node-id ID the node ID the response must be bound to; without it, import " \
           "checks this machine's node ID" in text
    node_help = text.split("--node-id ID", 1)[1].split("--require", 1)[0]
    assert "NOT CHECKED" not in node_help


def test_every_command_s_help_says_what_it_does() -> None:
    """``COMMAND --help`` opens with the line the command list shows for that command."""
    undescribed = [" ".join(words) for words, parser in _commands(_parser())
                   if words and not parser.description]
    assert undescribed == []
    help_text = _run("check-in", "--help").stdout
    assert "CheckInLicense: give a borrowed seat back" in help_text


def test_the_cli_leeway_default_is_the_library_default(tmp_path: Path) -> None:
    args = _parser().parse_args(["verify", "x", "--key", "k"])
    assert timedelta(seconds=args.leeway) == DEFAULT_LEEWAY
