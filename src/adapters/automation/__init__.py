"""Automation adapters: signed event webhooks over HTTP."""
