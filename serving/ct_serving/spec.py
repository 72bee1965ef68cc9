"""What an instance must hold, and the checks that turn a bad request into a clear 400.

The feature names and types come from the model itself: its serving signature parses
serialized tf.Examples with one ParseExampleV2 op whose keys and types are constants of the
graph, so the server needs no schema file beside the model and cannot disagree with it.
Features parsed as sparse (VarLen, the transform fills them in) may be null; dense ones
without a default must be present.
"""

from __future__ import annotations

import dataclasses
import math

KINDS = {'float32': 'float', 'int64': 'int', 'string': 'string'}
EXPECTED = {'float': 'a number', 'int': 'an integer', 'string': 'a string'}


class RequestError(ValueError):
  """A request the server refuses (HTTP 400); the message names the field."""


@dataclasses.dataclass(frozen=True)
class Feature:
  name: str
  kind: str        # float | int | string
  nullable: bool


@dataclasses.dataclass(frozen=True)
class InputSpec:
  features: tuple[Feature, ...]

  @property
  def names(self) -> list[str]:
    return [f.name for f in self.features]

  def as_dict(self) -> dict:
    return {f.name: {'type': f.kind, 'nullable': f.nullable} for f in self.features}


def _parse_ops(graph_def):
  """(node, {name: node}) for each ParseExampleV2 in the graph and the functions it calls
  (a loaded SavedModel's signature calls the restored function that holds the op)."""
  scopes = [list(graph_def.node)] + [list(f.node_def) for f in graph_def.library.function]
  for nodes in scopes:
    by_name = {n.name: n for n in nodes}
    for node in nodes:
      if node.op == 'ParseExampleV2':
        yield node, by_name


def spec_from_signature(signature) -> InputSpec:
  """The InputSpec of a serving signature that parses serialized tf.Examples."""
  import tensorflow as tf

  found = list(_parse_ops(signature.graph.as_graph_def()))
  if len(found) != 1:
    raise ValueError(f'the serving signature has {len(found)} ParseExampleV2 ops, expected '
                     f'1: it does not parse tf.Examples the way our models do')
  node, by_name = found[0]

  def const(ref: str):
    source = by_name[ref.split(':')[0].lstrip('^')]
    if source.op != 'Const':
      raise ValueError(f'ParseExampleV2 input {ref} is a {source.op}, not a constant')
    return tf.make_ndarray(source.attr['value'].tensor)

  # inputs: serialized, names, sparse_keys, dense_keys, ragged_keys, dense_defaults...
  sparse_keys = [k.decode() for k in const(node.input[2]).reshape(-1)]
  dense_keys = [k.decode() for k in const(node.input[3]).reshape(-1)]
  sparse_types = [tf.dtypes.as_dtype(t) for t in node.attr['sparse_types'].list.type]
  dense_types = [tf.dtypes.as_dtype(t) for t in node.attr['Tdense'].list.type]
  features = [Feature(k, KINDS[t.name], True) for k, t in zip(sparse_keys, sparse_types)]
  for i, (key, dtype) in enumerate(zip(dense_keys, dense_types)):
    default = const(node.input[5 + i])
    features.append(Feature(key, KINDS[dtype.name], bool(default.size)))
  return InputSpec(tuple(sorted(features, key=lambda f: f.name)))


def _check_value(field: str, feature: Feature, value):
  if value is None:
    if not feature.nullable:
      raise RequestError(f'{field}: null, but {feature.name} is required')
    return None
  if feature.kind == 'string':
    if not isinstance(value, str):
      raise RequestError(f'{field}: expected a string, got {value!r}')
    return value
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise RequestError(f'{field}: expected {EXPECTED[feature.kind]}, got {value!r}')
  if feature.kind == 'int':
    if isinstance(value, float) and not value.is_integer():
      raise RequestError(f'{field}: expected an integer, got {value!r}')
    return int(value)
  if not math.isfinite(value):
    raise RequestError(f'{field}: expected a finite number, got {value!r}')
  return float(value)


def check_request(payload, spec: InputSpec, key_field: str, max_instances: int):
  """The instances of a V1 predict body, checked; returns (instances, keys). Raises
  RequestError naming the first bad field (instances[3].fare: expected a number, ...)."""
  if not isinstance(payload, dict):
    raise RequestError(f'the body must be a JSON object with "instances", got '
                       f'{type(payload).__name__}')
  unknown_top = sorted(set(payload) - {'instances', 'signature_name'})
  if unknown_top:
    raise RequestError(f'unknown field {unknown_top[0]!r} in the body: expected "instances"')
  instances = payload.get('instances')
  if not isinstance(instances, list) or not instances:
    raise RequestError('instances: expected a non-empty list of objects')
  if len(instances) > max_instances:
    raise RequestError(f'instances: {len(instances)} instances, over the limit of '
                       f'{max_instances} per request')
  by_name = {f.name: f for f in spec.features}
  checked, keys = [], []
  for i, instance in enumerate(instances):
    if not isinstance(instance, dict):
      raise RequestError(f'instances[{i}]: expected an object of features, got '
                         f'{type(instance).__name__}')
    unknown = sorted(set(instance) - set(by_name) - {key_field})
    if unknown:
      raise RequestError(f'instances[{i}].{unknown[0]}: unknown field; expected the '
                         f'features {spec.names} and optionally {key_field!r}')
    missing = [n for n in spec.names if n not in instance]
    if missing:
      raise RequestError(f'instances[{i}].{missing[0]}: missing ({by_name[missing[0]].kind}'
                         f'{", may be null" if by_name[missing[0]].nullable else ""})')
    checked.append({name: _check_value(f'instances[{i}].{name}', by_name[name],
                                       instance[name]) for name in spec.names})
    key = instance.get(key_field)
    keys.append(None if key is None else str(key))
  return checked, keys


def to_examples(instances: list[dict], spec: InputSpec) -> list[bytes]:
  """Serialized tf.Examples; a null feature is left out, as a missing value in training."""
  import tensorflow as tf

  out = []
  for instance in instances:
    feature = {}
    for f in spec.features:
      value = instance[f.name]
      if value is None:
        continue
      if f.kind == 'float':
        feature[f.name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
      elif f.kind == 'int':
        feature[f.name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
      else:
        feature[f.name] = tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[value.encode()]))
    out.append(tf.train.Example(features=tf.train.Features(feature=feature))
               .SerializeToString())
  return out
