"""A real Apache Kafka broker on loopback: single node, KRaft, data on disk.

Why: the embedded Tansu broker keeps everything in memory and is not the
broker production runs. This launcher gives tests and local runs the genuine
Apache Kafka (consumer-group protocol, record-size limits, log recovery after
a crash) with nothing but a JDK and Maven, both of which CI has: no Docker, no
download from outside the package registries.

How: `mvn dependency:copy-dependencies` (deploy/kafka/pom.xml) copies the
`kafka_2.13` jar and its runtime dependencies from Maven Central into a cache
directory, once per Kafka version and pom; the storage directory is formatted
once with a random cluster id; then `java -cp 'libs/*' kafka.Kafka` runs one
combined broker+controller in its own process group, logging to a file in the
data directory. `stop()` sends SIGTERM to the group, then SIGKILL; `start()`
again on the same data directory brings the same cluster back, with its
topics and records, on the same ports.

Usable as a library (`KafkaBroker`) and as a command::

    python deploy/kafka/launch.py --port 9092 --data-dir DIR
    python deploy/kafka/launch.py --resolve-only     # fill the jar cache, e.g. in CI
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

from distillguard.testing.broker import free_port

#: runs on Java 17, resolves from Maven Central, and speaks the protocol versions aiokafka uses
KAFKA_VERSION = "3.9.1"
POM = Path(__file__).with_name("pom.xml")
HOST = "127.0.0.1"
#: room for the 8 MiB records distillguard forwards unchanged to its DLQ, plus batch overhead
MAX_MESSAGE_BYTES = 16 << 20
#: main classes of the storage formatter: Scala core up to 3.x, Java tools module later
STORAGE_TOOLS = ("kafka.tools.StorageTool", "org.apache.kafka.tools.StorageTool")
JVM_OPTS = ("-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true")
LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
"""


def cache_dir() -> Path:
    """Where resolved jars live across runs: `$XDG_CACHE_HOME/distillguard` or `~/.cache/...`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "distillguard"


def resolve_libs(version: str = KAFKA_VERSION, cache: Path | None = None) -> Path:
    """The directory of broker jars for `version`, resolving them with Maven on first use.

    The directory name includes a hash of the pom, so editing the pom resolves
    again. Jars are copied into a private directory that is renamed into place
    only when complete, so an interrupted or concurrent resolve never leaves a
    half-filled cache behind.
    """
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    libs = (cache or cache_dir()) / f"kafka-{version}" / f"libs-{digest}"
    if libs.is_dir():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("mvn is not on PATH: it is needed to resolve the Kafka jars")
    libs.parent.mkdir(parents=True, exist_ok=True)
    staging = libs.parent / f".staging-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    cmd = [mvn, "-q", "-B", "-f", str(POM), f"-Dkafka.version={version}",
           "dependency:copy-dependencies", "-DincludeScope=runtime",
           f"-DoutputDirectory={staging}"]
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        raise RuntimeError(f"resolving Kafka {version} failed ({' '.join(cmd)}):\n"
                           f"{(done.stdout + done.stderr)[-4000:]}")
    try:
        staging.rename(libs)
    except OSError:  # another process finished first: its copy is as good as ours
        shutil.rmtree(staging, ignore_errors=True)
    return libs


def java_bin() -> str:
    """`$JAVA_HOME/bin/java` if set, else `java` on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not found or not os.access(found, os.X_OK):
        raise RuntimeError("java is not found (JAVA_HOME or PATH): the broker needs a JDK 17+")
    return found


def storage_tool(libs: Path) -> str:
    """The storage formatter's main class in these jars (it moved between Kafka versions)."""
    wanted = {name.replace(".", "/") + ".class": name for name in STORAGE_TOOLS}
    for jar in sorted(libs.glob("kafka*.jar")):
        with zipfile.ZipFile(jar) as zf:
            for entry in wanted.keys() & set(zf.namelist()):
                return wanted[entry]
    raise RuntimeError(f"no Kafka StorageTool class in {libs}")


def new_cluster_id() -> str:
    """A random cluster id in Kafka's format: a UUID as 22 characters of URL-safe base64.

    Never one that starts with "-": `kafka-storage format -t -abc...` reads it as an
    option and fails (1 draw in 64). Kafka's own Uuid.randomUuid() redraws such ids too.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def server_properties(data_dir: Path, port: int, controller_port: int) -> str:
    """Configuration of one combined broker+controller, sized for tests on a small machine."""
    props = {
        "process.roles": "broker,controller",
        "node.id": 1,
        "controller.quorum.voters": f"1@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": data_dir / "kafka-logs",
        "num.partitions": 1,
        "default.replication.factor": 1,
        "auto.create.topics.enable": "true",
        "message.max.bytes": MAX_MESSAGE_BYTES,
        "replica.fetch.max.bytes": MAX_MESSAGE_BYTES,
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 1,  # 50 by default: slow first group join, no benefit here
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "transaction.state.log.num.partitions": 1,
        "group.initial.rebalance.delay.ms": 0,
        # after a crash the controller refuses the broker's new registration until the old
        # one's session expires: 9 s by default, kept short so a crash-restart is quick
        "broker.session.timeout.ms": 4000,
        "broker.heartbeat.interval.ms": 1000,
    }
    return "".join(f"{key}={value}\n" for key, value in props.items())


@dataclass(frozen=True)
class ClusterState:
    """What stays the same across starts on one data directory: identity and address."""

    cluster_id: str
    port: int
    controller_port: int


class KafkaBroker:
    """One Apache Kafka node on loopback whose state lives in `data_dir`; a context manager.

    The cluster id and both ports are kept in `data_dir/launcher.json`, so a
    broker started again on the same directory is the same cluster at the same
    address: clients reconnect to it as to a restarted production broker.
    `start`, `stop` and `restart` block for seconds; async code should call
    them through `asyncio.to_thread` so its own clients keep running meanwhile.
    """

    def __init__(self, data_dir: str | Path, port: int | None = None,
                 version: str = KAFKA_VERSION, log_path: str | Path | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.version = version
        self.log_path = Path(log_path) if log_path else self.data_dir / "kafka.log"
        self._requested_port = port
        self._state: ClusterState | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        """The client port (known once started)."""
        if self._state is None:
            raise RuntimeError("the broker has not been started")
        return self._state.port

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker JVM's pid, which is also its process group id; None when stopped."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 120.0) -> KafkaBroker:
        """Resolve, format if new, launch, and return once a metadata request succeeds."""
        if self.running:
            raise RuntimeError(f"broker already running on {self.bootstrap_servers}")
        libs = resolve_libs(self.version)
        java = java_bin()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        state = self._state = self._load_state()
        config = self.data_dir / "server.properties"
        config.write_text(server_properties(self.data_dir, state.port, state.controller_port))
        log4j = self.data_dir / "log4j.properties"
        log4j.write_text(LOG4J)
        base = [java, *JVM_OPTS, f"-Dlog4j.configuration={log4j.as_uri()}", "-cp", f"{libs}/*"]
        if not (self.data_dir / "kafka-logs" / "meta.properties").exists():
            self._format([*base, storage_tool(libs), "format", "-t", state.cluster_id,
                          "-c", str(config)], timeout)
        self._note(f"starting Kafka {self.version} on {self.bootstrap_servers}")
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [*base, "kafka.Kafka", str(config)], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.data_dir)
        try:
            self._wait_ready(time.monotonic() + timeout)
        except BaseException:
            self.stop(timeout=0)
            raise
        return self

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the broker's process group (a clean shutdown), SIGKILL it after `timeout`.

        `timeout=0` kills at once: a crash, after which the next start runs
        Kafka's log recovery. Returns the broker's exit status.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            self._signal_group(proc, signal.SIGKILL if timeout <= 0 else signal.SIGTERM)
            try:
                proc.wait(timeout if timeout > 0 else None)
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait()
        self._note(f"stopped, exit status {proc.returncode}")
        return proc.returncode

    def restart(self, timeout: float = 30.0) -> KafkaBroker:
        """Stop (as `stop(timeout)`) and start again on the same data directory and ports."""
        self.stop(timeout)
        return self.start()

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the broker's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def __enter__(self) -> KafkaBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _load_state(self) -> ClusterState:
        """Cluster id and ports: kept from an earlier start, else new (an explicit port wins)."""
        path = self.data_dir / "launcher.json"
        kept = json.loads(path.read_text()) if path.exists() else {}
        state = ClusterState(
            cluster_id=kept.get("cluster_id") or new_cluster_id(),
            port=self._requested_port or kept.get("port") or free_port(),
            controller_port=kept.get("controller_port") or free_port())
        path.write_text(json.dumps(asdict(state), indent=2) + "\n")
        return state

    def _format(self, cmd: list[str], timeout: float) -> None:
        """Write the cluster id into a new storage directory (Kafka refuses to start without)."""
        self._note(f"formatting {self.data_dir / 'kafka-logs'}")
        with open(self.log_path, "ab") as log:
            done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout, cwd=self.data_dir)
        if done.returncode != 0:
            raise RuntimeError(f"formatting the storage failed ({done.returncode}):\n"
                               f"{self.log_tail()}")

    def _wait_ready(self, deadline: float) -> None:
        while not self._answers_metadata():
            if not self.running:
                raise RuntimeError(f"Kafka exited during startup:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kafka not ready on {self.bootstrap_servers}:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.25)
        self._note(f"ready on {self.bootstrap_servers}")

    def _answers_metadata(self) -> bool:
        """Whether the port accepts a connection and an admin metadata request succeeds."""
        try:
            socket.create_connection((HOST, self.port), timeout=0.5).close()
        except OSError:
            return False
        # a thread of its own, so this works even when the caller runs an event loop
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, _list_topics(self.bootstrap_servers)).result()

    def _signal_group(self, proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
            os.killpg(proc.pid, sig)

    def _note(self, message: str) -> None:
        with open(self.log_path, "a") as log:
            log.write(f"[{time.strftime('%Y-%m-%d %H:%M:%S')}] launcher: {message}\n")


async def _list_topics(bootstrap: str) -> bool:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:  # not up yet: any failure means "ask again"
        return False
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> int:
    """Run a broker in the foreground until SIGINT or SIGTERM; print its address when ready."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, help="client port (default: kept from the data "
                        "directory's last start, else a free one)")
    parser.add_argument("--data-dir", default="kafka-data", help="log dirs, config and kafka.log")
    parser.add_argument("--kafka-version", default=KAFKA_VERSION)
    parser.add_argument("--resolve-only", action="store_true",
                        help="resolve the jars into the cache, print their directory, exit")
    args = parser.parse_args(argv)
    try:
        if args.resolve_only:
            print(resolve_libs(args.kafka_version))
            return 0
        broker = KafkaBroker(args.data_dir, args.port, args.kafka_version)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        broker.start()
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(broker.bootstrap_servers, flush=True)
    try:
        while broker.running and not stop.wait(1.0):
            pass
    finally:
        broker.stop()
    return 0 if stop.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
