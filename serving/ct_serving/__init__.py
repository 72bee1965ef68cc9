"""The local prediction service: a KServe ModelServer speaking the TF Serving / KServe V1 REST
shape (`POST /v1/models/NAME:predict` with `{"instances": [{raw features}, ...]}`), holding the
models deployed to a local endpoint with a traffic split, logging every request and response.

Modules: spec (what an instance must hold, read from the SavedModel's own parse op, and the
checks that turn a bad request into a 400 naming the field), endpoint (the endpoint file:
deployed models and traffic split, as a Vertex AI Endpoint has them), prediction_log (the
batched, lossless writer of the request-response log), server (the KServe model and the CLI).

This runs in the serving env (.venv-serving: TensorFlow, KServe, Locust), never in Airflow's.
"""
