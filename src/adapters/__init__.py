"""Adapters: the technology behind each port of :mod:`whatsapp_core.ports`."""
