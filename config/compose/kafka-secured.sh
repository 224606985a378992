#!/usr/bin/env bash
# docker-compose's broker: Apache Kafka (KRaft, one node) that authenticates every client with
# SASL/SCRAM-SHA-512 and lets each pipeline stage do only its own work (ACLs below). The
# controller and inter-broker listeners are on the container's loopback, unauthenticated, and act
# as the broker itself (super user): only this script uses them, to add the users and the ACLs.
# Records are kept in the kafka-data volume.
# The stages' passwords come from the environment (UCX_KAFKA_<STAGE>_PASSWORD; letters, digits,
# '-' and '_' only, as kafka-configs takes them).
set -euo pipefail
bin=/opt/kafka/bin
properties=/tmp/ucx-broker.properties
data=/var/lib/kafka/data
internal=127.0.0.1:9094

cat >"$properties" <<PROPERTIES
node.id=1
process.roles=broker,controller
listeners=CLIENTS://:9092,INTERNAL://$internal,CONTROLLER://127.0.0.1:9093
advertised.listeners=CLIENTS://kafka:9092,INTERNAL://$internal
listener.security.protocol.map=CLIENTS:SASL_PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
controller.quorum.voters=1@127.0.0.1:9093
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.clients.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=false
auto.create.topics.enable=false
log.dirs=$data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
PROPERTIES

"$bin/kafka-storage.sh" format --ignore-formatted -t "$("$bin/kafka-storage.sh" random-uuid)" -c "$properties"
"$bin/kafka-server-start.sh" "$properties" &
broker=$!
trap 'kill -TERM "$broker"; wait "$broker"' TERM INT
until "$bin/kafka-broker-api-versions.sh" --bootstrap-server "$internal" >/dev/null 2>&1; do
  kill -0 "$broker" || exit 1
  sleep 1
done

user() { # user NAME PASSWORD
  case "$2" in
    *[!A-Za-z0-9_-]*|'') echo "kafka: the password of $1 may only hold letters, digits, '-' and '_'" >&2; exit 1 ;;
  esac
  "$bin/kafka-configs.sh" --bootstrap-server "$internal" --alter --entity-type users \
    --entity-name "$1" --add-config "SCRAM-SHA-512=[iterations=8192,password=$2]" >/dev/null
}
allow() { # allow USER OPERATION topic|group NAME
  "$bin/kafka-acls.sh" --bootstrap-server "$internal" --add --allow-principal "User:$1" \
    --operation "$2" "--$3" "$4" >/dev/null
}
allow_cluster() { # allow_cluster USER OPERATION
  "$bin/kafka-acls.sh" --bootstrap-server "$internal" --add --allow-principal "User:$1" \
    --operation "$2" --cluster >/dev/null
}

user ucx-ingest "$UCX_KAFKA_INGEST_PASSWORD"
user ucx-processors "$UCX_KAFKA_PROCESSORS_PASSWORD"
user ucx-sinks "$UCX_KAFKA_SINKS_PASSWORD"
user ucx-notifier "$UCX_KAFKA_NOTIFIER_PASSWORD"

# Every stage reads the registry from the start (no offsets kept) and creates the topics it
# needs if they are missing (Create on a topic that exists changes nothing); every producer is
# idempotent.
for stage in ucx-ingest ucx-processors ucx-sinks ucx-notifier; do
  allow "$stage" Read topic ucx.registry
  allow "$stage" Create topic ucx.registry
  allow "$stage" Read group ucx-registry-reader
  allow_cluster "$stage" IdempotentWrite
done
# The stages' runtime creates the pipeline's topics at start.
for stage in ucx-processors ucx-sinks ucx-notifier; do
  for topic in ucx.beats ucx.alerts ucx.changes ucx.dead-letters; do
    allow "$stage" Create topic "$topic"
  done
  allow "$stage" Write topic ucx.dead-letters
done

# The gateway: beats in, and the admin API's registry changes.
allow ucx-ingest Create topic ucx.beats
allow ucx-ingest Write topic ucx.beats
allow ucx-ingest Write topic ucx.registry

# The processors: beats in; alerts, changes and their own state out.
allow ucx-processors Read topic ucx.beats
allow ucx-processors Read group ucx-processors
allow ucx-processors Write topic ucx.alerts
allow ucx-processors Write topic ucx.changes
allow ucx-processors Create topic ucx.processor-state
allow ucx-processors Read topic ucx.processor-state
allow ucx-processors Write topic ucx.processor-state
allow ucx-processors Read group ucx-processor-state-reader

# The sinks: beats, alerts and changes into ClickHouse.
allow ucx-sinks Read topic ucx.beats
allow ucx-sinks Read topic ucx.alerts
allow ucx-sinks Read topic ucx.changes
allow ucx-sinks Read group ucx-sinks-clickhouse

# The notifier: alerts in; fleet incidents it holds (registry records) out.
allow ucx-notifier Read topic ucx.alerts
allow ucx-notifier Read group ucx-notifier
allow ucx-notifier Write topic ucx.registry

touch /tmp/ucx-secured
echo "kafka: users and ACLs in place"
wait "$broker"
