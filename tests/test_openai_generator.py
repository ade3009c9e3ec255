"""OpenAICompatibleGenerator against a small scripted HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from prover.errors import ConfigError, GeneratorError
from prover.generators.decoding import DecodingConfig
from prover.generators.openai import OpenAICompatibleGenerator, completions_url
from prover.types import Candidate, ProofState

STATE = ProofState(("x : ℕ\n⊢ x + 0 = x",))


def completion(*choices: tuple[str, list[float]]) -> dict[str, Any]:
    return {"id": "cmpl-1", "object": "text_completion", "model": "m", "choices": [
        {"index": i, "text": text, "finish_reason": "stop",
         "logprobs": {"tokens": [str(j) for j in range(len(lps))], "token_logprobs": lps}}
        for i, (text, lps) in enumerate(choices)]}


class Server:
    """Answers POSTs from a script of (status, body, headers); records each request."""

    def __init__(self) -> None:
        self.script: list[tuple[int, bytes, dict[str, str]]] = []
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                outer.requests.append(json.loads(self.rfile.read(length)))
                outer.headers.append(dict(self.headers))
                status, body, headers = (outer.script.pop(0) if outer.script
                                         else (418, b"unscripted request", {}))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def reply(self, status: int, body: Any, **headers: str) -> Server:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.script.append((status, raw, headers))
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.close()


def client(url: str, **kwargs: Any) -> OpenAICompatibleGenerator:
    options: dict[str, Any] = {"backoff_s": 0.01, "max_backoff_s": 0.05, "max_retries": 3,
                               "timeout_s": 5.0}
    options.update(kwargs)
    return OpenAICompatibleGenerator(url, "prover-7b", **options)


async def test_candidates_are_ranked_merged_and_scored_by_summed_logprobs(
        server: Server) -> None:
    server.reply(200, completion(("simp", [-0.5, -0.25]), (" omega\n", [-0.1, -0.1, -0.1]),
                                 ("simp", [-3.0]), ("", [-0.01]), ("  ", [-0.02])))
    generator = client(server.url, decoding=DecodingConfig(strategy="sample", temperature=1.3,
                                                           top_k=50, max_new_tokens=64))
    candidates = await generator.propose(STATE, 5)
    assert candidates == [Candidate("omega", pytest.approx(-0.3), pytest.approx(-0.1)),
                          Candidate("simp", -0.75, -0.375)]
    (body,) = server.requests
    assert body == {"model": "prover-7b", "prompt": f"[GOAL]\n{STATE.pp}\n[PROOFSTEP]\n",
                    "n": 5, "max_tokens": 64, "logprobs": 1, "temperature": 1.3,
                    "top_p": 1.0, "top_k": 50, "truncate_prompt_tokens": 2300}
    assert "Authorization" not in server.headers[0]
    generator.close()


async def test_beam_search_mean_score_template_and_api_key(server: Server) -> None:
    server.reply(200, completion(("a", [-1.0, -1.0]), ("b", [-1.5])))
    generator = client(server.url, template="bfs-prover", api_key="sk-test",
                       decoding=DecodingConfig(strategy="beam", score="mean"))
    candidates = await generator.propose(STATE, 2)
    assert candidates == [Candidate("a", -1.0, -1.0), Candidate("b", -1.5, -1.5)]
    body = server.requests[0]
    assert body["use_beam_search"] is True and body["temperature"] == 0.0
    assert body["prompt"] == STATE.pp + ":::"
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


async def test_retries_429_and_5xx_then_succeeds(server: Server) -> None:
    server.reply(429, {"error": "slow down"}, **{"Retry-After": "0.02"})
    server.reply(500, b"oops").reply(503, b"warming up")
    server.reply(200, completion(("rfl", [-0.2])))
    candidates = await client(server.url).propose(STATE, 1)
    assert candidates == [Candidate("rfl", -0.2, -0.2)]
    assert len(server.requests) == 4


async def test_gives_up_after_bounded_retries(server: Server) -> None:
    for _ in range(10):
        server.reply(502, b"bad gateway")
    with pytest.raises(GeneratorError, match=r"HTTP 502.*gave up after 3 attempts"):
        await client(server.url, max_retries=2).propose(STATE, 1)
    assert len(server.requests) == 3


async def test_client_errors_are_not_retried(server: Server) -> None:
    server.reply(400, {"error": {"message": "n must be <= 4"}})
    with pytest.raises(GeneratorError, match=r"HTTP 400.*n must be <= 4"):
        await client(server.url).propose(STATE, 8)
    assert len(server.requests) == 1


@pytest.mark.parametrize(("body", "match"), [
    (b"<html>proxy error</html>", "not JSON"),
    ({"choices": "nope"}, "no 'choices' list"),
    ({"choices": [{"text": "simp"}]}, r"choices\[0\] has no 'logprobs.token_logprobs'"),
    ({"choices": [{"text": 3, "logprobs": {"token_logprobs": []}}]}, "no 'text' string"),
    (completion(("simp", [None, -1.0])), "non-number"),  # type: ignore[list-item]
])
async def test_a_bad_response_is_a_clear_generator_error(server: Server, body: Any,
                                                         match: str) -> None:
    server.reply(200, body)
    with pytest.raises(GeneratorError, match=match):
        await client(server.url).propose(STATE, 1)
    assert len(server.requests) == 1


async def test_an_unreachable_server_is_retried_then_reported() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now.
    with pytest.raises(GeneratorError, match=r"cannot reach .*gave up after 2 attempts"):
        await asyncio.wait_for(client(f"http://127.0.0.1:{port}", max_retries=1).propose(
            STATE, 1), 10)


async def test_concurrent_proposals_each_get_their_own_reply(server: Server) -> None:
    for i in range(6):
        server.reply(200, completion((f"t{i}", [-1.0])))
    results = await asyncio.gather(*(client(server.url).propose(STATE, 1) for _ in range(6)))
    assert sorted(r[0].tactic for r in results) == [f"t{i}" for i in range(6)]


async def test_long_states_are_cut_with_a_tokenizer(server: Server) -> None:
    from transformers import ByT5Tokenizer

    server.reply(200, completion(("simp", [-1.0])))
    hyps = "\n".join(f"h{i} : p{i}" for i in range(100))
    state = ProofState((hyps + "\n⊢ q",))
    generator = client(server.url, tokenizer=ByT5Tokenizer(), template="state",
                       decoding=DecodingConfig(max_input_tokens=60))
    await generator.propose(state, 1)
    prompt = server.requests[0]["prompt"]
    assert prompt.endswith("h99 : p99\n⊢ q") and len(prompt.encode()) < 60


def test_completions_url_and_settings() -> None:
    assert completions_url("http://h:8000") == "http://h:8000/v1/completions"
    assert completions_url("http://h:8000/v1/") == "http://h:8000/v1/completions"
    assert completions_url("http://h/v1/completions") == "http://h/v1/completions"
    with pytest.raises(ConfigError):
        OpenAICompatibleGenerator("h:8000", "m")
    with pytest.raises(ConfigError):
        OpenAICompatibleGenerator("http://h", "")
