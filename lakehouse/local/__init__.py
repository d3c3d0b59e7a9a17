"""Everything that runs on this machine: the local run, its sample and feeds, the report, the benchmark."""
