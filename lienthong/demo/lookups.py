"""Demo part: desk look-ups in the national databases and ministry results over SOAP.

Starts the national-database sandbox and points the `lookups` connector at it; writes a ministry
accounts file. Once the API is served it makes purpose-logged look-ups (population, business, civil
status), tries some without a purpose (refused), lets a sandbox ministry (zeep, the published WSDL) send
results (repeats included: acknowledged once), and sends the XML attack corpus to the SOAP endpoint.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from typing import Any

import httpx
import yaml

from lienthong.demo.parts import DemoContext

DOSSIER = "000.00.12.H52-250703-{:04d}"
PURPOSE = {"procedure_code": "1.001193", "officer_id": "canbo.demo01",
           "legal_basis": "Nghị định 63/2024/NĐ-CP, Điều 5"}  # fmt: skip
MINISTRY = ("bo-tu-phap", "demo-ministry-secret")


class LookupsDemo:
    """See the module docstring."""

    name = "lookups"

    def __init__(self, lookups: int = 30, without_purpose: int = 3, results: int = 10) -> None:
        self.lookups = lookups
        self.without_purpose = without_purpose
        self.results = results

    async def start(self, ctx: DemoContext) -> None:
        """Sandbox up, settings pointed at it, accounts file written."""
        from lienthong.connectors.nationaldb.sandbox import create_nationaldb_sandbox
        from lienthong.testing import ServedApp

        sandbox = ServedApp(create_nationaldb_sandbox())
        await sandbox.start()
        ctx.closers.append(sandbox.stop)
        os.environ["LIENTHONG_LOOKUPS_URL"] = sandbox.url
        os.environ["LIENTHONG_LOOKUPS_CIVIL_STATUS_URL"] = f"{sandbox.url}/hotich/soap"
        os.environ["LIENTHONG_LOOKUPS_RATE_PER_MINUTE"] = "10000"
        accounts = ctx.settings.state_dir / "ministry-accounts.yaml"
        accounts.parent.mkdir(parents=True, exist_ok=True)
        accounts.write_text(yaml.safe_dump([{"username": MINISTRY[0], "password": MINISTRY[1],
                                             "operations": ["TraCuuHoSo", "GuiKetQuaXuLy"]}]))  # fmt: skip
        os.environ["LIENTHONG_SOAP_ACCOUNTS"] = str(accounts)

    async def run(self, ctx: DemoContext) -> dict[str, Any]:
        """Drive look-ups, ministry results and attacks; the summary keys."""
        answered = await self._lookups(ctx.api_url)
        refused = await self._without_purpose(ctx.api_url)
        received, duplicates = await asyncio.to_thread(self._ministry, ctx.api_url)
        attacks = await asyncio.to_thread(self._attacks, ctx.api_url)
        ctx.console.print(
            f"look-ups: {answered} answered, {refused} refused without purpose; ministry results: {received} "
            f"accepted, {duplicates} repeats acknowledged once; SOAP attacks refused: {attacks}"
        )
        from lienthong.connectors.xml_attacks import ATTACK_CLASSES

        ok = (answered == self.lookups and refused == self.without_purpose and received == self.results
              and duplicates == 3 and attacks == len(ATTACK_CLASSES))  # fmt: skip
        return {
            "lookups": answered,
            "lookups_refused_without_purpose": refused,
            "ministry_results_received": received,
            "soap_attacks_refused": attacks,
            "lookups_ok": ok,
        }

    async def _lookups(self, api: str) -> int:
        async def one(client: httpx.AsyncClient, n: int) -> bool:
            kind = ("population", "civil-status", "business")[n % 3]
            purpose = {**PURPOSE, "dossier_code": DOSSIER.format(n + 1)}
            if kind == "business":
                purpose["procedure_code"] = "1.004227"
                query: dict[str, Any] = {"msdn": f"01012{n:05d}"}
            else:
                query = {"SoDinhDanh": f"0520991{n:05d}"}
                if kind == "population":
                    query["HoVaTen"] = "Nguyễn Văn An"
            reply = await client.post(f"{api}/lookups/{kind}", json={"purpose": purpose, "query": query})
            return reply.status_code == 200 and reply.json()["status"] == "answered"

        async with httpx.AsyncClient(timeout=10) as client:
            results = await asyncio.gather(*(one(client, n) for n in range(self.lookups)))
        return sum(results)

    async def _without_purpose(self, api: str) -> int:
        async with httpx.AsyncClient(timeout=10) as client:
            replies = [
                await client.post(f"{api}/lookups/population",
                                  json={"query": {"SoDinhDanh": "052099012345", "HoVaTen": "Trần Thị Bình"}})
                for _ in range(self.without_purpose)
            ]  # fmt: skip
        return sum(r.status_code == 400 and r.json()["status"] == "refused" for r in replies)

    def _ministry(self, api: str) -> tuple[int, int]:
        from lienthong.connectors.ministry.sandbox import SandboxMinistry

        ministry = SandboxMinistry(f"{api}/soap/ministry?wsdl", *MINISTRY)
        received = duplicates = 0
        # A ministry repeating a message repeats it exactly, processing time included (a changed body under
        # the same MaThongDiep is refused as a different message).
        processed_at = dt.datetime.now(dt.timezone(dt.timedelta(hours=7))).replace(microsecond=0)
        for n in range(self.results):
            reply = ministry.send_result(message_id=f"BTP-DEMO-{n:04d}", dossier_code=DOSSIER.format(n + 1),
                                         processed_at=processed_at)  # fmt: skip
            received += reply.MaLoi == 0
        for n in range(3):
            reply = ministry.send_result(message_id=f"BTP-DEMO-{n:04d}", dossier_code=DOSSIER.format(n + 1),
                                         processed_at=processed_at)  # fmt: skip
            duplicates += reply.MaLoi == 1
        return received, duplicates

    def _attacks(self, api: str) -> int:
        from lienthong.connectors.ministry.sandbox import send_attacks

        return sum(400 <= o.status < 500 and o.seconds < 1.0 for o in send_attacks(f"{api}/soap/ministry"))


__all__ = ["LookupsDemo"]
