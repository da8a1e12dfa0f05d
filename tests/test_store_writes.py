"""A save that fails leaves nothing half-done: the clock mark is written before the checkout,
and what was replaced is put back when a later write fails; ``save`` and ``store import``
raise only when nothing changed, and say exactly what was written."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW

from license_token import Verifier
from license_token.cli import main
from license_token.store import LicenseStore, StoreUnavailable
from license_token.testing import DEFAULT_ARN, TokenFactory
from license_token.testing._factory import aws_time


def _snapshot(directory: Path) -> dict[str, bytes | str]:
    """Every entry of the directory (hidden ones too): a file's bytes, else its kind."""
    return {p.name: p.read_bytes() if p.is_file() and not p.is_symlink() else "not a file"
            for p in sorted(directory.iterdir()) if p.name not in (".lock", ".renew.lock")}


def _fail_writes(monkeypatch: pytest.MonkeyPatch, first: int, *,
                 persistent: bool) -> list[Path]:
    """ENOSPC at the ``first``-th file write (and every later one, if ``persistent``), at
    the write function itself, whichever module calls it."""
    import license_token._files as files

    real: Callable[[Path, bytes], None] = files.write_atomic
    calls: list[Path] = []

    def write_atomic(path: Path, data: bytes) -> None:
        calls.append(path)
        if len(calls) == first or (persistent and len(calls) > first):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data)

    monkeypatch.setattr(files, "write_atomic", write_atomic)
    for module in ("license_token.store", "license_token.store._writer"):
        monkeypatch.setattr(f"{module}.write_atomic", write_atomic)
    return calls


def _newer(issuer: TokenFactory, hours: int = 2) -> dict[str, Any]:
    at = NOW + timedelta(hours=hours)
    return issuer.response(issuer.claims(issuedAt=aws_time(at),
                                         expiration=aws_time(at + timedelta(days=30))))


@pytest.mark.parametrize("hard_links", [True, False], ids=["hard links", "no hard links"])
@pytest.mark.parametrize("persistent", [False, True], ids=["one write", "disk stays full"])
@pytest.mark.parametrize("failing", [1, 2], ids=["the mark", "the checkout"])
def test_enospc_at_each_write_of_a_save_changes_nothing(
        tmp_path: Path, issuer: TokenFactory, verifier: Verifier,
        monkeypatch: pytest.MonkeyPatch, failing: int, persistent: bool,
        hard_links: bool) -> None:
    """Before: the checkout was replaced, then the mark write failed and save() raised: the
    renewal checked the new seat in while the store held it (two machines, one seat)."""
    store = LicenseStore(tmp_path)
    store.save(issuer.response(), verifier, now=NOW)
    before = _snapshot(tmp_path)
    if not hard_links:  # e.g. FAT or a network file system: the old bytes are kept instead
        monkeypatch.setattr(os, "link", _no_link)
    calls = _fail_writes(monkeypatch, failing, persistent=persistent)
    later = NOW + timedelta(hours=2)
    with pytest.raises(StoreUnavailable, match="disk full") as info:
        store.save(_newer(issuer), verifier, now=later)
    assert calls[:failing] == [tmp_path / "clock.json", store.paths()[0]][:failing]  # in order
    if persistent and not hard_links and failing == 2:  # the mark cannot be put back
        assert info.value.written == (tmp_path / "clock.json",)
        assert "clock.json could not be put back" in str(info.value)
        assert _snapshot(tmp_path) == before | {
            "clock.json": _snapshot(tmp_path)["clock.json"]}
        return
    assert info.value.written == ()
    assert _snapshot(tmp_path) == before  # nothing changed, no stray file either
    monkeypatch.undo()
    saved = store.save(_newer(issuer), verifier, now=later)
    assert saved.written == (tmp_path / "clock.json", saved.path)
    assert store.high_water_mark() == later


def _no_link(*_: Any, **__: Any) -> None:
    raise OSError(errno.EPERM, "hard links are not supported here")


def test_a_save_that_does_not_move_the_mark_writes_only_the_checkout(
        tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    store = LicenseStore(tmp_path)
    first = store.save(issuer.response(), verifier, now=NOW)
    assert first.written == (tmp_path / "clock.json", first.path)
    again = store.save(issuer.response(), verifier, now=NOW + timedelta(seconds=30))
    assert again.written == (again.path,)
    assert store.load(DEFAULT_ARN, verifier).written == ()


def test_a_clock_mark_that_is_a_directory_fails_the_save_and_changes_nothing(
        tmp_path: Path, issuer: TokenFactory, verifier: Verifier) -> None:
    store = LicenseStore(tmp_path)
    stored = store.save(issuer.response(), verifier, now=NOW)
    (tmp_path / "clock.json").unlink()
    (tmp_path / "clock.json").mkdir()
    before = _snapshot(tmp_path)
    with pytest.raises(StoreUnavailable, match=r"clock\.json: not a regular file") as info:
        store.save(_newer(issuer), verifier, now=NOW + timedelta(hours=2))
    assert info.value.written == ()
    assert _snapshot(tmp_path) == before
    assert store.load(DEFAULT_ARN, verifier).license.token == stored.license.token


def test_store_import_says_exactly_what_was_written(
        tmp_path: Path, factory: TokenFactory, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Before: "nothing was written" while the checkout was on disk and verified VALID."""
    key, file, directory = tmp_path / "k.pem", tmp_path / "response.json", tmp_path / "s"
    key.write_bytes(factory.public_key_pem())
    file.write_text(json.dumps(factory.response(nodeId="this-node")))
    directory.mkdir()
    (directory / "clock.json").write_text(json.dumps({  # a mark the import moves on
        "format": "license-token/clock", "version": 1,
        "high_water": aws_time(factory.now - timedelta(days=1)) + "Z"}))
    before = _snapshot(directory)
    argv = ["store", "import", str(file), "--dir", str(directory), "--key", str(key),
            "--node-id", "this-node"]
    _fail_writes(monkeypatch, 2, persistent=False)  # the checkout, after the mark
    assert main([*argv, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (doc["code"], doc["written"]) == ("store_unavailable", [])
    assert _snapshot(directory) == before  # the mark, written first, was put back
    monkeypatch.undo()
    monkeypatch.setattr(os, "link", _no_link)
    _fail_writes(monkeypatch, 2, persistent=True)  # and now the mark cannot be put back
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert f"; left written: {directory / 'clock.json'}" in out
    assert "nothing was written" not in out
    assert LicenseStore(directory).paths() == []
    monkeypatch.undo()
    assert main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out.splitlines()[-1])
    (entry,) = LicenseStore(directory).paths()
    assert doc["written"] == [str(entry)]  # the mark left behind already says this time
    assert main(["store", "import", str(file), "--dir", str(tmp_path / "t"), "--key", str(key),
                 "--node-id", "this-node"]) == 0
    (fresh,) = LicenseStore(tmp_path / "t").paths()
    assert f"(wrote clock.json, {fresh.name})" in capsys.readouterr().out
