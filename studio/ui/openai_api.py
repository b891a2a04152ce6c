"""The studio as an OpenAI-compatible server: /v1/models, /v1/completions, /v1/chat/completions.

Mounted on the same FastAPI app as the page, and served by the same job registry:
a request becomes a text job in the text worker (the model the studio has loaded
stays warm), with the Text tab's limits, per-visitor quota and queue, and a stop
of the job when the client goes away (closing a stream stops generation within a
step). With `STUDIO_API_KEY` set, requests need `Authorization: Bearer <key>`
(401 otherwise). The model's chat template is applied in the worker, exactly as
for the Text tab. Anchors: vLLM's and text-generation-webui's OpenAI endpoints.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse

from studio.errors import StudioError
from studio.events import DoneEvent, ErrorEvent, ProgressEvent
from studio.registry import presets

from studio.text.form import DEFAULT_MODEL, default
FINISH = {"end of text": "stop", "stop sequence": "stop", "stopped": "stop", "max tokens": "length"}


def error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None,
          param: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": param, "code": code}}, status)


def owner_for(request: Request, key: str | None) -> str:
    """API callers share quotas by key (or by address when no key is set)."""
    if key:
        return "api-key:" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"api:{request.client.host if request.client else 'unknown'}"


def text_of(content: Any) -> str:
    """OpenAI message content: a string, or a list of parts of which the text parts count."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if content is None:
        return ""
    raise StudioError("messages: each content must be text or a list of text parts.")


def build_text_job(body: dict, chat: bool, settings, locked: bool):
    """The OpenAI request as the Text tab's job (checked by the same dataclasses, so the same limits)."""
    from studio.loading import LoadRequest
    from studio.text.request import TextRequest
    from studio.text.tasks import TextJob

    if not isinstance(body, dict):
        raise StudioError("The body must be a JSON object.")
    model = body.get("model") or DEFAULT_MODEL
    if not isinstance(model, str):
        raise StudioError("model: use a model id from /v1/models.")
    stop = body.get("stop") or ()
    stop = (stop,) if isinstance(stop, str) else tuple(stop)
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default("max_new_tokens")
    temperature = body.get("temperature", 1.0 if chat else default("temperature"))
    fields = dict(
        max_new_tokens=max_tokens,
        temperature=temperature if temperature else 1.0,
        greedy=temperature == 0,
        top_p=body.get("top_p", 1.0) or 1.0,
        num_sequences=body.get("n", 1) or 1,
        seed=body.get("seed", 0) or 0,
        stop_sequences=stop,
        ignore_eos=bool(body.get("ignore_eos", False)),  # vLLM's extra parameter, for benchmarks
    )
    if chat:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            raise StudioError("messages: send a list of {role, content} objects ending with the user's message.")
        system = "\n".join(text_of(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))
        turns = [{"role": m.get("role"), "content": text_of(m.get("content"))} for m in messages
                 if m.get("role") in ("user", "assistant")]
        if not turns or turns[-1]["role"] != "user":
            raise StudioError("messages: the last message must be the user's.")
        request = TextRequest(prompt=turns[-1]["content"], chat=True, system_prompt=system,
                              history=tuple(turns[:-1]), **fields)
    else:
        prompt = body.get("prompt")
        if isinstance(prompt, list) and len(prompt) == 1:
            prompt = prompt[0]
        if not isinstance(prompt, str):
            raise StudioError("prompt: send one prompt as text.")
        request = TextRequest(prompt=prompt, **fields)
    load = LoadRequest(model, presets_only=locked)
    return TextJob(load=load, request=request)


def create_openai_router(studio) -> APIRouter:
    router = APIRouter(prefix="/v1")

    def authorised(request: Request) -> JSONResponse | None:
        key = studio.settings.api_key
        if not key:
            return None
        given = request.headers.get("authorization", "")
        token = given[7:] if given.lower().startswith("bearer ") else ""
        if not hmac.compare_digest(token.encode(), key.encode()):
            return error(401, "Incorrect API key provided.", code="invalid_api_key")
        return None

    @router.get("/models")
    async def models(request: Request):
        refusal = authorised(request)
        if refusal:
            return refusal
        ids = [p.id for p in presets("text")]
        return {"object": "list", "data": [{"id": i, "object": "model", "created": 0, "owned_by": "genai-studio"}
                                           for i in ids]}

    async def complete(request: Request, chat: bool):
        refusal = authorised(request)
        if refusal:
            return refusal
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return error(400, "The body is not valid JSON.")
        try:
            job_payload = build_text_job(body, chat, studio.settings, studio.settings.locked)
            owner = owner_for(request, studio.settings.api_key)
            job = studio.jobs.submit(owner, "text", "studio.text.tasks:generate", job_payload, label="api",
                                     settings=studio.settings_for_owner(owner))
        except StudioError as err:
            status = 429 if "limit" in str(err) or "queue is full" in str(err) else 400
            return error(status, str(err), code="rate_limit_exceeded" if status == 429 else None)
        name = job_payload.load.name
        ident = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex[:24]
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(stream(job, ident, name, chat, include_usage), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        try:
            result = await wait(job)
        except StudioError as err:
            return error(400, str(err))
        finally:
            if not job.ended:
                studio.jobs.stop(job)
        return whole(result, ident, name, chat)

    @router.post("/completions")
    async def completions(request: Request):
        return await complete(request, chat=False)

    @router.post("/chat/completions")
    async def chat_completions(request: Request):
        return await complete(request, chat=True)

    async def wait(job):
        batches = job_batches(job)
        while True:
            batch = await anyio.to_thread.run_sync(next_batch, batches)
            for event in batch:
                if isinstance(event, ErrorEvent):
                    raise StudioError(event.message)
                if isinstance(event, DoneEvent):
                    return event.result

    async def stream(job, ident: str, name: str, chat: bool, include_usage: bool):
        """Server-sent events; the job stops if the client goes away (Starlette cancels this generator)."""
        created = int(time.time())
        kind = "chat.completion.chunk" if chat else "text_completion"

        def chunk(index: int, text: str | None = None, finish: str | None = None, role: bool = False) -> str:
            if chat:
                delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text else {})
                choice = {"index": index, "delta": delta, "finish_reason": finish}
            else:
                choice = {"index": index, "text": text or "", "finish_reason": finish}
            return "data: " + json.dumps({"id": ident, "object": kind, "created": created, "model": name,
                                          "choices": [choice]}) + "\n\n"

        try:
            if chat:
                yield chunk(0, role=True)
            batches = job_batches(job)
            while True:
                batch = await anyio.to_thread.run_sync(next_batch, batches)
                for event in batch:
                    if isinstance(event, ProgressEvent) and event.preview is not None:
                        for index, text in sorted(getattr(event.preview, "chunks", {}).items()):
                            if text:
                                yield chunk(index, text)
                        for done in getattr(event.preview, "done", ()):
                            yield chunk(done.index, finish=FINISH.get(done.stats.stop_reason, "stop"))
                    elif isinstance(event, ErrorEvent):
                        yield "data: " + json.dumps({"error": {"message": event.message,
                                                               "type": "invalid_request_error"}}) + "\n\n"
                        return
                    elif isinstance(event, DoneEvent):
                        if include_usage and event.result is not None:
                            yield "data: " + json.dumps({"id": ident, "object": kind, "created": created,
                                                         "model": name, "choices": [],
                                                         "usage": usage(event.result)}) + "\n\n"
                        yield "data: [DONE]\n\n"
                        return
        finally:
            if not job.ended:
                studio.jobs.stop(job)

    return router


def job_batches(job):
    """A job's events in batches (an empty one after half a second of quiet, so a gone client is noticed)."""
    return job.run.batches(0.05, heartbeat=0.5)


def next_batch(batches) -> list:
    """The next batch, read on a worker thread (the wait must not block the server's event loop)."""
    return next(batches, [])


def usage(result) -> dict:
    prompt = max((s.stats.prompt_tokens for s in result.sequences), default=0)
    completion = sum(s.stats.tokens for s in result.sequences)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def whole(result, ident: str, name: str, chat: bool) -> dict:
    choices = []
    for s in result.sequences:
        finish = FINISH.get(s.stats.stop_reason, "stop")
        if chat:
            choices.append({"index": s.index, "message": {"role": "assistant", "content": s.text},
                            "finish_reason": finish})
        else:
            choices.append({"index": s.index, "text": s.text, "finish_reason": finish})
    return {"id": ident, "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
            "model": name, "choices": choices, "usage": usage(result)}
