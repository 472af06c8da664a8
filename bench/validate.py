#!/usr/bin/env python3
"""Benchmark `promptops validate`: a generated repository of 10,000 tasks and the bundled example.

Usage: python3 bench/validate.py [--tasks N] [--runs K] [--binary PATH]
Builds the release binary unless --binary is given, generates the repository under bench/out/
(reused when it already has N tasks), and prints wall times (min / median of K runs) and peak RSS.
Targets (issue "Foundation"): < 1 s for 10,000 tasks, < 50 ms for the bundled example.
It also times `status`, which reads git history for the last change of every task, after
committing the repository and 100 commits that each change one prompt.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure import peak_kib, timed_command  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROMPT = """# yaml-language-server: $schema=../../schemas/prompt.schema.json
id: {id}
version: 1.{minor}.0
description: Normalise product titles for catalogue segment {n}.
model:
  provider: openai
  name: gpt-4o-mini
  parameters:
    temperature: 0
    max_tokens: 80
messages:
  - role: system
    content: |
      You normalise product titles for segment {n}.
      Use the manufacturer's official name and SI units.
      {{% if max_length is defined %}}Keep it under {{{{ max_length }}}} characters.{{% endif %}}
  - role: user
    content: "Raw title: {{{{ raw_title }}}}"
output:
  format: text
"""

METADATA = """id: {id}
description: Canonical titles, segment {n}.
owner: catalog-data
version: 1.{minor}.0
inputs:
  raw_title:
    type: string
  max_length:
    type: integer
    optional: true
output: text
threshold: 0.85
scorers:
  - name: similarity
    weight: 3
  - name: exact
    weight: 1
regression_tolerance: 0.02
"""


def generate(folder, tasks):
    marker = os.path.join(folder, ".tasks")
    if os.path.exists(marker) and open(marker).read() == str(tasks):
        return
    subprocess.run(["rm", "-rf", folder], check=True)
    for layer in ("00-templates", "01-examples", "02-production", "03-metadata", "04-evals", "99-archive"):
        os.makedirs(os.path.join(folder, "prompts", layer))
    for n in range(tasks):
        task = f"task-{n:05d}"
        values = {"id": task, "n": n, "minor": n % 7}
        with open(os.path.join(folder, "prompts/02-production", task + ".yaml"), "w") as f:
            f.write(PROMPT.format(**values))
        with open(os.path.join(folder, "prompts/03-metadata", task + ".yaml"), "w") as f:
            f.write(METADATA.format(**values))
        with open(os.path.join(folder, "prompts/01-examples", task + ".jsonl"), "w") as f:
            for k in range(5):
                line = {"id": f"ex-{k}", "vars": {"raw_title": f"TI LM358DR OPAMP {n} {k} 8SOIC"}, "expected": f"Texas Instruments LM358DR Op-Amp {n} {k}, SOIC-8"}
                f.write(json.dumps(line) + "\n")
    subprocess.run(["git", "init", "-q", folder], check=True)
    open(marker, "w").write(str(tasks))


def add_history(folder, commits, tasks):
    git = ["git", "-C", folder, "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    if subprocess.run(["git", "-C", folder, "rev-parse", "--verify", "-q", "HEAD"], stdout=subprocess.DEVNULL).returncode == 0:
        return
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "generated"], check=True)
    # Each commit adds an example to one task: production is locked (an edit in place is an
    # error), and a bench that broke its own repository could not run twice on it.
    for n in range(1, commits + 1):
        task = f"task-{(n * 7) % tasks:05d}"
        path = os.path.join(folder, "prompts/01-examples", task + ".jsonl")
        line = {"id": f"ex-history-{n}", "vars": {"raw_title": f"TI LM358DR OPAMP history {n}"}, "expected": f"Texas Instruments LM358DR Op-Amp history {n}"}
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")
        subprocess.run([*git, "commit", "-qam", f"change {n}"], check=True)



def measure(binary, repo, runs, args):
    """Wall times of `runs` runs, and the largest peak RSS of promptops alone (GNU time)."""
    walls, peak = [], 0
    report = os.path.join(repo, ".git", "peak-rss")
    for _ in range(runs):
        start = time.perf_counter()
        child = subprocess.Popen(timed_command([binary, "--repo", repo, *args], report),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stderr = child.stderr.read()
        status = child.wait()
        walls.append(time.perf_counter() - start)
        peak = max(peak, peak_kib(report))
        if status != 0:
            sys.exit(f"{' '.join(args)} on {repo} failed:\n{stderr.decode(errors='replace')[-2000:]}")
    return min(walls), statistics.median(walls), peak / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--binary")
    options = parser.parse_args()
    binary = options.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target/release/promptops")
    folder = os.path.join(ROOT, "bench/out", f"repo-{options.tasks}")
    generate(folder, options.tasks)
    subprocess.run([binary, "--repo", folder, "registry"], check=True, stderr=subprocess.DEVNULL)
    files = sum(len(names) for _, _, names in os.walk(os.path.join(folder, "prompts")))
    print(f"machine: {os.cpu_count()} cores; binary: {binary}")
    # Warm the page cache once so runs compare like with like.
    measure(binary, folder, 1, ["validate"])
    fastest, median, rss = measure(binary, folder, options.runs, ["validate"])
    print(f"validate, {options.tasks} tasks ({files} files + registry): min {fastest * 1000:.0f} ms, median {median * 1000:.0f} ms, peak RSS {rss:.0f} MiB  (target < 1000 ms)")
    fastest, median, rss = measure(binary, ROOT, max(options.runs, 20), ["validate"])
    print(f"validate, bundled example: min {fastest * 1000:.1f} ms, median {median * 1000:.1f} ms, peak RSS {rss:.0f} MiB  (target < 50 ms)")
    subprocess.run([binary, "--repo", folder, "registry"], check=True, stderr=subprocess.DEVNULL)
    fastest, median, rss = measure(binary, folder, options.runs, ["registry", "--check"])
    print(f"registry --check, {options.tasks} tasks: min {fastest * 1000:.0f} ms, median {median * 1000:.0f} ms, peak RSS {rss:.0f} MiB")
    add_history(folder, min(100, options.tasks // 7), options.tasks)
    fastest, median, rss = measure(binary, folder, options.runs, ["status"])
    print(f"status, {options.tasks} tasks, 101 commits: min {fastest * 1000:.0f} ms, median {median * 1000:.0f} ms, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
