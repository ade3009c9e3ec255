"""A client for an OpenAI-compatible ``/v1/completions`` endpoint (what ``vllm serve`` exposes).

Standard library only: each request is a blocking ``urllib`` call in a worker thread; retries
and their back-off sleep on the event loop, so a cancelled search stops retrying. The server
batches concurrent requests itself (vLLM's continuous batching), so no micro-batcher is needed.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import math
import random
import urllib.error
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from prover.errors import ConfigError, GeneratorError
from prover.generators.decoding import DecodingConfig, Hypothesis, rank_hypotheses
from prover.generators.templates import PromptTemplate, get_template, render_prompt
from prover.types import Candidate, ProofState

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses worth retrying: rate limiting and server-side failures."""


def completions_url(base_url: str) -> str:
    """The completions endpoint for a server address: ``http://host:8000``,
    ``http://host:8000/v1`` and ``.../v1/completions`` all give the last."""
    url = base_url.rstrip("/")
    if url.endswith("/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/completions"
    return url + "/v1/completions"


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    retry_after_s: float | None = None


class OpenAICompatibleGenerator:
    """Asks an OpenAI-compatible server for ``n = k`` completions of the state's prompt with
    token log-probs; a candidate's log-prob is the sum of its ``token_logprobs``.

    ``decoding`` maps to request fields: sampling sends ``temperature``/``top_p`` (and vLLM's
    ``top_k``/``repetition_penalty`` when set), beam search sends vLLM's ``use_beam_search``.
    ``tokenizer`` (optional, any object whose ``__call__`` returns ``input_ids``, e.g. the
    model's Hugging Face tokenizer) lets long states be cut to ``decoding.max_input_tokens``
    on the hypotheses side; without it prompts are sent whole.

    Responses 429 and 5xx, and connection failures, are retried up to ``max_retries`` times with
    exponential back-off from ``backoff_s`` (doubling, capped at ``max_backoff_s``, honouring a
    ``Retry-After`` header within that cap); other statuses and malformed replies raise
    :class:`GeneratorError` at once. At most ``max_concurrency`` requests are in flight.
    """

    def __init__(self, base_url: str, model: str, *,
                 template: str | PromptTemplate = "goal-proofstep",
                 decoding: DecodingConfig | None = None, api_key: str | None = None,
                 tokenizer: Any = None, stop: tuple[str, ...] = (), timeout_s: float = 120.0,
                 max_retries: int = 4, backoff_s: float = 0.5, max_backoff_s: float = 8.0,
                 max_concurrency: int = 64) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"server URL must start with http:// or https://, got {base_url!r}")
        if not model:
            raise ConfigError("OpenAICompatibleGenerator needs a model name")
        if max_retries < 0 or backoff_s < 0 or max_backoff_s < 0 or timeout_s <= 0:
            raise ConfigError("max_retries, backoff_s, max_backoff_s must be >= 0 and "
                              "timeout_s > 0")
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1, got {max_concurrency}")
        self.url = completions_url(base_url)
        self.model = model
        self.template = get_template(template)
        self.decoding = decoding or DecodingConfig(strategy="sample")
        self.tokenizer = tokenizer
        self.stop = tuple(stop)
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._executor = ThreadPoolExecutor(max_workers=max_concurrency,
                                            thread_name_prefix="openai-generator")

    # ---- request ----------------------------------------------------------------------------
    def prompt(self, state: ProofState) -> str:
        """The prompt sent for ``state``."""
        count = None
        if self.tokenizer is not None:
            tokenizer = self.tokenizer

            def count(text: str) -> int:
                return len(tokenizer(text).input_ids)

        return render_prompt(self.template, state.goals, self.decoding.max_input_tokens, count)

    def request_body(self, prompt: str, k: int) -> dict[str, Any]:
        """The JSON body asking for ``k`` completions of ``prompt``."""
        d = self.decoding
        body: dict[str, Any] = {"model": self.model, "prompt": prompt, "n": k,
                                "max_tokens": d.max_new_tokens, "logprobs": 1}
        if self.stop:
            body["stop"] = list(self.stop)
        if d.strategy == "beam":
            body.update(use_beam_search=True, temperature=0.0, length_penalty=d.length_penalty)
        else:
            body.update(temperature=d.temperature, top_p=d.top_p)
            if d.top_k is not None:
                body["top_k"] = d.top_k
        if d.repetition_penalty != 1.0:
            body["repetition_penalty"] = d.repetition_penalty
        return body

    def _post_once(self, payload: bytes) -> _Reply:
        """One blocking POST; HTTP errors come back as replies, network errors raise."""
        request = urllib.request.Request(self.url, data=payload, headers=self._headers,
                                         method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return _Reply(response.status, response.read())
        except urllib.error.HTTPError as exc:
            try:
                body = exc.read()
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
            finally:
                exc.close()
            return _Reply(exc.code, body, _seconds(retry_after))

    async def _post(self, payload: bytes) -> Mapping[str, Any]:
        loop = asyncio.get_running_loop()
        attempts = self.max_retries + 1
        problem = ""
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                reply = await loop.run_in_executor(self._executor, self._post_once, payload)
            except (OSError, http.client.HTTPException) as exc:  # URLError, timeouts, resets
                problem = f"cannot reach {self.url}: {exc}"
            else:
                if 200 <= reply.status < 300:
                    return _parse_json(reply.body, self.url)
                excerpt = reply.body[:300].decode("utf-8", "replace")
                problem = f"{self.url} answered HTTP {reply.status}: {excerpt}"
                if reply.status not in RETRY_STATUSES:
                    raise GeneratorError(problem)
                retry_after = reply.retry_after_s
            if attempt + 1 < attempts:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt)
                if retry_after is not None:
                    delay = min(self.max_backoff_s, max(delay, retry_after))
                delay *= 1 + 0.1 * random.random()  # jitter: concurrent searches spread out
                log.info("%s; retry %d/%d in %.2f s", problem, attempt + 1, self.max_retries,
                         delay)
                await asyncio.sleep(delay)
        raise GeneratorError(f"{problem} (gave up after {attempts} attempts)")

    # ---- response ---------------------------------------------------------------------------
    def hypotheses(self, data: Mapping[str, Any]) -> list[Hypothesis]:
        """The completions of a response body, with summed log-probs; malformed bodies raise
        :class:`GeneratorError` naming the bad field."""
        choices = data.get("choices")
        if not isinstance(choices, list):
            raise GeneratorError(f"{self.url}: response has no 'choices' list: "
                                 f"{_excerpt(data)}")
        out: list[Hypothesis] = []
        for index, choice in enumerate(choices):
            where = f"{self.url}: choices[{index}]"
            if not isinstance(choice, Mapping) or not isinstance(choice.get("text"), str):
                raise GeneratorError(f"{where} has no 'text' string: {_excerpt(choice)}")
            logprobs = choice.get("logprobs")
            values = logprobs.get("token_logprobs") if isinstance(logprobs, Mapping) else None
            if not isinstance(values, list):
                raise GeneratorError(f"{where} has no 'logprobs.token_logprobs' list (does the "
                                     f"server return logprobs?): {_excerpt(choice)}")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and math.isfinite(v) for v in values):
                raise GeneratorError(f"{where}.logprobs.token_logprobs holds a non-number")
            out.append(Hypothesis(choice["text"], (), float(sum(values)), len(values)))
        return out

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        """Up to ``k`` candidates for ``state``, best first."""
        if k < 1:
            return []
        payload = json.dumps(self.request_body(self.prompt(state), k)).encode("utf-8")
        data = await self._post(payload)
        return rank_hypotheses(self.hypotheses(data), k, self.decoding.score)

    def close(self) -> None:
        """Release the request threads."""
        self._executor.shutdown(wait=False)

    def __repr__(self) -> str:
        return f"OpenAICompatibleGenerator({self.url!r}, model={self.model!r})"


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds (the HTTP-date form is ignored)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _parse_json(body: bytes, url: str) -> Mapping[str, Any]:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GeneratorError(f"{url}: response is not JSON ({exc}): "
                             f"{body[:200].decode('utf-8', 'replace')!r}") from exc
    if not isinstance(data, Mapping):
        raise GeneratorError(f"{url}: response is not a JSON object: {_excerpt(data)}")
    return data


def _excerpt(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 200 else text[:200] + "..."


__all__ = ["RETRY_STATUSES", "OpenAICompatibleGenerator", "completions_url"]
