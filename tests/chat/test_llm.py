"""The LLM backend against a local stub of the OpenAI chat-completions API (loopback only)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ecom_ai.chat.llm import LLMError, OpenAICompatibleBackend
from ecom_ai.chat.service import ChatService

pytestmark = pytest.mark.django_db


class StubLLM:
    def __init__(self):
        self.requests = []
        self.mode = "ok"
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if stub.mode == "slow":
                    time.sleep(1.5)
                if stub.mode == "error":
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"boom")
                    return
                reply = {"choices": [{"message": {"role": "assistant", "content": "PHRASED: all good!"}}]}
                if stub.mode == "garbage":
                    reply = {"nope": True}
                data = json.dumps(reply).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    server = StubLLM()
    yield server
    server.close()


@pytest.fixture
def llm_settings(settings, stub):
    settings.ECOM_AI = {
        **settings.ECOM_AI,
        "CHAT_LLM_BACKEND": "ecom_ai.chat.llm.OpenAICompatibleBackend",
        "CHAT_LLM_URL": stub.url,
        "CHAT_LLM_MODEL": "stub-model",
        "CHAT_LLM_API_KEY": "sk-test",
        "CHAT_LLM_TIMEOUT": 0.5,
    }
    return settings


def test_backend_phrases_from_the_facts(stub):
    backend = OpenAICompatibleBackend(url=stub.url, model="m", api_key="k", timeout=2)
    text = backend.phrase(question="where is my order?", answer="Order X has shipped.", facts=[{"order": "X"}])
    assert text == "PHRASED: all good!"
    request = stub.requests[0]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer k"
    assert request["body"]["model"] == "m"
    assert "Order X has shipped." in request["body"]["messages"][1]["content"]


@pytest.mark.parametrize("mode", ["error", "garbage", "slow"])
def test_backend_errors_raise(stub, mode):
    stub.mode = mode
    with pytest.raises(LLMError):
        OpenAICompatibleBackend(url=stub.url, model="m", api_key="", timeout=0.5).phrase(
            question="q", answer="a", facts=[]
        )


def test_chat_uses_llm_and_it_sees_only_this_shoppers_facts(chat_pack, shop, llm_settings, stub):
    conv = ChatService.start_conversation(visitor_key="v", user=shop["alice"])
    number = shop["alice_order"].number
    bot = ChatService().reply(conv, f"where is my order {number}", user=shop["alice"])
    assert bot.text == "PHRASED: all good!"
    assert bot.sources[0]["type"] == "order" and bot.sources[-1]["type"] == "llm"
    sent = json.dumps(stub.requests[-1]["body"])
    assert number in sent and "TRK-ALICE-1" in sent
    # nothing about other shoppers or their orders
    for other in (
        shop["bob_order"].number,
        shop["guest_order"].number,
        "bob@example.com",
        "guest@example.com",
        "TRK-BOB-9",
    ):
        assert other not in sent
    # the order's private extras (IP, device...) never leave either
    assert "ip_address" not in sent and "payment_fingerprint" not in sent


@pytest.mark.parametrize("mode", ["slow", "error"])
def test_llm_timeout_or_error_falls_back_to_grounded_answer(chat_pack, shop, llm_settings, stub, mode):
    stub.mode = mode
    conv = ChatService.start_conversation(visitor_key="v")
    started = time.monotonic()
    bot = ChatService().reply(conv, "how do I return an item?", user=None)
    assert time.monotonic() - started < 1.4  # the 0.5 s timeout held
    assert "30 days" in bot.text and bot.sources[0]["label"] == "Returns"
    assert all(s["type"] != "llm" for s in bot.sources)
