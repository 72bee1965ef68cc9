"""CsvExampleGen's examples, read by Arrow and encoded in C++.

TFX's CsvExampleGen splits, parses and converts every CSV line to a tf.Example in
Python: about 5,000 rows a second on one core here, 281 s of a 1.5M-row run (the
template's as much as ours). This executor reads the same files with pyarrow's CSV
reader in batches and encodes each batch with tfx_bsl's RecordBatchToExamplesEncoder
(C++), yielding the same examples byte for byte as CsvExampleGen's deterministically
serialized ones, hence the same train / eval / test split (ExampleGen hashes those
bytes):
- column types inferred over every row of every file, as csv_decoder's
  ColumnTypeInferrer does: INT if every non-empty cell is an int64, else FLOAT if a
  float, else STRING (an integer beyond int64 is a STRING there too);
- an empty cell is the feature with an empty value list; values are what Python's
  int() / float() make of the cell (FLOAT kept as float32, as a FloatList does);
- features in name order, as deterministic serialization orders the map.
A column empty in every row has no type (CsvExampleGen writes a Feature with no kind,
which the encoder cannot): such a span goes through TFX's own conversion, unchanged.

The column types are inferred before the Beam pipeline is built (one streamed read of
each file: Arrow reads the 1.5M-row span in about a second); the files are then encoded
in parallel, streamed in batches of 16 MB, so memory does not grow with the span. On
Dataflow the span is TFX's own conversion, spread over the workers.

Writing: TFX's WriteSplit reshuffles each split before writing it (a GroupByKey, "TODO:
make shuffle optional"). In_memory, a GroupByKey holds its whole input, so every
example of the span waited in memory: CsvExampleGen peaked at 4.5 GB on 1.5M rows, the
pipeline's peak. In that mode (`_in_one_process`) the examples are instead shuffled
within each 16 MB batch (about 100,000 rows; the whole shipped sample is one batch), in
an order seeded by the file and batch, and written as they come. The split (a hash of
each example's bytes) and the examples are unchanged; only their order in the files
differs.
"""

from __future__ import annotations

import os
import random
import zlib
from typing import Any, Dict, Iterable, List

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from tfx.components.example_gen import base_example_gen_executor, write_split
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2

# csv_decoder.ColumnType's order: a column takes the widest type any of its cells has
UNKNOWN, INT, FLOAT, STRING = -1, 0, 1, 2
_BLOCK_BYTES = 16 << 20  # Arrow's read block: 16 MB of CSV per batch


def _cell_type(value: str) -> int:
  """csv_decoder._InferValueType, for cells Arrow's casts did not settle."""
  from tfx_bsl.coders import csv_decoder

  return int(csv_decoder._InferValueType(value.encode('utf-8')))  # noqa: SLF001


# what Arrow's casts are trusted with: plain decimal integers (Arrow also reads '0x10' as
# 16, which int() refuses) and plain decimal floats; any other cell is Python's to read
_INTEGER = r'^[+-]?[0-9]+$'
_DECIMAL = r'(?i)^[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)(e[+-]?[0-9]+)?|nan|inf|infinity)$'


def _all_match(values, pattern: str) -> bool:
  import pyarrow.compute as pc

  return bool(pc.all(pc.match_substring_regex(values, pattern)).as_py())


def column_type(strings) -> int:
  """The CsvExampleGen type of one Arrow string column (nulls are empty cells)."""
  import pyarrow as pa
  import pyarrow.compute as pc

  values = strings.drop_null()
  if len(values) == 0:
    return UNKNOWN
  try:
    if _all_match(values, _INTEGER):
      pc.cast(values, pa.int64())
      return INT
    if _all_match(values, _DECIMAL):
      pc.cast(values, pa.float64())
      # an integer beyond int64 makes the column a STRING one for CsvExampleGen
      pc.cast(values.filter(pc.match_substring_regex(values, _INTEGER)), pa.int64())
      return FLOAT
  except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
    pass
  # the rare cells Arrow and Python read differently (' 5', '1_000', '+5', long integers)
  return max(_cell_type(v) for v in pc.unique(values).to_pylist())


def _values(strings, kind: int):
  """The column's non-empty cells as the value type of its feature."""
  import pyarrow as pa
  import pyarrow.compute as pc

  values = strings.drop_null()
  if kind == STRING:
    return values.cast(pa.binary())
  target = pa.int64() if kind == INT else pa.float64()
  out = None
  if _all_match(values, _INTEGER if kind == INT else _DECIMAL):
    try:
      out = pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
      pass
  if out is None:
    convert = int if kind == INT else float
    out = pa.array([convert(v) for v in values.to_pylist()], type=target)
  return out if kind == INT else out.cast(pa.float32())


def encode_batch(batch, types: Dict[str, int], encoder) -> List[bytes]:
  """Serialized tf.Examples of one Arrow batch of string columns, deterministically
  serialized (features in name order).

  The C++ encoder writes a row's features in its map's order, which protobuf randomizes
  per process; ExampleGen splits by a hash of these bytes, so the split would change
  from run to run. Each column is encoded alone instead (an Example of one feature is
  `0x0a varint(n)` and then that feature's entry as Features holds it), the entries are
  joined in name order and framed again, all on Arrow and NumPy buffers.
  """
  import numpy as np
  import pyarrow as pa
  import pyarrow.compute as pc

  entries = []
  position = {name: i for i, name in enumerate(batch.schema.names)}  # a repeat: the last
  for name in sorted(types):
    strings = batch.column(position[name])
    offsets = np.zeros(len(strings) + 1, dtype=np.int32)
    np.cumsum(strings.is_valid().to_numpy(zero_copy_only=False), out=offsets[1:])
    column = pa.ListArray.from_arrays(pa.array(offsets), _values(strings, types[name]))
    single = encoder.encode(pa.RecordBatch.from_arrays([column], [name]))
    entries.append(_strip_frame(pa.array(single, type=pa.binary())))
  bodies = pc.binary_join_element_wise(*entries, b'')
  frames = pa.array([b'\x0a' + _varint(n) for n in pc.binary_length(bodies).to_pylist()],
                    type=pa.binary())
  return pc.binary_join_element_wise(frames, bodies, b'').to_pylist()


def _varint(n: int) -> bytes:
  out = bytearray()
  while n >= 0x80:
    out.append((n & 0x7f) | 0x80)
    n >>= 7
  out.append(n)
  return bytes(out)


def _strip_frame(messages):
  """Each binary value without its leading `0x0a varint(length)` (the Example's field 1)."""
  import numpy as np
  import pyarrow as pa

  n = len(messages)
  offsets = np.frombuffer(messages.buffers()[1], dtype=np.int32, count=messages.offset + n + 1
                          )[messages.offset:]
  data = np.frombuffer(messages.buffers()[2], dtype=np.uint8)
  starts = offsets[:-1]
  # frame length: the tag byte and the varint's bytes (those with the high bit set, +1)
  frame = np.full(n, 2, dtype=np.int32)
  more = data[starts + 1] >= 0x80
  k = 2
  while more.any():
    frame += more
    more = more & (data[np.minimum(starts + k, len(data) - 1)] >= 0x80)
    k += 1
  drop = np.repeat(starts, frame) + (np.arange(frame.sum()) - np.repeat(
      np.cumsum(frame) - frame, frame))
  keep = np.ones(len(data), dtype=bool)
  keep[drop] = False
  new_offsets = (offsets - np.concatenate([[0], np.cumsum(frame)])).astype(np.int32)
  return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(new_offsets),
                                                pa.py_buffer(data[keep].tobytes())])


def csv_header(path: str) -> List[str]:
  """The column names on the file's first line, read as CsvExampleGen reads them."""
  from tfx.utils import io_utils

  return io_utils.load_csv_column_names(path)


def _has_rows(path: str) -> bool:
  """Whether anything follows the header line (Arrow fails on a file without)."""
  with FileSystems.open(path) as f:
    f.readline()
    return bool(f.read(1))


def _batches(path: str, header: List[str]) -> Iterable:
  """The file's rows in Arrow batches, every column a string, empty cells null."""
  import pyarrow as pa
  import pyarrow.csv as pacsv

  if not _has_rows(path):
    return
  # Beam's filesystems, as CsvExampleGen reads (gs:// included); Arrow wants a file
  # object with `closed`, which TFX's GFile lacks
  with FileSystems.open(path) as f:
    reader = pacsv.open_csv(
        f, read_options=pacsv.ReadOptions(block_size=_BLOCK_BYTES, column_names=header,
                                          skip_rows=1),
        # a quoted cell may hold a line break, as CsvExampleGen's line buffer allows
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=True, quoted_strings_can_be_null=True, null_values=['']))
    for batch in reader:
      if batch.num_rows:
        yield batch


def file_types(path: str, header: List[str]) -> Dict[str, int]:
  position = {name: i for i, name in enumerate(header)}  # a repeated name: the last
  types = {name: UNKNOWN for name in header}
  for batch in _batches(path, header):
    for name, i in position.items():
      types[name] = max(types[name], column_type(batch.column(i)))
  return types


def merge_types(per_file: Iterable[Dict[str, int]]) -> Dict[str, int]:
  merged: Dict[str, int] = {}
  for types in per_file:
    for name, kind in types.items():
      merged[name] = max(merged.get(name, UNKNOWN), kind)
  return merged


class _EncodeFile(beam.DoFn):
  def __init__(self, header: List[str], types: Dict[str, int]):
    self._header, self._types = header, types

  def setup(self):
    from tfx_bsl.coders import example_coder

    self._encoder = example_coder.RecordBatchToExamplesEncoder()

  def process(self, path: str) -> Iterable[bytes]:
    for index, batch in enumerate(_batches(path, self._header)):
      examples = encode_batch(batch, self._types, self._encoder)
      # in one process this is the only shuffle (Executor.Do drops WriteSplit's); with
      # several workers WriteSplit's follows it. Seeded: a rerun writes the same files
      random.Random(zlib.crc32(f'{path}#{index}'.encode())).shuffle(examples)
      yield from examples


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _ArrowCsvToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                       split_pattern: str) -> beam.pvalue.PCollection:
  from tfx.components.example_gen.csv_example_gen import executor as csv_executor

  def tfx_path():
    return pipeline | 'CsvToExample' >> csv_executor._CsvToExample(  # noqa: SLF001
        exec_properties, split_pattern)

  if _on_dataflow(exec_properties['_beam_pipeline_args']):
    # spread over Dataflow's workers, TFX's per-line conversion is not the bottleneck,
    # and reading every file once here for the types would be
    return tfx_path()
  pattern = os.path.join(exec_properties['input_base'], split_pattern)
  files = sorted(fileio.glob(pattern))
  if not files:
    raise RuntimeError(f'Split pattern {pattern} does not match any files.')
  header = csv_header(files[0])
  for path in files[1:]:
    if csv_header(path) != header:
      raise RuntimeError(f'Files in same split {pattern} have different header.')
  types = merge_types(file_types(path, header) for path in files)
  if any(kind == UNKNOWN for kind in types.values()):
    # a column with no value in any row: CsvExampleGen writes a Feature with no kind,
    # which the encoder cannot; TFX's own conversion then
    return tfx_path()
  return (pipeline | 'Files' >> beam.Create(files) | 'Reshuffle' >> beam.Reshuffle()
          | 'ArrowToExamples' >> beam.ParDo(_EncodeFile(header, types)))


def _on_dataflow(beam_pipeline_args) -> bool:
  return any('DataflowRunner' in arg for arg in beam_pipeline_args or [])


def _in_one_process(beam_pipeline_args) -> bool:
  """The DirectRunner in_memory (its default, no arguments): one process, one bundle.

  Elsewhere TFX's Reshuffle stays: it spreads the write over the workers, and its
  several files per split are what lets the next components read in parallel (a gzip
  TFRecord file is read by one worker). Without it, multi_processing on 1.5M rows took
  568 s instead of 389 s (Transform 126 s instead of 86 s).
  """
  args = beam_pipeline_args or []
  modes = [a.split('=', 1)[1] for a in args if a.startswith('--direct_running_mode=')]
  return not _on_dataflow(args) and all(mode == 'in_memory' for mode in modes)


@beam.ptransform_fn
def _WriteSplitAsItComes(example_split: beam.pvalue.PCollection, output_split_path: str,
                         output_format: str, exec_properties=None) -> beam.pvalue.PDone:
  """TFX's WriteSplit (TFRecord, gzip, the same file names) without its Reshuffle."""
  del output_format, exec_properties
  return (example_split
          | 'MaybeSerialize' >> beam.ParDo(write_split.MaybeSerialize())
          | 'Write' >> beam.io.WriteToTFRecord(
              os.path.join(output_split_path, write_split.DEFAULT_FILE_NAME),
              file_name_suffix='.gz'))


class Executor(BaseExampleGenExecutor):
  """CsvExampleGen's executor with Arrow's reader and the C++ encoder."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _ArrowCsvToExample

  def Do(self, input_dict, output_dict, exec_properties):
    """TFX's Do; in one process (`_in_one_process`) each split is written without the
    whole-split reshuffle (module docstring). TFX's Do names WriteSplit through its
    module, so it is swapped there for this executor's run only (LocalDagRunner runs one
    component at a time)."""
    parquet = (exec_properties.get('output_data_format')
               == example_gen_pb2.PayloadFormat.FORMAT_PARQUET)
    if not _in_one_process(self._beam_pipeline_args) or parquet:
      return super().Do(input_dict, output_dict, exec_properties)
    module = base_example_gen_executor.write_split
    original, module.WriteSplit = module.WriteSplit, _WriteSplitAsItComes
    try:
      return super().Do(input_dict, output_dict, exec_properties)
    finally:
      module.WriteSplit = original
