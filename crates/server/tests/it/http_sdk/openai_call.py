"""One call through the official `openai` SDK, as the Rust tests describe it.

argv[1] is a JSON spec: {"base_url", "token", "op": "chat"|"models"|"model", "kwargs": {...},
"max_retries": N}. Prints one JSON object: the response (or the stream's chunks), or the
error's status, body and headers; "elapsed" seconds in every case.
"""
import json
import sys
import time

import openai

spec = json.loads(sys.argv[1])
client = openai.OpenAI(
    base_url=spec["base_url"],
    api_key=spec["token"],
    max_retries=spec.get("max_retries", 0),
    timeout=30,
)
kwargs = spec.get("kwargs", {})
out = {}
started = time.monotonic()
try:
    if spec["op"] == "chat":
        if kwargs.get("stream"):
            out["chunks"] = []
            for chunk in client.chat.completions.create(**kwargs):
                out["chunks"].append(chunk.model_dump())
        else:
            out["response"] = client.chat.completions.create(**kwargs).model_dump()
    elif spec["op"] == "models":
        out["models"] = [m.model_dump() for m in client.models.list()]
    elif spec["op"] == "model":
        out["model"] = client.models.retrieve(kwargs["id"]).model_dump()
except openai.APIStatusError as e:
    out["status"] = e.status_code
    out["body"] = e.body
    out["headers"] = dict(e.response.headers)
except openai.APIError as e:
    out["error"] = str(e)
    out["error_class"] = type(e).__name__
out["elapsed"] = time.monotonic() - started
print(json.dumps(out))
