"""Pure gateway logic: OCPP-J framing, station ids, CallError codes. No I/O here."""
