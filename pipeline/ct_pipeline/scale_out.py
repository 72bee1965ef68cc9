"""Scale-out on the engines Google runs, chosen at compile time (kfp_compile
--beam-runner dataflow, --trainer vertex), never home-made:

- Dataflow for the Beam components (CsvExampleGen, StatisticsGen, Transform, Evaluator):
  beam_pipeline_args for DataflowRunner, with Runner v2 (the Evaluator needs it) and our
  pipeline image as the workers' SDK container (the same tag the pipeline runs), so the
  user module (preprocessing_fn) is importable on the workers (tensorflow/tfx#4764) and no
  second image drifts from the first. Transform (full passes for vocabularies and
  quantiles) and the Evaluator (the model over every test row) get their own machine type
  and worker cap.
- Vertex AI Training for the Trainer: TFX's Google Cloud AI Platform Trainer extension with
  a CustomJob spec (machine type, accelerators, our image).

Pure: builds arguments; the pipeline definition applies them.
"""

import dataclasses
import re

BEAM_COMPONENTS = ('CsvExampleGen', 'StatisticsGen', 'Transform', 'Evaluator')
HEAVY_COMPONENTS = ('Transform', 'Evaluator')
_REGION = re.compile(r'^[a-z]+-[a-z]+\d+$')


def check_image(image: str, what: str) -> None:
  """An image the pipeline's steps and workers run must be pinned: a tag other than
  latest, or a digest (they must run the code the spec was compiled from)."""
  tag = image.rsplit('/', 1)[-1]
  if '@sha256:' not in image and (':' not in tag or tag.endswith(':latest')):
    raise ValueError(f'{what} {image!r} must carry an explicit tag other than latest (or '
                     f'a digest): the steps must run the code this pipeline was compiled from')


@dataclasses.dataclass(frozen=True)
class Dataflow:
  project: str
  region: str
  temp_location: str           # gs://<data bucket>/dataflow/tmp
  image: str                   # the pipeline image (--sdk_container_image)
  service_account: str = ''    # the workers' service account (default: Compute's)
  subnetwork: str = ''         # regions/<region>/subnetworks/<name> (a shared VPC: a URL)
  no_public_ips: bool = False  # workers without external IPs (needs Private Google Access)
  machine_type: str = 'n1-standard-4'
  max_workers: int = 10
  heavy_machine_type: str = 'n1-highmem-4'  # Transform and the Evaluator
  heavy_max_workers: int = 20

  def __post_init__(self):
    if not self.project:
      raise ValueError('dataflow project: empty (--project)')
    if not _REGION.match(self.region or ''):
      raise ValueError(f'dataflow region: {self.region!r} is not a region like us-central1')
    if not str(self.temp_location).startswith('gs://'):
      raise ValueError(f'dataflow temp_location: {self.temp_location!r} is not a gs:// '
                       f'folder')
    check_image(self.image, 'dataflow sdk_container_image')
    for name in ('max_workers', 'heavy_max_workers'):
      if int(getattr(self, name)) < 1:
        raise ValueError(f'dataflow {name}: {getattr(self, name)!r} is not a whole number '
                         f'>= 1')

  def args(self, heavy: bool = False) -> list:
    """beam_pipeline_args for DataflowRunner (the heavy components' machines with heavy)."""
    out = ['--runner=DataflowRunner', f'--project={self.project}', f'--region={self.region}',
           f'--temp_location={self.temp_location}', '--experiments=use_runner_v2',
           f'--sdk_container_image={self.image}',
           f'--machine_type={self.heavy_machine_type if heavy else self.machine_type}',
           f'--max_num_workers={self.heavy_max_workers if heavy else self.max_workers}']
    if self.service_account:
      out.append(f'--service_account_email={self.service_account}')
    if self.subnetwork:
      out.append(f'--subnetwork={self.subnetwork}')
    if self.no_public_ips:
      out.append('--no_use_public_ips')
    return out

  def component_args(self) -> dict:
    """{component id: its own beam_pipeline_args} where they differ from the pipeline's."""
    return {name: self.args(heavy=True) for name in HEAVY_COMPONENTS}


@dataclasses.dataclass(frozen=True)
class VertexTraining:
  project: str
  region: str
  image: str                       # the pipeline image: the Trainer's code and TF version
  machine_type: str = 'n1-standard-8'
  accelerator_type: str = ''       # e.g. NVIDIA_TESLA_T4
  accelerator_count: int = 0
  service_account: str = ''

  def __post_init__(self):
    if not self.project:
      raise ValueError('vertex training project: empty (--project)')
    if not _REGION.match(self.region or ''):
      raise ValueError(f'vertex training region: {self.region!r} is not a region like '
                       f'us-central1')
    check_image(self.image, 'vertex training image')
    if bool(self.accelerator_type) != (int(self.accelerator_count) > 0):
      raise ValueError(f'vertex training accelerator: type {self.accelerator_type!r} and '
                       f'count {self.accelerator_count!r}: give both or neither')

  def job_spec(self) -> dict:
    """The CustomJob spec TFX's Vertex Trainer runs the training in."""
    machine = {'machine_type': self.machine_type}
    if self.accelerator_type:
      machine.update(accelerator_type=self.accelerator_type,
                     accelerator_count=int(self.accelerator_count))
    spec = {'project': self.project, 'worker_pool_specs': [{
        'machine_spec': machine, 'replica_count': 1,
        'container_spec': {'image_uri': self.image}}]}
    if self.service_account:
      spec['service_account'] = self.service_account
    return spec
