"""The Litestar application: API, WebSocket and inbox pages."""
