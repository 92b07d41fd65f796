"""A ClickHouse server from Debian's `clickhouse-server` package, with its own dirs and ports."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError

from infra.server import LocalServer
from infra.system import ensure_command, find_command

DEBIAN_PACKAGES = ["clickhouse-server", "clickhouse-client"]


def server_config(*, home: Path, tcp_port: int, http_port: int) -> str:
    """config.xml for a loopback-only server keeping everything under `home`."""
    data, logs = escape(str(home / "data")), escape(str(home / "logs"))
    return f"""<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>{logs}/server.log</log>
    <errorlog>{logs}/server.err.log</errorlog>
    <size>50M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>{tcp_port}</tcp_port>
  <http_port>{http_port}</http_port>
  <path>{data}/</path>
  <tmp_path>{data}/tmp/</tmp_path>
  <user_files_path>{data}/user_files/</user_files_path>
  <format_schema_path>{data}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mlock_executable>false</mlock_executable>
</yandex>
"""


USERS_CONFIG = """<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"""


def select_one_answers(url: str) -> bool:
    """True when `SELECT 1` answers over the native protocol at a clickhouse:// URL."""
    parts = urlsplit(url)
    client = Client(
        host=parts.hostname or "127.0.0.1", port=parts.port or 9000,
        user=unquote(parts.username or "default"), password=unquote(parts.password or ""),
        connect_timeout=2, send_receive_timeout=5,
    )
    quiet = logging.getLogger("clickhouse_driver")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # refused connections are expected while starting
    try:
        return client.execute("SELECT 1") == [(1,)]
    except (ClickHouseError, OSError, EOFError):
        return False
    finally:
        client.disconnect()
        quiet.setLevel(level)


def server_command() -> list[str]:
    """The server binary: `clickhouse-server`, or the single `clickhouse` binary."""
    if path := find_command("clickhouse-server"):
        return [path]
    if path := find_command("clickhouse"):
        return [path, "server"]
    return [ensure_command("clickhouse-server", DEBIAN_PACKAGES)]


class LocalClickHouse(LocalServer):
    name = "clickhouse"
    start_timeout_s = 60.0

    def __init__(self, *, home: Path, tcp_port: int, http_port: int) -> None:
        super().__init__(home, "config.xml", "server.err.log")
        self.tcp_port = tcp_port
        self.http_port = http_port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.tcp_port}"

    @property
    def ports(self) -> dict[str, int]:
        return {"ABSTREAM_CLICKHOUSE_PORT": self.tcp_port,
                "ABSTREAM_CLICKHOUSE_HTTP_PORT": self.http_port}

    def install(self) -> None:
        server_command()

    def answers(self) -> bool:
        return select_one_answers(f"clickhouse://{self.address}")

    def prepare(self) -> list[str]:
        for sub in ("data", "logs"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            server_config(home=self.home, tcp_port=self.tcp_port, http_port=self.http_port)
        )
        (self.home / "users.xml").write_text(USERS_CONFIG)
        return [*server_command(), f"--config-file={self.config_file}"]
