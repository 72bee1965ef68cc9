"""The Arrow ExampleGen gives CsvExampleGen's examples byte for byte, hence its split."""

import os

import apache_beam as beam
import pytest
import tensorflow as tf
from conftest import sample_csv_path
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen.csv_example_gen import executor as tfx_csv
from tfx.proto import example_gen_pb2

from ct_pipeline import config
from ct_pipeline.components import csv_example_gen

# what Python's int()/float() and csv_decoder's type inference make of awkward cells: a
# quoted comma and line break, an escaped quote, unicode, an int beyond int64 (a STRING
# column for CsvExampleGen), ' 6' and '1_000' (ints to Python, not to Arrow), nan/inf,
# exponents, empty and quoted-empty cells, a column that mixes ints, floats and text,
# hexadecimal (Arrow reads 0x10 as 16, int() refuses it), signs, a repeated column name
EDGE_CSV = '''i,f,s,mixed,big,spaces,sci,q,hex,plus,dup,dup
1,1.5,abc,1,1,5,1e3,"a,b",0x10,+5,1,a
2,,,2.5,99999999999999999999, 6,2E-2,"line
break",0x20,-0,2,b
,3,"x y",z,3,7 ,nan,"",,+inf,3,c
-4,-0.1,\u00fcn\u00ef,4,4,1_000,inf,"q""uote",0X1f,1e400,4,d
'''


def _deterministic(record) -> bytes:
  return record if isinstance(record, bytes) else record.SerializeToString(deterministic=True)


def _records(transform, folder):
  """The records a transform makes of the folder's CSVs, deterministically serialized
  and sorted (written out: a Beam runner pickles its functions, so no in-memory list)."""
  out = folder.parent / f'{folder.name}-{transform.__name__}'
  props = {'input_base': str(folder), '_beam_pipeline_args': []}
  with beam.Pipeline() as p:
    _ = (p | transform(props, '*.csv') | beam.Map(_deterministic)
         | beam.io.WriteToTFRecord(str(out / 'records')))
  found = []
  for path in sorted(out.iterdir()):
    found += list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
  assert found, f'{transform.__name__} made no records of {folder}'
  return sorted(found)


def _split(records):
  buckets, total = [], 0
  for n in config.SPLIT_BUCKETS.values():
    total += n
    buckets.append(total)
  split_config = example_gen_pb2.SplitConfig()
  return [base_example_gen_executor._PartitionFn(r, len(buckets), buckets, split_config)  # noqa: SLF001
          for r in records]


@pytest.mark.parametrize('source', ['edge', 'sample'])
def test_the_same_examples_as_csv_example_gen(tmp_path, source):
  if source == 'edge':
    (tmp_path / 'a.csv').write_text(EDGE_CSV, encoding='utf-8')
  else:
    os.symlink(sample_csv_path(), tmp_path / 'data.csv')
  ours = _records(csv_example_gen._ArrowCsvToExample, tmp_path)  # noqa: SLF001
  theirs = _records(tfx_csv._CsvToExample, tmp_path)  # noqa: SLF001
  assert len(ours) == len(theirs) > 0
  assert ours == theirs
  assert _split(ours) == _split(theirs)


def test_types_are_inferred_over_every_file(tmp_path):
  # the first file alone says INT; the second makes the column FLOAT, then STRING
  (tmp_path / 'a.csv').write_text('x,y\n1,1\n2,\n')
  (tmp_path / 'b.csv').write_text('x,y\n2.5,\n3,abc\n')
  header = csv_example_gen.csv_header(str(tmp_path / 'a.csv'))
  per_file = [csv_example_gen.file_types(str(tmp_path / n), header) for n in ('a.csv', 'b.csv')]
  assert per_file[0] == {'x': csv_example_gen.INT, 'y': csv_example_gen.INT}
  assert csv_example_gen.merge_types(per_file) == {'x': csv_example_gen.FLOAT,
                                                   'y': csv_example_gen.STRING}
  assert (_records(csv_example_gen._ArrowCsvToExample, tmp_path)  # noqa: SLF001
          == _records(tfx_csv._CsvToExample, tmp_path))  # noqa: SLF001


def test_a_column_empty_in_every_row_takes_tfx_conversion(tmp_path):
  # CsvExampleGen writes a kind-less Feature for it, which the C++ encoder cannot
  (tmp_path / 'a.csv').write_text('x,empty\n1,\n2,\n')
  ours = _records(csv_example_gen._ArrowCsvToExample, tmp_path)  # noqa: SLF001
  assert ours == _records(tfx_csv._CsvToExample, tmp_path)  # noqa: SLF001
  assert len(ours) == 2


def test_long_rows_keep_their_frame(tmp_path):
  # an entry over 127 bytes has a two-byte length: the frame stripped per column is longer
  long_text = 'x' * 300
  (tmp_path / 'a.csv').write_text(f'a,b\n{long_text},1\nshort,2\n')
  assert (_records(csv_example_gen._ArrowCsvToExample, tmp_path)  # noqa: SLF001
          == _records(tfx_csv._CsvToExample, tmp_path))  # noqa: SLF001


def test_files_with_different_headers_are_refused_as_csv_example_gen_does(tmp_path):
  (tmp_path / 'a.csv').write_text('x,y\n1,2\n')
  (tmp_path / 'b.csv').write_text('y,x\n1,2\n')
  with pytest.raises(RuntimeError, match='have different header'):
    _records(csv_example_gen._ArrowCsvToExample, tmp_path)  # noqa: SLF001


def test_a_file_with_a_header_only_adds_no_rows(tmp_path):
  (tmp_path / 'a.csv').write_text('x,y\n1,2\n3,4\n')
  (tmp_path / 'b.csv').write_text('x,y')  # no line break after the header
  (tmp_path / 'c.csv').write_text('x,y\n')
  ours = _records(csv_example_gen._ArrowCsvToExample, tmp_path)  # noqa: SLF001
  assert len(ours) == 2 and ours == _records(tfx_csv._CsvToExample, tmp_path)  # noqa: SLF001


def test_frames_are_stripped_from_a_sliced_array_too():
  import pyarrow as pa

  def framed(body):
    return b'\x0a' + csv_example_gen._varint(len(body)) + body  # noqa: SLF001

  bodies = [b'a', b'b' * 200, b'c' * 20000, b'']
  messages = pa.array([framed(b) for b in [b'x'] + bodies], type=pa.binary())[1:]
  assert csv_example_gen._strip_frame(messages).to_pylist() == bodies  # noqa: SLF001


def _run_executor(executor_class, folder, out):
  """One ExampleGen executor's Do on the folder's CSVs, with our split config; the
  records of each split as written, in file order."""
  from google.protobuf import json_format  # pylint: disable=g-import-not-at-top
  from tfx.types import standard_artifacts  # pylint: disable=g-import-not-at-top

  examples = standard_artifacts.Examples()
  examples.uri = str(out)
  props = {
      'input_base': str(folder),
      'input_config': json_format.MessageToJson(example_gen_pb2.Input(splits=[
          example_gen_pb2.Input.Split(name='span', pattern='*.csv')])),
      'output_config': json_format.MessageToJson(example_gen_pb2.Output(
          split_config=example_gen_pb2.SplitConfig(splits=[
              example_gen_pb2.SplitConfig.Split(name=name, hash_buckets=buckets)
              for name, buckets in config.SPLIT_BUCKETS.items()])))}
  executor_class().Do({}, {'examples': [examples]}, props)
  return {split: [r for path in sorted((out / f'Split-{split}').glob('*.gz'))
                  for r in tf.data.TFRecordDataset(str(path), 'GZIP').as_numpy_iterator()]
          for split in config.SPLIT_BUCKETS}


def test_the_executor_writes_csv_example_gens_splits_shuffled_without_a_global_shuffle(
    tmp_path):
  os.symlink(sample_csv_path(), (tmp_path / 'span').mkdir() or tmp_path / 'span' / 'data.csv')
  ours = _run_executor(csv_example_gen.Executor, tmp_path / 'span', tmp_path / 'ours')
  again = _run_executor(csv_example_gen.Executor, tmp_path / 'span', tmp_path / 'again')
  theirs = _run_executor(tfx_csv.Executor, tmp_path / 'span', tmp_path / 'theirs')
  # the same examples in every split: only the order in the files may differ
  for split in config.SPLIT_BUCKETS:
    assert sorted(ours[split]) == sorted(_deterministic_all(theirs[split])), split
  # shuffled (the sample is one 16 MB batch), and the same order on a rerun
  assert not _in_csv_order(ours['train'], sample_csv_path())
  # the check itself: rows taken in the CSV's order pass it
  import csv  # pylint: disable=g-import-not-at-top
  with open(sample_csv_path(), newline='') as f:
    first = [row['trip_start_timestamp'] for _, row in zip(range(40), csv.DictReader(f))]
  in_order = [tf.train.Example(features=tf.train.Features(feature={
      'trip_start_timestamp': tf.train.Feature(int64_list=tf.train.Int64List(
          value=[int(stamp)]))})).SerializeToString() for stamp in first[::3]]
  assert _in_csv_order(in_order, sample_csv_path())
  assert ours == again
  # TFX's WriteSplit is back in its module for every other ExampleGen
  assert base_example_gen_executor.write_split.WriteSplit is not (
      csv_example_gen._WriteSplitAsItComes)  # noqa: SLF001


def _deterministic_all(records):
  # CsvExampleGen's serialization is not deterministic across processes; ours is
  return [tf.train.Example.FromString(r).SerializeToString(deterministic=True)
          for r in records]


def _in_csv_order(records, csv_path) -> bool:
  """Whether the records' trip timestamps follow the CSV's row order (a subsequence)."""
  import csv  # pylint: disable=g-import-not-at-top

  with open(csv_path, newline='') as f:
    column = iter([row['trip_start_timestamp'] for row in csv.DictReader(f)])
  stamps = [str(tf.train.Example.FromString(r).features.feature['trip_start_timestamp']
                .int64_list.value[0]) for r in records]
  return all(any(stamp == value for value in column) for stamp in stamps)


def test_only_the_in_memory_runner_writes_without_the_reshuffle():
  one = csv_example_gen._in_one_process  # noqa: SLF001
  assert one([]) and one(['--direct_running_mode=in_memory'])
  # several workers: TFX's Reshuffle spreads the write and gives each split several files
  assert not one(['--direct_running_mode=multi_processing', '--direct_num_workers=2'])
  assert not one(['--runner=DataflowRunner', '--project=p'])
