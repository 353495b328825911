"""Embedded Apache Kafka: a real KRaft broker (or a 3-node cluster) from the official Maven Central jars.

`lienthong broker start`, the demo and the test harness all use this module. Nothing here is a fake:
the jars of `org.apache.kafka:kafka_2.13` are resolved by Maven into a cache directory once, and
`java -cp 'libs/*' kafka.Kafka server.properties` runs the same broker the binary distribution runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lienthong.errors import ConfigurationError


def default_cache_dir() -> Path:
    """Where Kafka jars are cached: `$LIENTHONG_CACHE_DIR`, else ~/.cache/lienthong."""
    env = os.environ.get("LIENTHONG_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "lienthong"


_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
"""


@dataclass(frozen=True)
class NodePorts:
    """Loopback ports of one KRaft node."""

    node_id: int
    """Kafka `node.id`, 1-based."""
    client: int
    """PLAINTEXT listener port that clients bootstrap from."""
    controller: int
    """CONTROLLER listener port of the KRaft quorum."""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _port_answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    """A port the OS says is free now (for tests that need their own broker or server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def java_major_version(java: str = "java") -> int:
    """The major version of `java`, or raise ConfigurationError saying how to get Java 17+."""
    exe = shutil.which(java)
    if exe is None:
        raise ConfigurationError(
            "Java was not found on PATH. Apache Kafka 4.x needs Java 17 or newer: "
            "install it (Debian: `apt-get install openjdk-17-jre-headless`) and try again."
        )
    out = subprocess.run([exe, "-version"], capture_output=True, text=True, check=False).stderr
    for token in out.replace('"', " ").split():
        head = token.split(".")[0]
        if head.isdigit() and token[0].isdigit():
            major = int(head)
            return int(token.split(".")[1]) if major == 1 else major
    raise ConfigurationError(f"Could not read the Java version from `java -version`: {out.strip()!r}")


class KafkaArtifacts:
    """The broker's jars in `<state_dir>/kafka-<version>/libs`, fetched from Maven Central when missing."""

    def __init__(self, state_dir: Path, version: str) -> None:
        self.version = version
        self.libs = state_dir / f"kafka-{version}" / "libs"

    def _pom_digest(self) -> str:
        pom = resources.files("lienthong.bus").joinpath("kafka-pom.xml").read_bytes()
        return hashlib.sha256(pom + self.version.encode()).hexdigest()

    def present(self) -> bool:
        """True when this version's jars were fully resolved from the current pom."""
        marker = self.libs / ".complete"
        return marker.is_file() and marker.read_text().strip() == self._pom_digest()

    def ensure(self) -> Path:
        """Resolve the jars with Maven once; later calls reuse the cache. Returns the libs folder."""
        if self.present():
            return self.libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ConfigurationError(
                f"The Kafka {self.version} jars are not cached in {self.libs} and Maven is not on PATH. "
                "Install Maven (Debian: `apt-get install maven`) so lienthong can fetch them from "
                "Maven Central, or copy the jars there."
            )
        shutil.rmtree(self.libs, ignore_errors=True)  # a stale or partial set must not mix in
        self.libs.mkdir(parents=True, exist_ok=True)
        pom = resources.files("lienthong.bus").joinpath("kafka-pom.xml")
        with resources.as_file(pom) as pom_path:
            proc = subprocess.run(
                [mvn, "-q", "-B", "-f", str(pom_path), "dependency:copy-dependencies",
                 f"-DoutputDirectory={self.libs}", "-DincludeScope=runtime",
                 f"-Dkafka.version={self.version}"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
        if proc.returncode == 0 and (self.libs / f"kafka_2.13-{self.version}.jar").is_file():
            (self.libs / ".complete").write_text(self._pom_digest())
        if not self.present():
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            raise ConfigurationError(
                f"Maven could not fetch org.apache.kafka:kafka_2.13:{self.version} into {self.libs}.\n"
                + "\n".join(tail)
                + "\nCheck that Maven Central is reachable and the version exists (LIENTHONG_KAFKA_VERSION)."
            )
        return self.libs


class EmbeddedKafka:
    """A single-node or N-node KRaft cluster on loopback, each node a `java` process of its own.

    The processes outlive this object (the CLI starts a broker and exits); pid files under
    `state_dir` let `stop()` and `status()` find them again.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        port: int = 9092,
        nodes: int = 1,
        version: str = "4.1.1",
        controller_port: int | None = None,
        heap: str = "512m",
        cache_dir: Path | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("nodes must be at least 1")
        self.state_dir = state_dir
        self.version = version
        self.heap = heap
        base_ctl = controller_port if controller_port is not None else port + 100
        self.nodes = [NodePorts(i + 1, port + i, base_ctl + i) for i in range(nodes)]
        # Jars are shared by every state directory (tests use throw-away ones).
        self.artifacts = KafkaArtifacts(cache_dir or default_cache_dir(), version)
        self._running_before: set[int] = set()

    @property
    def bootstrap(self) -> str:
        """Comma-separated bootstrap servers of every node."""
        return ",".join(f"127.0.0.1:{n.client}" for n in self.nodes)

    def _node_dir(self, node: NodePorts) -> Path:
        return self.state_dir / "broker" / f"node-{node.node_id}"

    def _pid_file(self, node: NodePorts) -> Path:
        return self._node_dir(node) / "kafka.pid"

    def _properties(self, node: NodePorts) -> str:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller}" for n in self.nodes)
        rf = min(3, len(self.nodes))
        data = self._node_dir(node) / "data"
        return "\n".join([
            "process.roles=broker,controller",
            f"node.id={node.node_id}",
            f"listeners=PLAINTEXT://127.0.0.1:{node.client},CONTROLLER://127.0.0.1:{node.controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{node.client}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"controller.quorum.voters={voters}",
            f"log.dirs={data}",
            f"offsets.topic.replication.factor={rf}",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={min(2, rf)}",
            f"share.coordinator.state.topic.replication.factor={rf}",
            f"default.replication.factor={rf}",
            f"min.insync.replicas={min(2, rf)}",
            "offsets.topic.num.partitions=6",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "num.partitions=6",
            "log.segment.bytes=268435456",
            "message.max.bytes=4194304",  # lienthong.bus.producer.MAX_RECORD_BYTES
            "replica.fetch.max.bytes=4194304",
            "",
        ])  # fmt: skip

    def _cluster_id(self) -> str:
        path = self.state_dir / "broker" / "cluster.id"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        cid = urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        path.write_text(cid)
        return cid

    def _check_can_start(self, node: NodePorts) -> None:
        for port in (node.client, node.controller):
            if not _port_free(port):
                raise ConfigurationError(
                    f"Port {port} on 127.0.0.1 is taken, so Kafka node {node.node_id} cannot listen there. "
                    "Stop what uses it (`lienthong broker status`, `ss -ltnp`) or choose another --port."
                )

    def _java_cmd(self, libs: Path, main: str, *args: str) -> list[str]:
        return ["java", f"-Xmx{self.heap}", f"-Xms{self.heap}", "-cp", f"{libs}/*", main, *args]

    def _format(self, node: NodePorts, libs: Path, props: Path) -> None:
        if (self._node_dir(node) / "data" / "meta.properties").exists():
            return
        proc = subprocess.run(
            # `--cluster-id=ID` in one argument: a random id may start with "-", which argparse would take
            # for an option (1 start in 64 failed with "expected one argument").
            ["java", "-cp", f"{libs}/*", "kafka.tools.StorageTool", "format",
             f"--cluster-id={self._cluster_id()}", "-c", str(props), "--ignore-formatted"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise ConfigurationError(f"Formatting Kafka storage failed: {proc.stderr.strip()[-800:]}")

    def start_node(self, node: NodePorts) -> None:
        """Start one node's process (formatting its storage the first time); does not wait."""
        if self._alive(node):
            self._running_before.add(node.node_id)
            return
        self._check_can_start(node)
        libs = self.artifacts.ensure()
        ndir = self._node_dir(node)
        ndir.mkdir(parents=True, exist_ok=True)
        props = ndir / "server.properties"
        props.write_text(self._properties(node))
        log4j = ndir / "log4j2.properties"
        log4j.write_text(_LOG4J2.format(log=ndir / "server.log"))
        self._format(node, libs, props)
        cmd = self._java_cmd(libs, "kafka.Kafka", str(props))
        cmd.insert(1, f"-Dlog4j2.configurationFile={log4j}")
        with (ndir / "stdout.log").open("ab") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self._pid_file(node).write_text(str(proc.pid))

    def start(self, timeout_s: float = 90.0) -> str:
        """Start every node and wait until each answers; returns the bootstrap string."""
        major = java_major_version()
        if major < 17:
            raise ConfigurationError(f"Apache Kafka 4.x needs Java 17 or newer; `java` is version {major}.")
        self._layout_file().parent.mkdir(parents=True, exist_ok=True)
        self._layout_file().write_text(
            json.dumps({"port": self.nodes[0].client, "controller_port": self.nodes[0].controller,
                        "nodes": len(self.nodes), "version": self.version})
        )  # fmt: skip
        for node in self.nodes:
            self.start_node(node)
        self.wait_ready(timeout_s)
        return self.bootstrap

    def _layout_file(self) -> Path:
        return self.state_dir / "broker" / "layout.json"

    @staticmethod
    def has_state(state_dir: Path) -> bool:
        """Whether a broker was ever started from `state_dir` (its layout file exists)."""
        return (state_dir / "broker" / "layout.json").is_file()

    @classmethod
    def from_state(cls, state_dir: Path, **defaults: int | str) -> EmbeddedKafka:
        """The cluster last started in `state_dir` (ports, node count), or one built from `defaults`."""
        layout = state_dir / "broker" / "layout.json"
        if layout.exists():
            data = json.loads(layout.read_text())
            return cls(state_dir, port=int(data["port"]), nodes=int(data["nodes"]),
                       version=str(data["version"]), controller_port=int(data["controller_port"]))  # fmt: skip
        return cls(state_dir, **defaults)  # type: ignore[arg-type]

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Wait until every node's client port accepts connections and its log says it started."""
        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            while True:
                if not self._alive(node):
                    raise ConfigurationError(
                        f"Kafka node {node.node_id} exited during start-up. Last log lines:\n" + self.log_tail(node)
                    )
                # A node that was already running may have logged its start long ago.
                started = node.node_id in self._running_before or self._started_in_log(node)
                if _port_answers(node.client) and started:
                    break
                if time.monotonic() > deadline:
                    raise ConfigurationError(
                        f"Kafka node {node.node_id} did not answer on 127.0.0.1:{node.client} within "
                        f"{timeout_s:.0f}s. Last log lines:\n" + self.log_tail(node)
                    )
                time.sleep(0.2)

    def _started_in_log(self, node: NodePorts) -> bool:
        log = self._node_dir(node) / "server.log"
        if not log.exists():
            return False
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - 65536))
            tail = fh.read()
        return b"Kafka Server started" in tail or b"] started (kafka.server" in tail

    def log_tail(self, node: NodePorts, lines: int = 20) -> str:
        """The last lines of a node's log (for error messages)."""
        text = ""
        for name in ("server.log", "stdout.log"):
            path = self._node_dir(node) / name
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text or "(no log written)"

    def _pid(self, node: NodePorts) -> int | None:
        try:
            return int(self._pid_file(node).read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _alive(self, node: NodePorts) -> bool:
        pid = self._pid(node)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie (our own dead child) still answers kill(0); check its state.
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat.split(")")[-1].split()[0] == "Z":
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
                return False
        return True

    def stop_node(self, node: NodePorts, *, kill: bool = False, timeout_s: float = 30.0) -> None:
        """Stop one node: SIGTERM (controlled shutdown) or SIGKILL (`kill=True`, a crash)."""
        pid = self._pid(node)
        if pid is None or not self._alive(node):
            self._pid_file(node).unlink(missing_ok=True)
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while self._alive(node):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                deadline = time.monotonic() + 10
            time.sleep(0.1)
        self._pid_file(node).unlink(missing_ok=True)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop every node (controlled shutdown), all at once so the quorum shuts down together."""
        for node in self.nodes:
            pid = self._pid(node)
            if pid is not None and self._alive(node):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGTERM)
        for node in self.nodes:
            self.stop_node(node, timeout_s=timeout_s)

    def status(self) -> list[tuple[NodePorts, bool, bool]]:
        """Per node: (ports, process alive, client port answering)."""
        return [(n, self._alive(n), _port_answers(n.client)) for n in self.nodes]

    def wipe(self) -> None:
        """Delete the broker data (only when stopped)."""
        shutil.rmtree(self.state_dir / "broker", ignore_errors=True)
