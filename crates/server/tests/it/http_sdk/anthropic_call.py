"""One call through the official `anthropic` SDK, as the Rust tests describe it.

argv[1] is a JSON spec: {"base_url", "token", "auth": "api_key"|"bearer", "op":
"create"|"events"|"final"|"models"|"count", "kwargs": {...}, "max_retries": N}. `count` is
`messages.count_tokens` (through `with_raw_response`, so the answer's headers come back too). `events` streams and
returns every raw event; `final` uses the SDK's stream helper (which checks the event sequence)
and returns the accumulated message. Prints one JSON object; "elapsed" seconds in every case.
"""
import json
import sys
import time

import anthropic

spec = json.loads(sys.argv[1])
auth = {"api_key": spec["token"]} if spec.get("auth", "api_key") == "api_key" else {
    "auth_token": spec["token"]
}
client = anthropic.Anthropic(
    base_url=spec["base_url"], max_retries=spec.get("max_retries", 0), timeout=30, **auth
)
kwargs = spec.get("kwargs", {})
out = {}
started = time.monotonic()
try:
    if spec["op"] == "create":
        out["response"] = client.messages.create(**kwargs).model_dump()
    elif spec["op"] == "events":
        out["events"] = []
        for event in client.messages.create(stream=True, **kwargs):
            out["events"].append(event.model_dump())
    elif spec["op"] == "final":
        with client.messages.stream(**kwargs) as stream:
            out["text"] = "".join(stream.text_stream)
            out["response"] = stream.get_final_message().model_dump()
    elif spec["op"] == "count":
        raw = client.messages.with_raw_response.count_tokens(**kwargs)
        out["response"] = raw.parse().model_dump()
        out["headers"] = dict(raw.headers)
    elif spec["op"] == "models":
        out["models"] = [m.model_dump() for m in client.models.list()]
except anthropic.APIStatusError as e:
    out["status"] = e.status_code
    out["body"] = e.body
    out["headers"] = dict(e.response.headers)
except anthropic.APIError as e:
    out["error"] = str(e)
    out["error_class"] = type(e).__name__
out["elapsed"] = time.monotonic() - started
print(json.dumps(out, default=str))
