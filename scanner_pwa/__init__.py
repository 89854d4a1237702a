"""The phone app (PWA) served at /s."""
