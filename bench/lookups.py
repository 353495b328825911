"""Look-ups and the ministry SOAP endpoint: desk latency at a steady rate, SOAP requests/s per core.

Each peer is a process of its own: the embedded Kafka broker, the national-database sandbox
(`python -m lienthong.connectors.nationaldb.sandbox`) and lienthong's API (`python -m lienthong.cli api`).
This process only posts and measures.

1. desk look-ups: `POST /lookups/population` open-loop at `--rate`/s for `--seconds` (purpose, field
   list, rate limit, OAuth2 token, SOAP-in-JSON parse, audit record); baseline: the same requests straight
   to the sandbox (`POST /token` once, then `POST /dancu/tracuu`), same rate, same client: what the hub adds.
2. SOAP: `TraCuuHoSo` with a WS-Security UsernameToken (PasswordDigest, fresh nonce each) from
   `--soap-clients` concurrent connections for `--soap-seconds`; requests/s and requests per CPU-second of
   the API process (per core).

Reproduce (starts an embedded Kafka from the cached Maven jars):
    .venv/bin/python bench/lookups.py --rate 50 --seconds 20 --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml

from lienthong.connectors.soap import password_digest
from lienthong.testing import EmbeddedKafka, free_port

CMD = "    .venv/bin/python bench/lookups.py --rate 50 --seconds 20 --write BENCHMARKS.md"
PURPOSE = {"procedure_code": "1.001193", "dossier_code": "000.00.12.H52-250703-0042", "officer_id": "bench.01",
           "legal_basis": "Nghị định 63/2024/NĐ-CP, Điều 5"}  # fmt: skip


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(url)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(url)
            await asyncio.sleep(0.1)


async def paced(rate: float, seconds: float, call) -> list[float]:
    latencies: list[float] = []
    tasks = []
    start = time.perf_counter()

    async def one(n: int) -> None:
        t0 = time.perf_counter()
        await call(n)
        latencies.append((time.perf_counter() - t0) * 1000)

    for n in range(int(rate * seconds)):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(n)))
    await asyncio.gather(*tasks)
    return latencies


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else values[0]


async def main(a: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory() as d:
        kafka = EmbeddedKafka(Path(d) / "kafka", port=free_port(), controller_port=free_port())
        bootstrap = kafka.start()
        sb_port, api_port = free_port(), free_port()
        accounts = Path(d) / "accounts.yaml"
        accounts.write_text(
            yaml.safe_dump([{"username": "bo-tu-phap", "password": "pw", "operations": ["TraCuuHoSo"]}])
        )
        env = {**os.environ, "LIENTHONG_BOOTSTRAP_SERVERS": bootstrap, "LIENTHONG_STATE_DIR": str(Path(d) / "state"),
               "LIENTHONG_LOOKUPS_URL": f"http://127.0.0.1:{sb_port}", "LIENTHONG_LOOKUPS_RATE_PER_MINUTE": "1000000",
               "LIENTHONG_SOAP_ACCOUNTS": str(accounts), "LIENTHONG_LOG_LEVEL": "WARNING"}  # fmt: skip
        sandbox = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lienthong.connectors.nationaldb.sandbox", "--port", str(sb_port), env=env
        )
        api = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "lienthong.cli", "api", "--port", str(api_port), env=env,
            stdout=asyncio.subprocess.DEVNULL)  # fmt: skip
        try:
            await wait_http(f"http://127.0.0.1:{sb_port}/_sandbox/stats")
            await wait_http(f"http://127.0.0.1:{api_port}/readyz")
            api_url, sb_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{sb_port}"
            async with httpx.AsyncClient(timeout=10, limits=httpx.Limits(max_connections=200)) as http:
                body = {"purpose": PURPOSE, "query": {"SoDinhDanh": "052099012345", "HoVaTen": "Nguyễn Văn An"}}
                for _ in range(20):  # warm-up: connections, token, zeep/lxml first use
                    await http.post(f"{api_url}/lookups/population", json=body)
                errors = 0

                async def hub(_: int) -> None:
                    nonlocal errors
                    r = await http.post(f"{api_url}/lookups/population", json=body)
                    errors += r.status_code != 200

                hub_lat = await paced(a.rate, a.seconds, hub)
                tok = (await http.post(f"{sb_url}/token", data={"grant_type": "client_credentials"},
                                       auth=("lienthong", "sandbox-secret"))).json()["access_token"]  # fmt: skip
                raw = {"HoVaTen": "Nguyễn Văn An", "SoDinhDanh": "052099012345", "Nam": 1999, "MaYeuCau": "b",
                       "MaDVC": "000.00.12.H52", "MaCanBo": "bench.01"}  # fmt: skip

                async def direct(_: int) -> None:
                    await http.post(f"{sb_url}/dancu/tracuu", json=raw, headers={"Authorization": f"Bearer {tok}"})

                base_lat = await paced(a.rate, a.seconds, direct)

                async def soap_worker(stop: float, counts: list[int]) -> None:
                    while time.perf_counter() < stop:
                        nonce = os.urandom(16)
                        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                        env_xml = soap_envelope(nonce, created, password_digest(nonce, created, "pw"))
                        r = await http.post(f"{api_url}/soap/ministry", content=env_xml,
                                            headers={"content-type": "text/xml; charset=utf-8"})  # fmt: skip
                        counts[0 if r.status_code == 200 else 1] += 1

                counts = [0, 0]
                c0, t0 = cpu_s(api.pid), time.perf_counter()
                stop = t0 + a.soap_seconds
                await asyncio.gather(*(soap_worker(stop, counts) for _ in range(a.soap_clients)))
                wall, cpu = time.perf_counter() - t0, cpu_s(api.pid) - c0
        finally:
            for p in (api, sandbox):
                p.terminate()
                await p.wait()
            kafka.stop()
    hub_p50, hub_p99 = pct(hub_lat, 50), pct(hub_lat, 99)
    base_p50, base_p99 = pct(base_lat, 50), pct(base_lat, 99)
    return (
        "## Look-ups and the ministry SOAP endpoint\n\n"
        f"Measured {datetime.now(UTC):%Y-%m-%d} on this machine (2 shared cores; broker, sandbox, API and client "
        "are separate processes on loopback). Command:\n\n"
        f"{CMD}\n\n"
        f"| Desk look-up `POST /lookups/population` at {a.rate:g}/s for {a.seconds:g} s | p50 ms | p99 ms | max ms |\n"
        "|---|---|---|---|\n"
        f"| through lienthong (purpose, field list, token, SOAP-in-JSON parse, audit) | {hub_p50:.1f} | "
        f"{hub_p99:.1f} | {max(hub_lat):.1f} |\n"
        f"| baseline: straight to the sandbox (same rate, same client) | {base_p50:.1f} | {base_p99:.1f} | "
        f"{max(base_lat):.1f} |\n\n"
        f"Target p99 <= 150 ms: {'met' if hub_p99 <= 150 else 'NOT met'}; {errors} of {len(hub_lat)} desk "
        "look-ups were not answered 200.\n\n"
        f"SOAP `TraCuuHoSo` with WS-Security (UsernameToken PasswordDigest, fresh nonce each, XSD validation, "
        f"audit record), {a.soap_clients} concurrent connections for {a.soap_seconds:g} s: {counts[0] / wall:.0f} "
        f"requests/s, API process {cpu:.1f} CPU-s = **{counts[0] / cpu:.0f} requests per CPU-second (per core)**; "
        f"{counts[1]} faults.\n"
    )


def soap_envelope(nonce: bytes, created: str, digest: str) -> bytes:
    wsse = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    wsu = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
    ptype = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
    return (
        f'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><wsse:Security xmlns:wsse="{wsse}" '
        f'xmlns:wsu="{wsu}"><wsse:UsernameToken><wsse:Username>bo-tu-phap</wsse:Username><wsse:Password '
        f'Type="{ptype}">{digest}</wsse:Password><wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security></s:Header><s:Body>"
        '<TraCuuHoSo xmlns="urn:lienthong:bonganh:v1"><MaHoSo>000.00.12.H52-250703-0042</MaHoSo></TraCuuHoSo>'
        "</s:Body></s:Envelope>"
    ).encode()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--soap-clients", type=int, default=8)
    parser.add_argument("--soap-seconds", type=float, default=10)
    parser.add_argument("--write", type=Path, help="append the section to this Markdown file")
    args = parser.parse_args()
    text = asyncio.run(main(args))
    print(text)
    if args.write:
        with args.write.open("a", encoding="utf-8") as f:
            f.write("\n" + text)
