"""A stand-in for ``vllm serve``'s ``/v1/completions`` on 127.0.0.1, behaving as vLLM's source
does where our client depends on it (vLLM's ``completion/protocol.py``, ``engine/serving.py``
``beam_search``, ``renderers/params.py``, ``v1/engine/detokenizer.py``):

- the prompt is "tokenized" into words; ``truncate_prompt_tokens=N`` keeps the last N
  (``tokens[-N:]``), and N above ``max_model_len - max_tokens`` is a 400 naming it; a prompt
  longer than the context is a 400 naming the context length;
- sampling returns its scripted samples: raw log-probs whatever ``temperature`` or
  ``repetition_penalty`` say, the end-of-sequence token in ``token_ids`` (not in the text), the
  text cut at a ``stop`` string with the tokens that made it kept;
- beam search reads only ``n``, ``max_tokens``, ``temperature``, ``length_penalty``,
  ``include_stop_str_in_output``: ``stop``, ``top_k``, ``repetition_penalty`` are ignored;
  a finished beam's ``token_ids`` lose the end-of-sequence token unless
  ``include_stop_str_in_output``; ``2 * n`` log-probs above ``max_logprobs`` fail the request.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EOS = "</s>"


@dataclass(frozen=True)
class Sequence:
    """A scripted output: its tokens, each token's raw log-prob, and the end-of-sequence
    token's log-prob (``None``: cut at ``max_tokens``)."""

    tokens: tuple[str, ...]
    logprobs: tuple[float, ...]
    eos_logprob: float | None = None


@dataclass
class VLLMStandIn:
    beams: list[Sequence] = field(default_factory=list)
    samples: list[Sequence] = field(default_factory=list)
    max_model_len: int = 4096
    max_logprobs: int = 20
    requests: list[dict[str, Any]] = field(default_factory=list)
    prompts: list[list[str]] = field(default_factory=list)
    """The prompt each request was run on, as tokens, after truncation."""

    def __post_init__(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                outer.requests.append(body)
                status, answer = outer.answer(body)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,),
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)

    @staticmethod
    def _error(message: str) -> tuple[int, dict[str, Any]]:
        return 400, {"error": {"message": message, "type": "BadRequestError", "code": 400}}

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        max_tokens = int(body.get("max_tokens", 16))
        tokens = str(body["prompt"]).split()
        truncate = body.get("truncate_prompt_tokens")
        if truncate is not None:
            if truncate > self.max_model_len - max_tokens:
                return self._error(
                    f"truncate_prompt_tokens={truncate} cannot be greater than max_model_len - "
                    f"max_tokens = {self.max_model_len - max_tokens}. Please request a smaller "
                    "truncation size.")
            tokens = tokens[-truncate:]
        if len(tokens) > self.max_model_len - max_tokens:
            return self._error(
                f"You passed {len(tokens)} input tokens and requested {max_tokens} output "
                f"tokens. However, the model's context length is only {self.max_model_len}. "
                "Please reduce the length of the input messages.")
        self.prompts.append(tokens)
        n = int(body.get("n", 1))
        if body.get("use_beam_search"):
            if 2 * n > self.max_logprobs:
                return self._error(f"Requested sample logprobs of {2 * n}, which is greater "
                                   f"than max allowed: {self.max_logprobs}")
            keep_eos = bool(body.get("include_stop_str_in_output"))
            choices = [self._choice(i, seq, keep_eos, ()) for i, seq in enumerate(self.beams[:n])]
        else:
            stop = body.get("stop") or []
            stop = [stop] if isinstance(stop, str) else stop
            choices = [self._choice(i, seq, True, tuple(stop))
                       for i, seq in enumerate(self.samples[:n])]
        return 200, {"id": "cmpl-standin", "object": "text_completion", "model": body["model"],
                     "choices": choices}

    @staticmethod
    def _choice(index: int, seq: Sequence, keep_eos: bool,
                stop: tuple[str, ...]) -> dict[str, Any]:
        tokens, logprobs = list(seq.tokens), list(seq.logprobs)
        finish = "length"
        text, out_tokens, out_logprobs = "", [], []
        for token, logprob in zip(tokens, logprobs):
            text += token
            out_tokens.append(token)
            out_logprobs.append(logprob)
            hits = [text.find(s) for s in stop if s in text]
            if hits:  # the detokenizer cuts the text; the tokens that made it stay
                text, finish = text[:min(hits)], "stop"
                break
        else:
            if seq.eos_logprob is not None:
                finish = "stop"
                if keep_eos:
                    out_tokens.append(EOS)
                    out_logprobs.append(seq.eos_logprob)
        offsets, at = [], 0
        for token in out_tokens:
            offsets.append(at)
            at += 0 if token == EOS else len(token)
        return {"index": index, "text": text, "finish_reason": finish,
                "logprobs": {"tokens": out_tokens, "token_logprobs": out_logprobs,
                             "text_offset": offsets, "top_logprobs": None}}
