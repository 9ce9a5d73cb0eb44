"""The locality policy: the pure engine (engine), its inputs (facts), the compiled index and its
per-process cache (index), locality rules (rules) and what-ifs over recorded decisions (whatif).
"""
