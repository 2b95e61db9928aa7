"""Multi-turn shopping sessions with a simulated shopper (python -m benchmarks.session.bench_session)."""
