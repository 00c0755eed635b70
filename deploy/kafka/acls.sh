#!/bin/sh
# Per-service ACLs on the broker (docker compose; the Helm chart documents the same set).
# Every service reads and writes the voltline topics and its own consumer groups; only auth may write the
# topics other services trust (the station registry, the API keys and the Authorize decisions), so a compromised or misconfigured
# service cannot register a station or mint an operator key. Idempotent: re-adding an ACL is a no-op.
set -eu
ACLS=/opt/kafka/bin/kafka-acls.sh
CONN="--bootstrap-server ${KAFKA_BOOTSTRAP:-kafka:9092} --command-config /etc/kafka/secrets/admin.properties"
TOPICS="${VOLTLINE_TOPIC_PREFIX:-}voltline."
GROUPS="${VOLTLINE_TOPIC_PREFIX:-}voltline-"
for service in gateway auth session billing diagnostics analytics console; do
  $ACLS $CONN --add --allow-principal "User:$service" \
    --operation Read --operation Write --operation Describe --operation Create --operation DescribeConfigs \
    --topic "$TOPICS" --resource-pattern-type prefixed
  $ACLS $CONN --add --allow-principal "User:$service" --operation Read --operation Describe \
    --group "$GROUPS$service" --resource-pattern-type prefixed
done
for service in gateway session billing diagnostics analytics console; do
  $ACLS $CONN --add --deny-principal "User:$service" --operation Write \
    --topic "${TOPICS}auth.station-registry.v1" --topic "${TOPICS}auth.api-keys.v1" \
    --topic "${TOPICS}auth.decisions.v1"
done
# Billing's tariffs table (prices shown to drivers) is billing's alone to write.
for service in gateway auth session diagnostics analytics console; do
  $ACLS $CONN --add --deny-principal "User:$service" --operation Write --topic "${TOPICS}billing.tariffs.v1"
done
echo "broker ACLs in place"
