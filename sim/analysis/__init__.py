"""Numbers and DataFrames only: statistics, planning answers, sweeps, the verdict, the report's tables."""
