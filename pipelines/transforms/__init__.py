"""Plain `DataFrame -> DataFrame` functions the pipeline definitions call (unit-tested on a local session)."""
