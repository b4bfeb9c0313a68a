"""Channel adapters: one module per channel, a small base protocol, an explicit registry."""
