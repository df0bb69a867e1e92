"""Running replications: one (``simulate``), many, and where they run (serially, a process pool, Dask)."""
