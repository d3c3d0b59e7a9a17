"""Operations users run by hand: grant audit, drift report, ingestion, the local run, evaluation, benchmarks."""
