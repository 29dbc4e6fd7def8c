"""What every layer shares: the user-facing error types. Nothing here imports the other packages,
so specs and hardware can use it without depending on perfmodel (dependencies flow one way:
common -> specs, hardware -> perfmodel -> search -> CLI)."""
