"""Settings of remote maintenance (commands, logs, firmware), mixed into DiagnosticsSettings."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MaintenanceSettings(BaseModel):
    command_timeout_s: float = Field(
        default=30.0, gt=0, le=300, description="How long the gateway waits for a station to answer a command."
    )
    command_answer_wait_s: float = Field(
        default=5.0, ge=0, description="A command answered within this long gets 200 with the answer; else 202."
    )
    command_station_wait_max_s: float = Field(
        default=3600.0, gt=0, description="The longest a command may wait for an offline station to come back."
    )
    command_reply_fetch_wait_ms: int = Field(
        default=200,
        ge=1,
        le=500,
        description="How long the broker may hold a fetch of this service's command replies. Replies come back "
        "at once on Kafka whatever this is (a held fetch answers when a record arrives); the platform's 10 ms "
        "made each idle reply reader fetch 100 times a second, the largest part of the idle service's CPU.",
    )
    public_url: str | None = Field(
        default=None,
        description="How stations reach this service's HTTP port (upload locations, firmware files); "
        "default http://<http_host>:<http_port>.",
    )
    maintenance_files_dir: str = Field(
        default="./data/diagnostics-files", description="Local folder of the storage port (logs, firmware)."
    )
    upload_max_bytes: int = Field(default=100 * 1024 * 1024, gt=0, description="Largest log upload accepted.")
    upload_token_ttl_s: float = Field(default=86400.0, gt=0, description="An upload location is valid this long.")
    log_retention_days: float = Field(default=30.0, gt=0, description="Uploaded log files are deleted after this.")
    firmware_tick_s: float = Field(default=5.0, gt=0, description="How often firmware campaigns advance.")
    ftp_enabled: bool = Field(default=False, description="Run the embedded FTP receiver for log uploads.")
    ftp_port: int = Field(default=2121, ge=1, le=65535, description="Port of the embedded FTP receiver.")
    ftp_host: str = Field(default="127.0.0.1", description="Address the FTP receiver listens on.")
    ftp_public_host: str | None = Field(default=None, description="Host stations use for FTP; default ftp_host.")
    ftp_passive_ports: tuple[int, int] = Field(default=(0, 0), description="Passive data port range; (0, 0): any.")
