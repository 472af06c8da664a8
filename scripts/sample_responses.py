#!/usr/bin/env python3
"""Writes the bundled example's stored responses (.promptops/cache/) for the offline demo.

These are SAMPLE responses written for the offline demo, not the output of a real model: each
answer is the example's expected value, degraded on a fixed, hash-chosen share of examples so
the scores look like a real eval (production a little worse than the candidate).

    python3 scripts/sample_responses.py          # rewrite .promptops/cache for prompts/

It answers as an OpenAI- and Anthropic-compatible server on 127.0.0.1, which the eval reaches
through the repository's own providers (their `base_url` pointed at it, `keyless: true`): the
stored responses are then keyed exactly as the demo's offline eval looks them up. (An `exec`
provider would not do: its answers are keyed with its script, so the demo missed them all.)

Run it after changing a bundled prompt or example; commit the cache folder it writes.
"""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load(task):
    path = ROOT / "prompts" / "01-examples" / f"{task}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def share(example_id, salt):
    digest = hashlib.sha256(f"{salt}:{example_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100


def answer(request):
    """The sample answer to a request whose messages are OpenAI-shaped."""
    system = "\n".join(m["content"] for m in request["messages"] if m["role"] == "system")
    user = "\n".join(m["content"] for m in request["messages"] if m["role"] == "user")
    if user.startswith("Raw title: "):
        raw = user[len("Raw title: "):].strip()
        example = next(e for e in load("normalize-product-title") if e["vars"]["raw_title"] == raw)
        candidate = "Examples:" in system
        degrade = share(example["id"], "title") < (10 if candidate else 25)
        title = example["expected"]
        if degrade and ", " in title:
            title = title.rsplit(", ", 1)[0]  # the package is left out
        elif degrade:
            title = title.upper()
        return title
    elif user.startswith("Title: "):
        title = user.splitlines()[0][len("Title: "):].strip()
        example = next(e for e in load("classify-product-category") if e["vars"]["title"] == title)
        wrong = share(example["id"], "category") < 4
        return "components" if wrong and example["expected"] != "components" else example["expected"]
    elif user.startswith("Listing: "):
        listing = user[len("Listing: "):].strip()
        example = next(e for e in load("extract-product-attributes") if e["vars"]["listing"] == listing)
        value = dict(example["expected"])
        if share(example["id"], "manufacturer") < 6:
            value["manufacturer"] = value["manufacturer"].split(" ")[0]
        text = json.dumps(value, ensure_ascii=False)
        if share(example["id"], "fence") < 10:
            text = f"```json\n{text}\n```"
        return text
    raise ValueError(f"no sample answer for this request: {user[:80]!r}")


class Handler(BaseHTTPRequestHandler):
    """`POST /v1/chat/completions` (OpenAI) and `POST /v1/messages` (Anthropic)."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        anthropic = self.path.endswith("/messages")
        messages = list(body.get("messages", []))
        if anthropic and body.get("system"):
            system = body["system"]
            if isinstance(system, list):
                system = "".join(part.get("text", "") for part in system)
            messages.insert(0, {"role": "system", "content": system})
        try:
            text = answer({"messages": messages})
        except ValueError as error:
            self.send_error(400, str(error))
            return
        if anthropic:
            reply = {"id": "sample", "type": "message", "role": "assistant",
                     "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                     "usage": {"input_tokens": 0, "output_tokens": 0}}
        else:
            reply = {"id": "sample", "object": "chat.completion",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass





def write():
    cache = ROOT / ".promptops" / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    binary = os.environ.get("PROMPTOPS", "cargo run --quiet --")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as temp:
        work = pathlib.Path(temp)
        shutil.copytree(ROOT / "prompts", work / "prompts", ignore=shutil.ignore_patterns("04-evals"))
        (work / "prompts" / "04-evals").mkdir()
        shutil.copy(ROOT / "prompt_registry.yaml", work / "prompt_registry.yaml")
        providers = {"providers": {
            "openai": {"kind": "openai", "base_url": f"{address}/v1", "keyless": True},
            "anthropic": {"kind": "anthropic", "base_url": address, "keyless": True},
        }}
        (work / "promptops.yaml").write_text(json.dumps(providers))
        for extra in ([], ["--candidate"]):
            command = f"{binary} eval --repo {work} --cache-dir {cache} --concurrency 4 {' '.join(extra)}"
            subprocess.run(command, shell=True, cwd=ROOT, check=False)
    server.shutdown()
    print(f"wrote {sum(1 for _ in cache.rglob('*.json'))} stored responses under {cache}")


if __name__ == "__main__":
    write()
