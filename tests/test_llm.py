"""The optional LLM backend against a local OpenAI-compatible test server."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from affectlens.pipeline import interpret
from affectlens.reason import llm
from test_reason import FACE_CUES, TEXT_CUES, VOICE_CUES, analysis_with, cited_cues_exist, est, seg

ANSWERS: dict[str, object] = {}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ANSWERS["last_request"] = body
        mode = body["model"]
        if mode == "slow":
            time.sleep(2)
        if mode == "http500":
            self.send_response(500)
            self.end_headers()
            return
        prompt = body["messages"][1]["content"]
        ids = [ln.split(":")[0] for ln in prompt.splitlines() if ln.startswith("c")]
        content = {
            "good": json.dumps({
                "observations": [{"text": "The lip corners rose while the voice was loud.", "cues": ids[1:3]}],
                "interpretation": [{"text": "Face and voice diverge.", "cues": [ids[0]]},
                                   {"text": "An invented heart rate spike.", "cues": ["c999"]}],
                "conclusion": {"text": "Mixed: smiling but angry words.", "cues": [ids[0]]},
                "labels": ["Exasperated", "ironic"], "reply": "That sounds really frustrating."}),
            "fenced": "```json\n" + json.dumps({"conclusion": {"text": "Angry.", "cues": [ids[0]]}}) + "\n```",
            "prose": "I think the person is angry.",
            "ungrounded": json.dumps({"conclusion": {"text": "Angry.", "cues": []}}),
            "slow": "{}",
        }[mode]
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def conflict_analysis():
    s = seg(12.0, 14.0, face=est("face", "happy", 0.85, 0.7, FACE_CUES),
            voice=est("voice", "angry", 0.8, -0.6, VOICE_CUES), text=est("text", "angry", 0.7, -0.7, TEXT_CUES))
    return analysis_with(s)


def test_llm_answer_is_parsed_and_grounded(server):
    a = interpret(conflict_analysis(), llm.LLMConfig(url=server, model="good", timeout=5))
    assert a.summary.source == "llm:good"
    assert a.summary.open_labels == ["exasperated", "ironic"]
    assert a.summary.reply == "That sounds really frustrating."
    assert "invented heart rate" not in a.summary.text()  # cited a cue that does not exist: dropped
    cited_cues_exist(a)
    sent = ANSWERS["last_request"]["messages"][1]["content"]
    assert "AU12_lip_corner_raise" in sent and "furious" in sent  # cues, not media, are sent


def test_code_fences_tolerated(server):
    a = interpret(conflict_analysis(), llm.LLMConfig(url=server + "/v1", model="fenced", timeout=5))
    assert a.summary.source == "llm:fenced" and a.summary.conclusion.text == "Angry."


@pytest.mark.parametrize("model,reason", [("prose", "not valid JSON"), ("ungrounded", "no grounded sentence"),
                                          ("slow", "cannot reach"), ("http500", "HTTP 500")])
def test_failures_fall_back_to_offline(server, model, reason):
    a = interpret(conflict_analysis(), llm.LLMConfig(url=server, model=model, timeout=0.5))
    assert a.summary.source.startswith("offline (LLM fallback:") and reason in a.summary.source
    assert a.summary.conclusion is not None
    cited_cues_exist(a)


def test_unreachable_endpoint_falls_back():
    a = interpret(conflict_analysis(), llm.LLMConfig(url="http://127.0.0.1:9", model="x", timeout=1))
    assert "cannot reach" in a.summary.source


def test_endpoint_normalisation():
    assert llm.endpoint("http://h:8080") == "http://h:8080/v1/chat/completions"
    assert llm.endpoint("http://h:8080/v1/") == "http://h:8080/v1/chat/completions"
    assert llm.endpoint("http://h/v1/chat/completions") == "http://h/v1/chat/completions"
