"""Orchestration package of the continuous-training platform.

Loaded by Airflow from plugins/ (on sys.path in Composer). Importing it must stay
cheap: no provider, TensorFlow or pandas imports at package level.
"""
