"""Redis adapters: idempotency guard, rate limits, pub/sub, and the taskiq broker."""
