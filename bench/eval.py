#!/usr/bin/env python3
"""Eval benchmark: promptops eval against a latency-only loopback LLM server.

A Chat Completions server on 127.0.0.1 answers every request after exactly --latency ms
(asyncio, keep-alive). For N = 1,000 and 10,000 examples at concurrency 16 it reports:
  - a cold run (empty cache: every example is a request, answers are stored),
  - a fully cached re-run (zero requests),
each with wall time, the floor N x latency / concurrency, and the peak RSS of the promptops
process alone (GNU time, `apt-get install time`).

    python3 bench/eval.py [--binary target/release/promptops] [--sizes 1000 10000]
    python3 bench/eval.py --sizes 100000 --latency 0.001 --concurrency 64 [--shard 1/100]
"""
import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import peak_kib, timed_command  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROMPT = """id: bench
version: 1.0.0
description: Benchmark prompt.
model:
  provider: openai
  name: bench-model
  parameters:
    temperature: 0
messages:
  - role: system
    content: You normalise product titles.
  - role: user
    content: "Raw title: {{ raw_title }}"
output:
  format: text
"""

METADATA = """id: bench
description: Benchmark task.
owner: bench
version: 1.0.0
inputs:
  raw_title:
    type: string
output: text
threshold: 0.5
scorers:
  - name: similarity
    weight: 3
    options:
      method: token_f1
  - name: exact
    options:
      ignore_case: true
"""


class Server:
    """Answers POST /v1/chat/completions after a fixed delay; counts requests."""

    def __init__(self, latency):
        self.latency = latency
        self.requests = 0
        self.slept = 0.0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self.ready.wait()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=1024))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _handle(self, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = json.loads(await reader.readexactly(length))
                self.requests += 1
                text = body["messages"][-1]["content"].removeprefix("Raw title: ").title()
                answer = json.dumps({
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 20, "completion_tokens": 8},
                }).encode()
                slept = time.perf_counter()
                await asyncio.sleep(self.latency)
                self.slept += time.perf_counter() - slept
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(answer), answer))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        finally:
            writer.close()


def generate(folder, size, port):
    shutil.rmtree(folder, ignore_errors=True)
    for layer in ("01-examples", "02-production", "03-metadata", "04-evals"):
        os.makedirs(os.path.join(folder, "prompts", layer))
    open(os.path.join(folder, "prompts/02-production/bench.yaml"), "w").write(PROMPT)
    open(os.path.join(folder, "prompts/03-metadata/bench.yaml"), "w").write(METADATA)
    with open(os.path.join(folder, "prompts/01-examples/bench.jsonl"), "w") as examples:
        for n in range(size):
            title = f"acme part {n} resistor 10k ohm 0603 tape and reel"
            examples.write(json.dumps({"id": f"ex-{n}", "vars": {"raw_title": title}, "expected": title.title()}) + "\n")
    open(os.path.join(folder, "promptops.yaml"), "w").write(
        f"providers:\n  openai:\n    kind: openai\n    base_url: http://127.0.0.1:{port}/v1\n    api_key_env: BENCH_KEY\n")
    subprocess.run(["git", "init", "-q", folder], check=True)



def run(binary, folder, args):
    report = os.path.join(folder, ".peak-rss")
    start = time.perf_counter()
    child = subprocess.Popen(timed_command([binary, "--repo", folder, "eval", *args], report),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env={**os.environ, "BENCH_KEY": "bench", "CI": "true"})
    stderr = child.stderr.read()
    status = child.wait()
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"eval failed:\n{stderr.decode(errors='replace')[-2000:]}")
    return wall, peak_kib(report) / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary")
    # `--sizes 1000 10000` and `--sizes 1000,10000` alike.
    parser.add_argument("--sizes", nargs="+", default=["1000", "10000"])
    parser.add_argument("--latency", type=float, default=0.050)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--shard", help="evaluate only this shard, e.g. 1/100 (memory of a CI matrix job)")
    options = parser.parse_args()
    try:
        options.sizes = [int(size) for word in options.sizes for size in word.split(",") if size]
    except ValueError:
        parser.error("--sizes takes whole numbers, e.g. --sizes 1000 10000 or --sizes 1000,10000")
    binary = options.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target/release/promptops")
    server = Server(options.latency)
    print(f"machine: {os.cpu_count()} cores; latency {options.latency * 1000:.0f} ms; concurrency {options.concurrency}")
    for size in options.sizes:
        folder = os.path.join(ROOT, "bench/out", f"eval-{size}")
        generate(folder, size, server.port)
        floor = size * options.latency / options.concurrency
        before, slept = server.requests, server.slept
        args = ["--concurrency", str(options.concurrency)] + (["--shard", options.shard] if options.shard else [])
        wall, rss = run(binary, folder, args)
        sent = server.requests - before
        # The server's own timer overshoot is part of the wall time, not promptops' cost.
        server_floor = (server.slept - slept) / options.concurrency
        print(f"N={size:>6} server's real mean latency {1000 * (server.slept - slept) / max(sent, 1):.2f} ms, so its floor is {server_floor:.3f} s")
        print(f"N={size:>6} cold:   {wall:7.3f} s  floor {floor:7.3f} s  over floor {100 * (wall / floor - 1):+5.1f}%  peak RSS {rss:5.1f} MiB  requests {sent}")
        before = server.requests
        wall, rss = run(binary, folder, args)
        sent = server.requests - before
        print(f"N={size:>6} cached: {wall:7.3f} s  peak RSS {rss:5.1f} MiB  requests {sent}")


if __name__ == "__main__":
    main()
