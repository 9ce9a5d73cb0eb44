"""Breach drills: an officer rehearses the incident path with a synthetic violation.

The drill's event goes through the real ingest (from Locus's own drill source), is judged by
the engine, opens an incident of its own (Incident.drill) and tells the officers and the owner,
each notice saying it is a drill; the officers acknowledge, contain and assess it with the
incident's own steps. Nothing of it is counted: no rollups, anomalies or risk-stream messages,
and every real figure, list and queue leaves drill incidents out (monitoring.selectors). The
report measures the time to acknowledge, contain and assess against the regime's clock.
"""
