"""Real-time fan-out of domain events to the inbox WebSockets of a tenant."""
