"""A client for an OpenAI-compatible ``/v1/completions`` endpoint (what ``vllm serve`` exposes).

Standard library only: each request is a blocking ``urllib`` call in a worker thread; retries
and their back-off sleep on the event loop, so a cancelled search stops retrying. The server
batches concurrent requests itself (vLLM's continuous batching), so no micro-batcher is needed.

What a candidate's log-prob means here (vLLM's OpenAI-compatible server, read in its source):

- Sampling: the sum of the returned ``token_logprobs``. vLLM's default ``--logprobs-mode
  raw_logprobs`` gives the model's own log-probs, before repetition penalty, temperature and
  top-k/top-p; the end-of-sequence token is in ``token_ids`` (only the text leaves it out), so
  it counts. This is the meaning :class:`~prover.generators.decoding.DecodingConfig` documents
  for every backend.
- Beam search (``use_beam_search``): vLLM runs it in the server's front end, one
  ``max_tokens=1`` request per beam and step asking ``logprobs = 2 * n``, and passes on only
  ``n``, ``max_tokens``, ``ignore_eos``, ``temperature``, ``length_penalty`` and
  ``include_stop_str_in_output``: ``stop``, ``repetition_penalty`` and ``top_k`` are dropped.
  So this client cuts each choice at the first stop string itself (its log-prob keeps the
  tokens up to and including the stop string's, as sampling's does), refuses
  ``repetition_penalty``, and refuses ``k`` above half the server's ``--max-logprobs``
  (``server_max_logprobs``, vLLM's default 20). A finished beam's ``token_ids`` lose the
  end-of-sequence token unless ``include_stop_str_in_output`` is set, and the log-probs
  returned follow ``token_ids``: it is sent, so the end-of-sequence token counts here as in
  sampling. The server keeps beams by ``cumulative_logprob / len(prompt + output) **
  length_penalty`` (its length includes the prompt); that score is not returned, and candidates
  are ranked by their summed log-prob (or its mean) like every other backend's.

Long prompts: the server is asked to keep the last ``decoding.max_input_tokens`` prompt tokens
(``truncate_prompt_tokens``, which vLLM applies as ``tokens[-n:]``): the goal, at the end of the
prompt, survives. A prompt the server still finds too long (HTTP 400 naming the context length)
gives no candidates for that state, with a warning, instead of ending the search.
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
    token log-probs; a candidate's log-prob is the sum of its ``token_logprobs`` (see the
    module docstring for what they mean under sampling and beam search).

    ``decoding`` maps to request fields: sampling sends ``temperature``/``top_p`` (and vLLM's
    ``top_k``/``repetition_penalty`` when set), beam search sends vLLM's ``use_beam_search``.
    ``tokenizer`` (optional, any object whose ``__call__`` returns ``input_ids``, e.g. the
    model's Hugging Face tokenizer) lets long states be cut to ``decoding.max_input_tokens``
    on the hypotheses side; without it the server truncates from the start (module docstring).
    ``stop`` strings end each candidate (sent to the server; applied here under beam search,
    which ignores them). ``server_max_logprobs`` is the server's ``--max-logprobs``.

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
                 max_concurrency: int = 64, server_max_logprobs: int = 20) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"server URL must start with http:// or https://, got {base_url!r}")
        if not model:
            raise ConfigError("OpenAICompatibleGenerator needs a model name")
        if max_retries < 0 or backoff_s < 0 or max_backoff_s < 0 or timeout_s <= 0:
            raise ConfigError("max_retries, backoff_s, max_backoff_s must be >= 0 and "
                              "timeout_s > 0")
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if isinstance(server_max_logprobs, bool) or not isinstance(server_max_logprobs, int) \
                or server_max_logprobs < 1:
            raise ConfigError(f"server_max_logprobs must be an integer >= 1 (the server's "
                              f"--max-logprobs), got {server_max_logprobs!r}")
        d = decoding or DecodingConfig(strategy="sample")
        if d.strategy == "beam" and d.repetition_penalty != 1.0:
            raise ConfigError("vLLM's beam search ignores repetition_penalty (it passes on only "
                              "n, max_tokens, ignore_eos, temperature, length_penalty): use "
                              "strategy=sample or repetition_penalty=1")
        if any(not isinstance(stop_string, str) or not stop_string for stop_string in stop):
            raise ConfigError(f"stop strings must be non-empty strings, got {stop!r}")
        self.url = completions_url(base_url)
        self.model = model
        self.template = get_template(template)
        self.decoding = d
        self.server_max_logprobs = server_max_logprobs
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
        if d.max_input_tokens is not None:
            body["truncate_prompt_tokens"] = d.max_input_tokens
        if d.strategy == "beam":
            # what vLLM's beam search reads, and no more (module docstring)
            body.update(use_beam_search=True, temperature=0.0, length_penalty=d.length_penalty,
                        include_stop_str_in_output=True)
            return body
        if self.stop:
            body["stop"] = list(self.stop)
        body.update(temperature=d.temperature, top_p=d.top_p)
        if d.top_k is not None:
            body["top_k"] = d.top_k
        if d.repetition_penalty != 1.0:
            body["repetition_penalty"] = d.repetition_penalty
        return body

    def check_k(self, k: int) -> None:
        """Raise ConfigError when the server would refuse ``k`` beams (module docstring)."""
        if self.decoding.strategy == "beam" and 2 * k > self.server_max_logprobs:
            raise ConfigError(
                f"vLLM's beam search with n={k} asks for {2 * k} log-probs per step, above "
                f"the server's --max-logprobs ({self.server_max_logprobs}, vLLM's default 20): "
                f"start `vllm serve` with --max-logprobs {2 * k} (or more) and pass "
                f"server_max_logprobs={2 * k} (spec option server_max_logprobs), or ask for "
                f"k <= {self.server_max_logprobs // 2}")

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
                    raise _client_error(reply, problem)
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
            raw = choice.get("logprobs")
            logprobs: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
            values = logprobs.get("token_logprobs")
            if not isinstance(values, list):
                raise GeneratorError(f"{where} has no 'logprobs.token_logprobs' list (does the "
                                     f"server return logprobs?): {_excerpt(choice)}")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and math.isfinite(v) for v in values):
                raise GeneratorError(f"{where}.logprobs.token_logprobs holds a non-number")
            text: str = choice["text"]
            stop = self._first_stop(text) if self.decoding.strategy == "beam" else None
            if stop is not None:  # beam search ignored `stop`: cut here (module docstring)
                offsets = _offsets(logprobs, len(values), where)
                values = [v for v, offset in zip(values, offsets) if offset < stop[1]]
                text = text[:stop[0]]
            out.append(Hypothesis(text, (), float(sum(values)), len(values)))
        return out

    def _first_stop(self, text: str) -> tuple[int, int] | None:
        """(start, end) of the earliest stop string in ``text``, or None."""
        found = [(i, i + len(s)) for s in self.stop if (i := text.find(s)) >= 0]
        return min(found) if found else None

    async def propose(self, state: ProofState, k: int) -> list[Candidate]:
        """Up to ``k`` candidates for ``state``, best first. A prompt the server finds too
        long gives none (logged); ``k`` beyond what the server allows raises ConfigError."""
        if k < 1:
            return []
        self.check_k(k)
        payload = json.dumps(self.request_body(self.prompt(state), k)).encode("utf-8")
        try:
            data = await self._post(payload)
        except PromptTooLongError as exc:
            log.warning("no candidates for a state whose prompt is too long for the server "
                        "even after truncation (lower max_input_tokens?): %s", exc)
            return []
        return rank_hypotheses(self.hypotheses(data), k, self.decoding.score)

    def close(self) -> None:
        """Release the request threads."""
        self._executor.shutdown(wait=False)

    def __repr__(self) -> str:
        return f"OpenAICompatibleGenerator({self.url!r}, model={self.model!r})"


class PromptTooLongError(GeneratorError):
    """The server refused a prompt as longer than the model's context (HTTP 400): that state
    gets no candidates; the search goes on."""


def _client_error(reply: _Reply, problem: str) -> GeneratorError:
    """The error for a non-retried HTTP status: an over-long prompt is told apart from a bad
    ``truncate_prompt_tokens`` (which every request would hit: a configuration error)."""
    text = reply.body.decode("utf-8", "replace")
    if reply.status == 400 and "truncate_prompt_tokens" in text:
        return GeneratorError(f"{problem} (decoding.max_input_tokens is sent as "
                              "truncate_prompt_tokens: it must be at most the model's context "
                              "length minus max_new_tokens)")
    if reply.status == 400 and "context length" in text:
        return PromptTooLongError(problem)
    return GeneratorError(problem)


def _offsets(logprobs: Mapping[str, Any], count: int, where: str) -> list[int]:
    """Each token's start in the choice's text: ``text_offset``, or summed ``tokens``."""
    offsets = logprobs.get("text_offset")
    if isinstance(offsets, list) and len(offsets) == count \
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets):
        return offsets
    tokens = logprobs.get("tokens")
    if isinstance(tokens, list) and len(tokens) == count \
            and all(isinstance(t, str) for t in tokens):
        starts, at = [], 0
        for token in tokens:
            starts.append(at)
            at += len(token)
        return starts
    raise GeneratorError(f"{where} has neither 'logprobs.text_offset' nor 'logprobs.tokens' "
                         "matching its log-probs: cannot cut it at a stop string")


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


__all__ = ["RETRY_STATUSES", "OpenAICompatibleGenerator", "PromptTooLongError",
           "completions_url"]
