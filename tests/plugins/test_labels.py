"""labels: slugs and checks by Vertex AI's label rules (both registries use them)."""

import pytest

from ct_platform.labels import label_slug, validate_labels, version_labels


@pytest.mark.parametrize('value, slug', [
    ('Run 1/with spaces', 'run-1-with-spaces'),
    ('manual__2026-11-25T11:17:52+00:00', 'manual__2026-11-25t11-17-52-00-00'),
    ('--x--', 'x'),
    ('', ''),
])
def test_label_slug(value, slug):
  assert label_slug(value) == slug


def test_a_long_value_keeps_a_hash_so_two_long_ids_stay_apart():
  a, b = label_slug('x' * 80 + 'a'), label_slug('x' * 80 + 'b')
  assert len(a) == len(b) == 63 and a != b
  assert validate_labels({'k': a}) == {'k': a}


@pytest.mark.parametrize('labels, message', [
    ({'Team': 'ml'}, "labels: key 'Team' must start with a lowercase letter"),
    ({'1team': 'ml'}, "key '1team'"),
    ({'team': 'ML Platform'}, "labels.team: 'ML Platform' may hold only lowercase"),
    ({'team': 'x' * 64}, 'at most 63 characters'),
    ({'team': 3}, 'labels.team: 3'),
    ({f'k{i}': 'v' for i in range(65)}, 'labels: 65 labels, at most 64 allowed'),
])
def test_labels_vertex_would_refuse_are_refused_naming_the_label(labels, message):
  with pytest.raises(ValueError) as raised:
    validate_labels(labels)
  assert message in str(raised.value)


def test_version_labels_carry_the_run_the_attempt_hash_and_the_git_sha():
  labels = version_labels({'run_id': 'CT Run 7', 'airflow_run_id': 'manual__1',
                           'git_sha': None, 'labels': {'team': 'ml'}})
  assert labels['ct_run'] == 'ct-run-7' and labels['git_sha'] == 'dev'
  assert labels['team'] == 'ml' and len(labels['ct_run_hash']) == 12
  assert version_labels({'airflow_run_id': 'manual__2'})['ct_run_hash'] != labels['ct_run_hash']
