"""poslab.server_runtime: which event loop and codec path a server runs on."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path

import httpx
import pytest

from poslab import server_runtime
from poslab.errors import ConfigError
from poslab.iso8583 import CodecPath, codec_in_use, use_codec
from poslab.server_runtime import LoopChoice

REPO = Path(__file__).resolve().parents[2]


async def _which() -> str:
    await asyncio.sleep(0)
    return server_runtime.running_loop()


def test_each_choice_runs_on_its_loop() -> None:
    pytest.importorskip("uvloop")
    assert server_runtime.run(_which(), "asyncio") == "asyncio"
    assert server_runtime.run(_which(), LoopChoice.UVLOOP) == "uvloop"
    assert server_runtime.run(_which()) == "uvloop"  # auto, uvloop installed


def test_without_uvloop_auto_falls_back_and_uvloop_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError
    assert server_runtime.run(_which(), "auto") == "asyncio"
    coroutine = _which()
    assert isinstance(coroutine, types.CoroutineType)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        with pytest.raises(ConfigError, match="uvloop is not installed"):
            server_runtime.run(coroutine, "uvloop")
    assert coroutine.cr_frame is None  # closed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    server_runtime.add_loop_option(parser)
    server_runtime.add_codec_option(parser)
    return parser


def test_options_default_from_the_environment_and_reject_unknown_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(server_runtime.LOOP_ENV, raising=False)
    monkeypatch.delenv(server_runtime.CODEC_ENV, raising=False)
    args = _parser().parse_args([])
    assert (args.loop, args.codec) == (LoopChoice.AUTO, CodecPath.COMPILED)
    args = _parser().parse_args(["--loop", "asyncio", "--codec", "pyiso8583"])
    assert (args.loop, args.codec) == (LoopChoice.ASYNCIO, CodecPath.PYISO8583)
    monkeypatch.setenv(server_runtime.LOOP_ENV, "uvloop")
    monkeypatch.setenv(server_runtime.CODEC_ENV, "pyiso8583")
    args = _parser().parse_args([])
    assert (args.loop, args.codec) == (LoopChoice.UVLOOP, CodecPath.PYISO8583)
    with pytest.raises(argparse.ArgumentError, match="expected one of auto"):
        _parser().parse_args(["--loop", "trio"])
    monkeypatch.setenv(server_runtime.LOOP_ENV, "fast")
    with pytest.raises(argparse.ArgumentError, match="got 'fast'"):  # refused, not ignored
        _parser().parse_args([])


def test_describe_names_the_loop_and_the_codec() -> None:
    async def main() -> str:
        return server_runtime.describe()

    previous = use_codec(CodecPath.PYISO8583)
    try:
        assert server_runtime.run(main(), "asyncio") == "event loop asyncio, codec pyiso8583"
    finally:
        use_codec(previous)
    assert codec_in_use() is CodecPath.COMPILED


ENTRY_POINTS = {
    "python -m poslab.proxy": ["-m", "poslab.proxy", "-port", "0", "-loop"],
    "lab proxy serve": ["-m", "poslab", "proxy", "serve", "--port", "0", "--loop"],
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_proxy_process_serves_on_the_loop_asked_for(
    tmp_path: Path, loop: str, entry: str
) -> None:
    pytest.importorskip("uvloop")
    ready = tmp_path / "ready.json"
    log = tmp_path / "proxy.log"
    argv = [sys.executable, *ENTRY_POINTS[entry], loop, "--ready-file", str(ready)]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while not ready.exists():
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "proxy not ready in 20 s"
                time.sleep(0.02)
            port = json.loads(ready.read_text())["ports"]["api"]
            assert httpx.get(f"http://127.0.0.1:{port}/version", timeout=5).status_code == 200
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
    assert f"serving on event loop {loop}, codec compiled" in log.read_text()


def test_a_server_refuses_an_unknown_loop(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "poslab.mocks.issuer",
            "--world",
            str(tmp_path / "w.json"),
            "--db",
            str(tmp_path / "db"),
            "--loop",
            "fastest",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "argument --loop: expected one of auto, asyncio, uvloop" in done.stderr
