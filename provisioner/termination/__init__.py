"""Graceful termination of one of our nodes: pure decisions (`pods`), the drain adapter (`drain`),
the lifecycle as stack history (`lifecycle`). See docs/disruption.md."""
