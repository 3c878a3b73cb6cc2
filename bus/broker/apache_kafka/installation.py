"""Where Apache Kafka's jars are on this machine, and which version the project pins.

Apache Kafka is found, in order:

1. `KAFKA_HOME`, an unpacked Apache Kafka distribution (its `libs/` folder);
2. `BUS_KAFKA_DIR/<version>/libs`, where `make kafka` resolved the pinned version with Maven
   (default `.bus/kafka` in the project, or in the current folder or one above it).

Java comes from `JAVA_HOME`, else `java` on the PATH. When either is missing, `find()` says why,
and `bus dev` and the test fixtures fall back to the embedded Tansu broker.
"""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path

__all__ = ["POM", "KafkaInstallation", "find", "pinned_version"]

#: The pom that `make kafka` resolves; its `kafka.version` property is the project's pin.
POM = Path(__file__).with_name("pom.xml")
#: The project folder when the package runs from a checkout (editable install).
_PROJECT = Path(__file__).resolve().parents[3]
_JAR = re.compile(r"^kafka_2\.13-(?P<version>\d+\.\d+\.\d+)\.jar$")


@cache
def pinned_version() -> str:
    """The Apache Kafka version the project pins (the pom's `kafka.version`)."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    node = ET.parse(POM).getroot().find("m:properties/m:kafka.version", namespace)
    if node is None or not node.text:
        raise RuntimeError(f"{POM} has no kafka.version property")
    return node.text.strip()


@dataclass(frozen=True)
class KafkaInstallation:
    """An Apache Kafka that can be started here: its jars, its version and a Java to run it."""

    version: str
    libs: Path
    java: str
    source: str

    @property
    def classpath(self) -> str:
        """The JVM class path: every jar in `libs/`."""
        return f"{self.libs}/*"

    def tool(self, main_class: str, *arguments: str) -> list[str]:
        """The command line of one of Kafka's own tools, e.g. `ConsumerGroupCommand`."""
        return [self.java, "-Xmx256m", "-cp", self.classpath, main_class, *arguments]

    def describe(self) -> str:
        """One line for people: `Apache Kafka 4.4.0 from .bus/kafka/4.4.0/libs`."""
        return f"Apache Kafka {self.version} from {self.source}"


def find() -> tuple[KafkaInstallation | None, str]:
    """The installation to use, or None and the reason there is none."""
    java = _java()
    if java is None:
        return None, "no Java found (set JAVA_HOME or put java on the PATH)"
    home = os.environ.get("KAFKA_HOME")
    if home:
        libs = Path(home) / "libs"
        version = _version_in(libs)
        if version is None:
            return None, f"KAFKA_HOME={home} holds no libs/kafka_2.13-<version>.jar"
        return KafkaInstallation(version, libs, java, f"KAFKA_HOME={home}"), "KAFKA_HOME is set"
    version = pinned_version()
    for base in _kafka_dirs():
        libs = base / version / "libs"
        if _version_in(libs) == version:
            return (
                KafkaInstallation(version, libs, java, str(libs)),
                f"installed by `make kafka` in {base}",
            )
    return None, f"Apache Kafka {version} is not installed (run `make kafka`; it needs mvn)"


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def _kafka_dirs() -> list[Path]:
    explicit = os.environ.get("BUS_KAFKA_DIR")
    if explicit:
        return [Path(explicit)]
    here = Path.cwd().resolve()
    candidates = [folder / ".bus" / "kafka" for folder in (here, *here.parents)]
    candidates.append(_PROJECT / ".bus" / "kafka")
    return list(dict.fromkeys(candidates))


def _version_in(libs: Path) -> str | None:
    if not libs.is_dir():
        return None
    for jar in libs.iterdir():
        if match := _JAR.match(jar.name):
            return match["version"]
    return None
