"""Use cases of the gateway: answering a station's frame."""
