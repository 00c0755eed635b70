"""Pure auth rules: who may join, who may charge. No I/O here."""
