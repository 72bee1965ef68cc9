"""spans: retention keeps the newest spans per window and never the champion's."""


def test_prune_keeps_newest_and_the_champions_span(tmp_path):
  from ct_platform.spans import SpanWriter, prune_spans
  uris = []
  for i in (3, 1, 2, 0):  # written in this order: run0 is the newest, run3 the oldest
    writer = SpanWriter(str(tmp_path / 'spans' / 'w1' / f'run{i}'))
    writer.finish({'rows': i})
    uris.append(writer.uri)
  uris = [uris[3], uris[1], uris[2], uris[0]]  # by name: run0, run1, run2, run3
  (tmp_path / 'spans' / 'w1' / 'half-written').mkdir()  # no manifest: may be in flight
  deleted = prune_spans(str(tmp_path), keep_per_window=1, protected={uris[3]})
  assert sorted(deleted) == sorted([uris[1], uris[2]])  # run0 newest kept, run3 protected
  left = sorted(p.name for p in (tmp_path / 'spans' / 'w1').iterdir())
  assert left == ['half-written', 'run0', 'run3']
