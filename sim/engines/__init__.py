"""The engines that walk time through the fleet: fast (batches at world changes) and reference (per heartbeat)."""
