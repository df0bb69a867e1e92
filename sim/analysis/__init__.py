"""Numbers and DataFrames only: statistics, planning answers, sweeps, the verdict, report and comparison tables."""
