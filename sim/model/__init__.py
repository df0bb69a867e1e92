"""The model rules: topology, fleet, presence, heartbeats, trust and orphaning, the world, causes, load."""
