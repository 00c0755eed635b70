"""Response models of the diagnostics health routes (the maintenance routes keep theirs beside them)."""
