"""Office displays: pairing, rotation, websocket and page."""
