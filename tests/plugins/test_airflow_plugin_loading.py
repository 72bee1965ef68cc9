"""What Airflow's plugin loader does with plugins/: it imports every .py file it finds as a
top-level module named after the file. Only the entry point may be loaded that way, or a
`requests.py` or `kfp.py` of ours would shadow the real library in every Airflow process."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

LOAD = r'''
import json, sys
from airflow._shared.plugins_manager.plugins_manager import _load_plugins_from_plugin_directory
plugins, errors = _load_plugins_from_plugin_directory(sys.argv[1])
import kfp, requests
print(json.dumps({'plugins': [p.name for p in plugins], 'errors': errors,
                  'kfp': kfp.__file__, 'requests': requests.__file__,
                  'loaded': sorted(m for m in sys.modules if m in ('window', 'policy',
                                   'steps', 'request_rules', 'gate', 'storage'))}))
'''


def test_only_the_plugin_entry_point_is_loaded_as_a_module(tmp_path):
  out = subprocess.run([sys.executable, '-c', LOAD, str(REPO / 'plugins')],
                       capture_output=True, text=True, timeout=120,
                       env={'AIRFLOW_HOME': str(tmp_path), 'PATH': '/usr/bin:/bin',
                            'PYTHONPATH': str(REPO / 'plugins')})
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result['plugins'] == ['ct_platform'] and result['errors'] == {}
  assert 'site-packages' in result['kfp'] and 'site-packages' in result['requests']
  assert result['loaded'] == []
