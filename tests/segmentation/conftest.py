"""Fixtures of the segmentation tests: a local Messages API and the real anthropic client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from tests.servers.anthropic_server import AnthropicServer

API_KEY = "sk-ant-test-segmentation"


@pytest.fixture(scope="session")
def anthropic_server() -> Iterator[AnthropicServer]:
    with AnthropicServer(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def llm(anthropic_server: AnthropicServer, monkeypatch: pytest.MonkeyPatch) -> AnthropicServer:
    """The server, cleared, with the SDK's environment pointing at it (key + base URL)."""
    anthropic_server.wait_idle()
    anthropic_server.clear()
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_server.url)
    return anthropic_server


@pytest.fixture
def client(llm: AnthropicServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(timeout=5.0, max_retries=0)


class SleepRecorder:
    """Records the waits the retry loop asks for and sleeps a token amount (keeps tests fast)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        import time

        self.waits.append(seconds)
        time.sleep(min(seconds, 0.01))


@pytest.fixture
def sleeper() -> SleepRecorder:
    return SleepRecorder()
