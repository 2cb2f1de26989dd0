"""Optional LLM explanations through any OpenAI-compatible chat endpoint
(llama.cpp server, vLLM, Ollama, ...).

Only the textualized cues and estimates are sent — never the media. The model must answer
strict JSON in which every sentence cites cue ids it was given; sentences citing nothing
or unknown ids are dropped. Any failure (connection, timeout, HTTP error, bad JSON, nothing
grounded left) falls back to the offline explanation and says why in ``source``.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass

from ..schema import Cue, CueRef, Estimate, Explanation, Segment, Sentence
from .explain import clock, estimate_cue

SYSTEM = (
    "You explain emotion-recognition results. You get measured cues (each with an id) and model "
    "estimates per modality. Answer with one JSON object only: "
    '{"observations": [{"text": str, "cues": [id, ...]}], "interpretation": [{"text": str, "cues": [id, ...]}], '
    '"conclusion": {"text": str, "cues": [id, ...]}, "labels": [open-vocabulary emotion words], '
    '"reply": str or null}. Every sentence must cite the ids of the cues it rests on and mention nothing '
    "that is not among the cues. Say 'uncertain' when the confidence is low. 'reply' is a short empathetic "
    "reply to the last speaker for dialogue input, else null."
)


@dataclass
class LLMConfig:
    """Where and how to call the endpoint."""

    url: str
    model: str
    timeout: float = 30.0
    api_key: str | None = None
    max_tokens: int = 600


def endpoint(url: str) -> str:
    """Normalise a base URL to its ``/v1/chat/completions`` endpoint."""
    url = url.rstrip("/")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return url + "/chat/completions"
    return url + "/v1/chat/completions"


def textualize(segments: list[Segment]) -> tuple[str, dict[str, CueRef]]:
    """Cues and estimates as numbered lines; returns the text and ``id -> CueRef``."""
    lines, ids = [], {}

    def add(cue: Cue, line: str) -> None:
        cid = f"c{len(ids) + 1}"
        ids[cid] = CueRef(modality=cue.modality, name=cue.name, t0=cue.t0)
        lines.append(f"{cid}: {line}")

    for seg in segments:
        who = f" speaker {seg.speaker}" if seg.speaker else ""
        lines.append(f"segment {clock(seg.start)}-{clock(seg.end)}{who}" + (f' text: "{seg.text}"' if seg.text else ""))
        for m, est in list(seg.estimates.items()) + ([("fused", seg.fused)] if seg.fused else []):
            cue = estimate_cue(est, seg.start, seg.end)
            add(cue, _estimate_line(m, est))
            for c in est.cues:
                if c.name != "estimate":
                    base = f" (baseline {c.baseline})" if c.baseline is not None else ""
                    word = f' "{c.text}"' if c.text else ""
                    add(c, f"{c.modality} {c.name}{word} = {c.value} {c.unit}{base} at {clock(c.t0)}-{clock(c.t1)}")
    return "\n".join(lines), ids


def _estimate_line(modality: str, est: Estimate) -> str:
    top = sorted(est.probs.items(), key=lambda kv: -kv[1])[:3]
    dims = ", ".join(f"{d} {getattr(est, d):+.2f}" for d in ("valence", "arousal", "dominance")
                     if getattr(est, d) is not None)
    fine = ", ".join(est.fine_predicted[:5])
    return (f"{modality} estimate: label {est.label} (confidence {est.confidence:.2f}); top "
            + ", ".join(f"{k} {v:.2f}" for k, v in top) + (f"; {dims}" if dims else "")
            + (f"; fine labels {fine}" if fine else ""))


class LLMError(RuntimeError):
    """The endpoint could not give a usable answer (the message says why, in one line)."""


def chat(cfg: LLMConfig, user: str) -> str:
    """One chat completion; returns the assistant's content."""
    body = {"model": cfg.model, "temperature": 0.2, "max_tokens": cfg.max_tokens,
            "response_format": {"type": "json_object"},
            "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]}
    req = urllib.request.Request(endpoint(cfg.url), data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {})})
    try:
        with urllib.request.urlopen(req, timeout=cfg.timeout) as resp:
            payload = json.loads(resp.read().decode("utf-8", errors="replace"))
    except urllib.error.HTTPError as exc:
        raise LLMError(f"HTTP {exc.code} from {endpoint(cfg.url)}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise LLMError(f"cannot reach {endpoint(cfg.url)} ({reason})") from None
    except json.JSONDecodeError:
        raise LLMError("endpoint answered non-JSON") from None
    try:
        return payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise LLMError("endpoint answer has no choices[0].message.content") from None


def parse(content: str, ids: dict[str, CueRef], model: str) -> Explanation:
    """Strictly parse the model's JSON; keep only sentences that cite known cue ids."""
    text = re.sub(r"^```(?:json)?\s*|\s*```$", "", content.strip())
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise LLMError("model answer is not valid JSON") from None
    if not isinstance(data, dict):
        raise LLMError("model answer is not a JSON object")

    def sentence(item) -> Sentence | None:
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
            return None
        cites = [ids[c] for c in item.get("cues") or [] if isinstance(c, str) and c in ids]
        if not cites or len(cites) != len(item.get("cues") or []):
            return None  # ungrounded or citing cues that do not exist
        return Sentence(text=item["text"].strip(), cites=cites)

    def sentences(key: str) -> list[Sentence]:
        items = data.get(key) or []
        return [s for s in map(sentence, items if isinstance(items, list) else []) if s]

    conclusion = sentence(data.get("conclusion"))
    exp = Explanation(observations=sentences("observations"), interpretation=sentences("interpretation"),
                      conclusion=conclusion, source=f"llm:{model}")
    if conclusion is None and not exp.observations:
        raise LLMError("model answer has no grounded sentence")
    labels = data.get("labels") or []
    exp.open_labels = [str(x).strip().lower() for x in labels if isinstance(x, str) and x.strip()][:10]
    reply = data.get("reply")
    exp.reply = reply.strip() if isinstance(reply, str) and reply.strip() else None
    return exp


def explain(cfg: LLMConfig, segments: list[Segment], fallback: Explanation | None) -> Explanation | None:
    """LLM explanation of ``segments``; on failure the ``fallback`` with the reason in ``source``."""
    if not any(s.estimates for s in segments):
        return fallback
    prompt, ids = textualize(segments)
    try:
        return parse(chat(cfg, prompt), ids, cfg.model)
    except LLMError as exc:
        if fallback is None:
            return None
        return fallback.model_copy(update={"source": f"offline (LLM fallback: {exc})"})
