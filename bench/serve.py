#!/usr/bin/env python3
"""Benchmark `promptops serve` side by side with nginx serving the same prompt JSON as a file.

Usage: python3 bench/serve.py [--duration S] [--connections C] [--threads T] [--binary PATH]
Needs nginx and wrk (Debian; `.ci/install-tools` installs them). Builds the release binary
unless --binary is given, writes the bundled example's release bundle, starts
`promptops serve --bundle` and nginx (its own config, 127.0.0.1, a file with the very bytes
`GET /v1/prompts/{task}` answers), and runs wrk against each, one after the other, in one run:
  1. lookups: GET /v1/prompts/normalize-product-title on promptops and the file on nginx;
  2. renders: POST /v1/prompts/normalize-product-title/render on promptops.
Both servers write an access log to a file (nginx's default behaviour; promptops's stderr).
Targets (issue 11): lookups >= 80% of nginx's rate with p99 < 2 ms; renders >= 50% of nginx's
lookup rate.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TASK = "normalize-product-title"
RENDER_BODY = '{"raw_title": "  BOSCH gsr 12v-15 Akku-Bohrschrauber  ", "max_length": 60}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return answer.read()
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer")


def wrk(url, args, script=None):
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s", "--latency"]
    if script:
        command += ["-s", script]
    output = subprocess.run(command + [url], check=True, capture_output=True, text=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    latency = {}
    for pct in ("50", "99"):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        value, unit = float(match.group(1)), match.group(2)
        latency[pct] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"rps": rate, "p50_ms": latency["50"], "p99_ms": latency["99"], "non_2xx": int(errors.group(1)) if errors else 0}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--binary")
    args = parser.parse_args()
    for tool in ("wrk",):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed: bash .ci/install-tools")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        sys.exit("nginx is needed: bash .ci/install-tools")
    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "promptops")

    work = tempfile.mkdtemp(prefix="promptops-bench-serve-")
    # nginx's workers run as an unprivileged user: they must be able to read the file.
    os.chmod(work, 0o755)
    processes = []
    try:
        bundle = os.path.join(work, "bundle")
        subprocess.run([binary, "--repo", ROOT, "bundle", "--out", bundle], check=True, capture_output=True)
        port = free_port()
        log = open(os.path.join(work, "promptops-access.log"), "w")
        serve = subprocess.Popen([binary, "serve", "--bundle", bundle, "--listen", f"127.0.0.1:{port}"], stderr=log)
        processes.append(serve)
        base = f"http://127.0.0.1:{port}"
        document = wait_http(f"{base}/v1/prompts/{TASK}")

        # nginx: the same bytes as a static file, with its own config and prefix.
        root = os.path.join(work, "www")
        os.makedirs(os.path.join(root, "v1", "prompts"))
        with open(os.path.join(root, "v1", "prompts", TASK), "wb") as f:
            f.write(document)
        nginx_port = free_port()
        conf = os.path.join(work, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"""
worker_processes auto;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
daemon off;
events {{ worker_connections 1024; }}
http {{
    access_log {work}/nginx-access.log;
    client_body_temp_path {work}/body; proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
    default_type application/json;
    etag on;
    server {{
        listen 127.0.0.1:{nginx_port};
        root {root};
    }}
}}
""")
        nginx_process = subprocess.Popen([nginx, "-p", work, "-c", conf])
        processes.append(nginx_process)
        nginx_url = f"http://127.0.0.1:{nginx_port}/v1/prompts/{TASK}"
        assert wait_http(nginx_url) == document

        script = os.path.join(work, "render.lua")
        with open(script, "w") as f:
            f.write('wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' % json.dumps(RENDER_BODY))
        rendered = urllib.request.urlopen(urllib.request.Request(f"{base}/v1/prompts/{TASK}/render", data=RENDER_BODY.encode(), method="POST"))
        assert rendered.status == 200

        results = {
            "nginx_lookup": wrk(nginx_url, args),
            "promptops_lookup": wrk(f"{base}/v1/prompts/{TASK}", args),
            "promptops_render": wrk(f"{base}/v1/prompts/{TASK}/render", args, script),
        }
        nginx_rps = results["nginx_lookup"]["rps"]
        print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s on 127.0.0.1, {os.cpu_count()} cores, document {len(document)} bytes")
        print(f"{'':20} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'vs nginx':>9} {'non-2xx':>8}")
        for name, result in results.items():
            print(f"{name:20} {result['rps']:>10.0f} {result['p50_ms']:>8.3f} {result['p99_ms']:>8.3f} {result['rps'] / nginx_rps:>8.0%} {result['non_2xx']:>8}")
        lookup = results["promptops_lookup"]
        render = results["promptops_render"]
        checks = {
            "lookups >= 80% of nginx": lookup["rps"] >= 0.8 * nginx_rps,
            "lookup p99 < 2 ms": lookup["p99_ms"] < 2.0,
            "renders >= 50% of nginx lookups": render["rps"] >= 0.5 * nginx_rps,
        }
        for name, ok in checks.items():
            print(f"{'PASS' if ok else 'FAIL'}  {name}")
        with open(os.path.join(ROOT, "bench", "out", "serve.json"), "w") as f:
            json.dump({"settings": vars(args), "results": results, "checks": checks}, f, indent=2)
        sys.exit(0 if all(checks.values()) else 1)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=25)
            except subprocess.TimeoutExpired:
                process.kill()
        if os.environ.get("KEEP"):
            print("kept", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
