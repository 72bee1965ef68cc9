"""The TFX continuous-training pipeline for the Chicago taxi "big tipper" task.

Split like the TFX template: features / preprocessing / model code under models/,
the pipeline definition in pipeline.py, our custom components under components/,
and one runner per orchestrator under runners/.
"""
