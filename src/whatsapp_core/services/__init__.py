"""Use cases: one module per flow. They own the transaction."""
