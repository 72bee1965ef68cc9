"""Vertex AI Model Registry backend: versions of one Model, the `champion` version alias
as the pointer (clients, credentials and retries as in backends/vertex.py)."""

from __future__ import annotations

import json

from ct_platform import storage
from ct_platform.backends.registry import ANY, check_expected
from ct_platform.backends.vertex import TIMEOUT, _client, _transient_retry, log
from ct_platform.labels import label_slug, version_labels


class VertexModelRegistry:
  """Versions of one Vertex AI Model; the `champion` version alias is the pointer."""

  def __init__(self, project: str, region: str, model_name: str, api_endpoint: str = '',
               gcp_conn_id: str = 'google_cloud_default', impersonation_chain: str = '',
               serving_image: str = ''):
    self.project, self.region = project, region
    self.model_id = label_slug(model_name)
    self.model_name = model_name
    self.api_endpoint = api_endpoint
    self.gcp_conn_id = gcp_conn_id
    self.impersonation_chain = impersonation_chain
    self.serving_image = serving_image

  @classmethod
  def from_settings(cls, settings):
    from ct_platform.serving_image import check_serving_image
    if not settings.serving_image:
      raise ValueError('setting serving_image is empty: Vertex AI Model Registry versions '
                       'of a custom model need a prediction container image, pinned (e.g. '
                       'us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-16@sha256:...)')
    check_serving_image(settings.serving_image)
    return cls(project=settings.project, region=settings.region,
               model_name=settings.model_name, api_endpoint=settings.vertex_api_endpoint,
               gcp_conn_id=settings.gcp_conn_id,
               impersonation_chain=settings.impersonation_chain,
               serving_image=settings.serving_image)

  @property
  def location(self) -> str:
    return f'projects/{self.project}/locations/{self.region}'

  @property
  def resource(self) -> str:
    return f'{self.location}/models/{self.model_id}'

  def _client(self):
    return _client('model', self.region, self.api_endpoint, self.gcp_conn_id,
                   self.impersonation_chain)

  def _record(self, model) -> dict:
    model_uri = storage.parent(model.artifact_uri)  # the TFX Model folder (baseline input)
    try:
      record = json.loads(storage.read_text(storage.join(model_uri, 'metadata.json'), self))
      rollouts = storage.read_bytes(storage.join(model_uri, 'rollouts.json'), self)
      record['rollouts'] = json.loads(rollouts) if rollouts is not None else []
    except Exception as e:  # noqa: BLE001 (a version registered by hand)
      record = {'metadata_error': f'{type(e).__name__}: {e}', 'rollouts': []}
    return dict(record, version=int(model.version_id), model_uri=model_uri,
                vertex_model=f'{self.resource}@{model.version_id}',
                aliases=list(model.version_aliases))

  def record_rollout(self, version: int, outcome: dict) -> None:
    """rollouts.json beside the version's metadata.json in the bucket (a Model's labels
    hold 64 short values: too small for reasons)."""
    import datetime as dt

    record = self.get_version(version)
    path = storage.join(record['model_uri'], 'rollouts.json')
    storage.write_text(path, json.dumps(record['rollouts'] + [dict(
        outcome, recorded_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'))],
        indent=2), self, content_type='application/json')

  def get_version(self, version: int) -> dict:
    from google.api_core import exceptions

    try:
      return self._record(self._client().get_model(name=f'{self.resource}@{int(version)}',
                                                   retry=_transient_retry(), timeout=TIMEOUT))
    except exceptions.NotFound as e:
      raise LookupError(f'model {self.resource} has no version {version}') from e

  def get_alias(self, alias: str = 'champion') -> dict | None:
    from google.api_core import exceptions

    try:
      model = self._client().get_model(name=f'{self.resource}@{alias}',
                                       retry=_transient_retry(), timeout=TIMEOUT)
    except exceptions.NotFound:
      return None
    return dict(self._record(model), alias=alias)

  def register(self, candidate_model_uri: str, metadata: dict) -> dict:
    """Uploads the candidate as a new version (metadata.json beside it first)."""
    from google.api_core import exceptions
    from google.cloud import aiplatform_v1

    smoke = metadata.get('smoke_test') or {}
    if smoke.get('passed') is not True:
      raise ValueError(f'candidate {candidate_model_uri}: its smoke test did not pass '
                       f'({smoke.get("message", "no result")}); not uploading it')
    labels = version_labels(metadata)
    storage.write_text(storage.join(candidate_model_uri, 'metadata.json'),
                       json.dumps(metadata, indent=2, sort_keys=True, default=str), self,
                       content_type='application/json')
    brief = {k: metadata.get(k) for k in ('run_id', 'airflow_run_id', 'metrics', 'window',
                                          'git_sha', 'smoke_test')}
    brief['span_uri'] = (metadata.get('span') or {}).get('uri')
    model = aiplatform_v1.Model(
        display_name=self.model_name, artifact_uri=storage.join(candidate_model_uri,
                                                                'Format-Serving'),
        version_description=json.dumps(brief, sort_keys=True, default=str)[:4000],
        labels=labels,
        container_spec=aiplatform_v1.ModelContainerSpec(image_uri=self.serving_image)
        if self.serving_image else None)
    client = self._client()
    existing = self._version_of_run(client, labels['ct_run'])
    if existing is not None:  # a re-run of a promote that uploaded before it failed
      log.info('model version %s already holds run %s: not uploading it again', existing,
               metadata.get('run_id'))
      return dict(metadata, version=existing, model_uri=candidate_model_uri,
                  vertex_model=f'{self.resource}@{existing}')
    try:
      client.get_model(name=self.resource, retry=_transient_retry(), timeout=TIMEOUT)
      request = aiplatform_v1.UploadModelRequest(parent=self.location, model=model,
                                                 parent_model=self.resource)
    except exceptions.NotFound:
      request = aiplatform_v1.UploadModelRequest(parent=self.location, model=model,
                                                 model_id=self.model_id)
    result = client.upload_model(request=request, timeout=TIMEOUT).result(timeout=1800)
    return dict(metadata, version=int(result.model_version_id), model_uri=candidate_model_uri,
                vertex_model=f'{self.resource}@{result.model_version_id}')

  def _version_of_run(self, client, run_slug: str) -> int | None:
    from google.api_core import exceptions

    try:
      versions = client.list_model_versions(name=self.resource, retry=_transient_retry(),
                                            timeout=TIMEOUT)
    except exceptions.NotFound:
      return None
    for model in versions:
      if model.labels.get('ct_run') == run_slug:
        return int(model.version_id)
    return None

  def set_alias(self, version: int, alias: str = 'champion', reason: str = '',
                expected_version=ANY) -> dict:
    """Moves the alias; with expected_version, only if it still points there. Vertex
    has no conditional alias move: the check reads the version holding the alias just
    before mergeVersionAliases, so a move by someone else in between (about a second)
    remains possible."""
    if expected_version is not ANY:
      held = self.get_alias(alias)
      check_expected(alias, int(held['version']) if held else None, expected_version)
    # idempotent, so retried on 429 / 5xx: a version must not be left without its alias
    model = self._client().merge_version_aliases(
        name=f'{self.resource}@{int(version)}', version_aliases=[alias],
        retry=_transient_retry(), timeout=TIMEOUT)
    return self._record(model)
