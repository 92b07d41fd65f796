"""A single-node Apache Kafka 3.9 broker in KRaft mode, run from Maven Central jars."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import subprocess
import uuid
from importlib import resources
from pathlib import Path

from aiokafka import AIOKafkaClient
from aiokafka.errors import KafkaError

from infra.errors import InfraError
from infra.server import LocalServer
from infra.system import ensure_command


def broker_properties(*, port: int, controller_port: int, data_dir: Path) -> str:
    """server.properties for one combined broker+controller on loopback."""
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data_dir}",
            "num.partitions=1",
            "default.replication.factor=1",
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "min.insync.replicas=1",
            "auto.create.topics.enable=false",
            "group.initial.rebalance.delay.ms=0",
            "",
        ]
    )


def _log4j_properties(log_file: Path) -> str:
    return "\n".join(
        [
            "log4j.rootLogger=INFO, file",
            "log4j.logger.kafka.request.logger=WARN",
            "log4j.logger.state.change.logger=WARN",
            "log4j.appender.file=org.apache.log4j.RollingFileAppender",
            f"log4j.appender.file.File={log_file}",
            "log4j.appender.file.MaxFileSize=50MB",
            "log4j.appender.file.MaxBackupIndex=2",
            "log4j.appender.file.layout=org.apache.log4j.PatternLayout",
            "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n",
            "",
        ]
    )


def install_jars(libs_dir: Path) -> bool:
    """Resolve the broker's jars into `libs_dir` unless the cache matches the pom.

    Returns True if it downloaded, False if the cache was already complete.
    """
    pom = resources.files("infra").joinpath("kafka-pom.xml").read_bytes()
    stamp = libs_dir / ".pom.sha256"
    digest = hashlib.sha256(pom).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return False
    ensure_command("java", ["default-jre-headless"])
    mvn = ensure_command("mvn", ["maven"])
    libs_dir.mkdir(parents=True, exist_ok=True)
    for old in libs_dir.glob("*.jar"):
        old.unlink()
    pom_file = libs_dir.parent / "pom.xml"
    pom_file.write_bytes(pom)
    print(f"resolving the Kafka broker jars from Maven Central into {libs_dir} ...", flush=True)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(pom_file), "dependency:copy-dependencies",
         f"-DoutputDirectory={libs_dir}", "-DincludeScope=runtime"],
        capture_output=True, text=True,
    )
    if result.returncode != 0 or not any(libs_dir.glob("kafka_2.13-*.jar")):
        raise InfraError(
            "could not fetch the Kafka jars from Maven Central "
            f"(mvn exit {result.returncode}):\n{(result.stdout + result.stderr)[-2000:]}"
        )
    stamp.write_text(digest)
    return True


async def _metadata_answers(bootstrap: str) -> bool:
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except (KafkaError, OSError):
        return False
    finally:
        await client.close()


def metadata_answers(bootstrap: str) -> bool:
    """True when a broker at `bootstrap` answers a metadata request."""
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # refused connections are expected while starting
    try:
        return asyncio.run(_metadata_answers(bootstrap))
    finally:
        quiet.setLevel(level)


class LocalKafka(LocalServer):
    name = "kafka"
    start_timeout_s = 120.0

    def __init__(
        self, *, home: Path, libs_dir: Path, port: int, controller_port: int, heap: str
    ) -> None:
        super().__init__(home, "server.properties", "server.log")
        self.libs_dir = libs_dir
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.data_dir = self.home / "data"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ports(self) -> dict[str, int]:
        return {"ABSTREAM_KAFKA_PORT": self.port,
                "ABSTREAM_KAFKA_CONTROLLER_PORT": self.controller_port}

    def install(self) -> None:
        install_jars(self.libs_dir)

    def answers(self) -> bool:
        return metadata_answers(self.address)

    def prepare(self) -> list[str]:
        java = ensure_command("java", ["default-jre-headless"])
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            broker_properties(port=self.port, controller_port=self.controller_port,
                              data_dir=self.data_dir)
        )
        (self.home / "log4j.properties").write_text(_log4j_properties(self.log_file))
        if not (self.data_dir / "meta.properties").exists():
            self._run_tool(java, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                           "-t", str(uuid.uuid4()), "-c", str(self.config_file))
        return [java, f"-Xms{self.heap}", f"-Xmx{self.heap}", *self._java_opts(),
                "kafka.Kafka", str(self.config_file)]

    def _java_opts(self) -> list[str]:
        return [
            "-cp", f"{self.libs_dir}/*",
            f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
        ]

    def _run_tool(self, java: str, main_class: str, *args: str) -> None:
        result = subprocess.run(
            [java, *self._java_opts(), main_class, *args], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise InfraError(f"{main_class} failed:\n{(result.stdout + result.stderr)[-2000:]}")
