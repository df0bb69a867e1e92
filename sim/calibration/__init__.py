"""Real fleet input: reading inventory exports, fitting the presence model, writing a scenario from it."""
