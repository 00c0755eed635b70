"""Broker credentials for docker compose: one random password per service, made once, kept in a volume.

Run as root by the `kafka-credentials` service before Kafka starts: writes `<user>` password files
(0600, owned by the voltline user 10001), Kafka's JAAS file and the admin's client properties (0600,
owned by Kafka's user 1000). An existing file is kept, so passwords survive restarts. See docs/security.md.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

SERVICES = ["gateway", "auth", "session", "billing", "diagnostics", "analytics", "console"]
VOLTLINE_UID, KAFKA_UID = 10001, 1000


def write(path: Path, text: str, uid: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chown(path, uid, uid)
    path.chmod(0o600)


def password(folder: Path, user: str, uid: int) -> str:
    path = folder / user
    if not path.exists():
        write(path, secrets.token_urlsafe(32), uid)
    return path.read_text().strip()


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)  # the files inside are 0600; each container reads its own
    admin = password(folder, "admin", KAFKA_UID)
    users = {"admin": admin} | {name: password(folder, name, VOLTLINE_UID) for name in SERVICES}
    listed = "\n".join(f'  user_{name}="{secret}"' for name, secret in users.items())
    jaas = (
        "KafkaServer {\n  org.apache.kafka.common.security.plain.PlainLoginModule required\n"
        f'  username="admin"\n  password="{admin}"\n{listed};\n}};\n'
    )
    write(folder / "kafka_server_jaas.conf", jaas, KAFKA_UID)
    client = (
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="admin" password="{admin}";\n'
    )
    write(folder / "admin.properties", client, KAFKA_UID)
    print(f"broker credentials ready in {folder} for {', '.join(users)}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/secrets"))
