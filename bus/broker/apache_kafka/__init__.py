"""Apache Kafka (KRaft) without Docker: the jars `make kafka` resolves, started on loopback.

installation, reason = find()            # KAFKA_HOME, or .bus/kafka/<version>/libs
with KafkaCluster(nodes=3) as cluster:
    ...
"""

from bus.broker.apache_kafka.cluster import KafkaCluster, KafkaNode
from bus.broker.apache_kafka.installation import KafkaInstallation, find, pinned_version

__all__ = ["KafkaCluster", "KafkaInstallation", "KafkaNode", "find", "pinned_version"]
