"""Loopback load test of ``gputwin server``: N concurrent clients for D seconds.

    python bench/bench_server_load.py --clients 50 --seconds 20

Starts a server on 127.0.0.1 over a fresh SQLite file (one worker process), creates a
tenant, runs one small simulation, then N httpx clients loop over a read-heavy mix: run
status, run list, summary, and an idempotent re-submit (POST that answers the first id).
Prints requests, errors (any non-2xx or transport error), throughput and latency
percentiles. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

CLI = [sys.executable, "-c", "from gputwin.cli.main import main; main()"]
SMALL = {"cluster.num_nodes": 8, "workload.synthetic.num_jobs": 20}


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[1] / "src")
    return {**os.environ, "PYTHONPATH": src}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _client(base: str, key: str, run_id: str, stop_at: float,
                  lat: list[float], errors: list[str]) -> None:
    paths = [("GET", f"/v1/runs/{run_id}"), ("GET", "/v1/runs?limit=20"),
             ("GET", f"/v1/runs/{run_id}/summary"), ("POST", "/v1/runs")]
    async with httpx.AsyncClient(base_url=base, timeout=30,
                                 headers={"Authorization": f"Bearer {key}"}) as c:
        i = 0
        while time.monotonic() < stop_at:
            method, path = paths[i % len(paths)]
            i += 1
            body = {"set": SMALL, "idempotency_key": "load"} if method == "POST" else None
            t0 = time.perf_counter()
            try:
                r = await c.request(method, path, json=body)
                if r.status_code >= 300:
                    errors.append(f"{method} {path}: {r.status_code}")
            except httpx.HTTPError as exc:
                errors.append(f"{method} {path}: {type(exc).__name__}")
            lat.append(time.perf_counter() - t0)


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gputwin-load-")
    db = f"sqlite:///{tmp}/load.db"
    key = subprocess.run([*CLI, "server", "add-tenant", "load", "--db", db, "--max-runs", "8"],
                         env=_env(), capture_output=True, text=True, check=True
                         ).stdout.split()[-1]
    port = _port()
    server = subprocess.Popen([*CLI, "server", "--port", str(port), "--db", db, "--workers",
                               "1"], env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        run_id = _prepare(base, key)
        lat: list[float] = []
        errors: list[str] = []
        stop_at = time.monotonic() + args.seconds
        asyncio.run(_all(base, key, run_id, stop_at, args.clients, lat, errors))
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            print("the server did not stop within 20 s of SIGTERM: killed", file=sys.stderr)
            server.kill()
            server.wait()
    n = len(lat)
    print(f"{args.clients} clients, {args.seconds:.0f} s: {n} requests ({n / args.seconds:.0f}/s),"
          f" {len(errors)} errors; latency p50 {_pct(lat, .5) * 1e3:.1f} ms, p95 "
          f"{_pct(lat, .95) * 1e3:.1f} ms, p99 {_pct(lat, .99) * 1e3:.1f} ms, max "
          f"{max(lat) * 1e3:.1f} ms")
    for e in sorted(set(errors))[:5]:
        print("  error:", e)


def _prepare(base: str, key: str) -> str:
    headers = {"Authorization": f"Bearer {key}"}
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/v1/health", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    run_id = str(httpx.post(f"{base}/v1/runs", json={"set": SMALL, "idempotency_key": "load"},
                            headers=headers).json()["id"])
    while httpx.get(f"{base}/v1/runs/{run_id}", headers=headers).json()["state"] != "done":
        time.sleep(0.2)
    return run_id


async def _all(base: str, key: str, run_id: str, stop_at: float, n: int, lat: list[float],
               errors: list[str]) -> None:
    await asyncio.gather(*(_client(base, key, run_id, stop_at, lat, errors) for _ in range(n)))


if __name__ == "__main__":
    main()
