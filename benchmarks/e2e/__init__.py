"""Click-to-result scenarios, one module per tab: `benchmarks/click_to_result.py` describes their shape, runs them."""
