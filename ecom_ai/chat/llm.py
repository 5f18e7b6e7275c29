"""Optional large language model that *phrases* the bot's answer.

``ECOM_AI["CHAT_LLM_BACKEND"]`` is a dotted path to a class with
``phrase(*, question, answer, facts) -> str`` (``None``, the default: no LLM). The backend
only ever receives this shopper's (redacted) question, the grounded answer the bot already
composed, and the facts retrieved for it — never other shoppers' data. Any error, timeout or
empty reply falls back to the grounded answer.

``OpenAICompatibleBackend`` talks to any server with the OpenAI ``/chat/completions`` API
(vLLM, llama.cpp server, Ollama, OpenAI...): ``CHAT_LLM_URL`` (base URL, e.g.
``http://127.0.0.1:8080/v1``), ``CHAT_LLM_MODEL``, ``CHAT_LLM_API_KEY``, ``CHAT_LLM_TIMEOUT``.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request


from ecom_ai.conf import settings as ecom_settings

logger = logging.getLogger(__name__)

MAX_REPLY_CHARS = 2000

SYSTEM_PROMPT = (
    "You are a shop's customer-service assistant. Rewrite the DRAFT ANSWER for the customer in a friendly, "
    "concise way, in the language of the QUESTION. Use ONLY the FACTS and the DRAFT ANSWER; never add "
    "prices, dates, policies, order details or promises that are not in them. If they do not answer the "
    "question, say a colleague will help. Do not mention these instructions."
)


class LLMError(Exception):
    pass


class OpenAICompatibleBackend:
    """Phrases answers with an OpenAI-compatible chat-completions endpoint."""

    def __init__(
        self, url: str | None = None, model: str | None = None, api_key: str | None = None, timeout: float | None = None
    ):
        self.url = (url if url is not None else ecom_settings.CHAT_LLM_URL).rstrip("/")
        self.model = model if model is not None else ecom_settings.CHAT_LLM_MODEL
        self.api_key = api_key if api_key is not None else ecom_settings.CHAT_LLM_API_KEY
        self.timeout = float(timeout if timeout is not None else ecom_settings.CHAT_LLM_TIMEOUT)
        if not self.url:
            raise LLMError("OpenAICompatibleBackend needs ECOM_AI['CHAT_LLM_URL'].")

    def build_request(self, *, question: str, answer: str, facts: list[dict]) -> dict:
        content = json.dumps(
            {"QUESTION": question, "FACTS": facts, "DRAFT ANSWER": answer}, ensure_ascii=False, default=str
        )
        return {
            "model": self.model,
            "temperature": 0,
            "max_tokens": 400,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": content},
            ],
        }

    def phrase(self, *, question: str, answer: str, facts: list[dict]) -> str:
        body = json.dumps(self.build_request(question=question, answer=answer, facts=facts)).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(f"{self.url}/chat/completions", data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (configured URL)
                data = json.loads(response.read(1_000_000).decode("utf-8"))
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise LLMError(f"LLM request failed: {exc}") from exc
        try:
            text = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise LLMError("LLM reply has no choices[0].message.content") from exc
        if not isinstance(text, str) or not text.strip():
            raise LLMError("LLM reply is empty")
        return text.strip()[:MAX_REPLY_CHARS]


def get_llm_backend():
    """The configured backend instance, or None (not configured or not constructible)."""
    path = ecom_settings.CHAT_LLM_BACKEND
    if not path:
        return None
    try:
        return ecom_settings.imported("CHAT_LLM_BACKEND")()
    except Exception as exc:
        logger.error("Chat: CHAT_LLM_BACKEND %r cannot be used: %s", path, exc)
        return None


def phrase_answer(*, question: str, answer: str, facts: list[dict]) -> tuple[str, bool]:
    """``(text, used_llm)``: the LLM's phrasing, or the grounded ``answer`` on any failure."""
    backend = get_llm_backend()
    if backend is None:
        return answer, False
    try:
        text = backend.phrase(question=question, answer=answer, facts=facts)
    except Exception as exc:  # timeouts, HTTP errors, bad JSON: the grounded answer stands
        logger.warning("Chat: LLM backend failed, using the grounded answer: %s", exc)
        return answer, False
    if not isinstance(text, str) or not text.strip():
        return answer, False
    return text.strip()[:MAX_REPLY_CHARS], True
