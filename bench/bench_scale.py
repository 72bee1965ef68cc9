"""How the cost grows with the data: the whole continuous-training run and the TFX taxi
template's pipeline at several sizes, in one invocation.

At each size (SIZES, default 15k, 150k, 1.5M rows) the shipped sample is resampled with
noise in DuckDB (every row a distinct trip), then:
- ours: `airflow dags test continuous_training` on a fresh local state seeded with those
  rows (extract, drift, the TFX pipeline with --train-steps, the gate, promotion): wall
  time and the peak of the process tree's summed RSS (Airflow, the pipeline supervisor
  and runner, Beam's workers; sampled every 0.2 s, shared pages counted in each process),
  plus the pipeline's own time from its runner log;
- the template: bench/template_runner.py on the same rows as CSV, with the same train
  steps, measured the same way.

Prints a table, then one line per size:
  scale rows=<n> ours_s=<s> template_s=<s> ours_rss_mb=<mb> template_rss_mb=<mb> beam_mode=<mode>
and writes build/bench-scale/scale.svg (and scale.png when chromium is installed).
Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / 'pipeline' / 'data' / 'taxi_sample' / 'data.csv'


def resample(csv_out: Path, rows: int, seed: float = 0.3) -> None:
  """The sample resampled to `rows` rows with a little noise, in its own columns."""
  import duckdb

  con = duckdb.connect()
  con.execute(f'SELECT setseed({seed})')
  n = con.execute(f"SELECT count(*) FROM read_csv('{SAMPLE}', header=true)").fetchone()[0]
  copies = -(-rows // n)
  # trip_seconds + copy keeps every row distinct (exact copies stop a run at
  # evaluate_drift); the timestamp moves up to 30 minutes earlier (the window ends at
  # 2017-01-01; the extract derives hour, day and month from it)
  con.execute(f"""
    COPY (
      SELECT s.* REPLACE (
          round(fare * (0.95 + 0.1 * random()), 2) AS fare,
          round(trip_miles * (0.95 + 0.1 * random()), 2) AS trip_miles,
          round(tips * (0.95 + 0.1 * random()), 2) AS tips,
          COALESCE(trip_seconds, 0) + copy AS trip_seconds,
          trip_start_timestamp - CAST(1800 * random() AS BIGINT) AS trip_start_timestamp)
      FROM read_csv('{SAMPLE}', header=true) AS s, range({copies}) AS r(copy)
      ORDER BY random() LIMIT {rows}
    ) TO '{csv_out}' (HEADER, DELIMITER ',')""")
  con.close()


def measure(cmd: list, log: Path, env: dict) -> tuple[float, float]:
  """(wall seconds, peak summed RSS MB of the process tree) of one command."""
  import psutil

  started = time.monotonic()
  peak = 0
  with open(log, 'w') as f:
    proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
      total = 0
      try:
        for p in [root, *root.children(recursive=True)]:
          try:
            total += p.memory_info().rss
          except psutil.Error:
            pass
      except psutil.Error:
        pass
      peak = max(peak, total)
      time.sleep(0.2)
  wall = time.monotonic() - started
  if proc.returncode != 0:
    text = log.read_text(errors='replace')
    raise SystemExit(f'{cmd[0]} failed (exit {proc.returncode}); log: {log}\n{text[-3000:]}')
  return wall, peak / 2**20


def run_ours(size_dir: Path, csv: Path, steps: int) -> dict:
  local = size_dir / 'local'
  env = dict(os.environ, CT_LOCAL_DIR=str(local), PYTHONPATH=str(REPO / 'plugins'))
  for key in [k for k in env if k == 'AIRFLOW_HOME' or k.startswith('AIRFLOW__DATABASE')]:
    env.pop(key)  # a throwaway Airflow home under the size's folder, never a developer's
  subprocess.run([sys.executable, '-m', 'ct_platform.seed', '--csv', str(csv)], env=env,
                 check=True, capture_output=True)
  # the DAG's first run migrates its Airflow DB: done before the timed run
  subprocess.run([str(REPO / 'scripts' / 'airflow-local'), 'version'], env=env, check=True,
                 capture_output=True)
  conf = {'window_end': '2017-01-01', 'window_days': 3660, 'force_retrain': True,
          'train_steps': steps}
  wall, rss = measure([str(REPO / 'scripts' / 'airflow-local'), 'dags', 'test',
                       'continuous_training', '2017-01-01', '-c', json.dumps(conf)],
                      size_dir / 'ours.log', env)
  (run_dir,) = [p for p in (local / 'pipeline_runs').iterdir() if p.is_dir()]
  log = (run_dir / 'runner.log').read_text(errors='replace')
  found = re.findall(r'pipeline finished in ([0-9.]+) s', log)
  # the Beam mode the local runner ran (auto: chosen by the span's rows)
  mode = re.findall(r'beam mode: (\w+)', log)
  return {'seconds': wall, 'rss_mb': rss, 'pipeline_s': float(found[-1]) if found else None,
          'beam_mode': mode[-1] if mode else 'unknown'}


def run_template(size_dir: Path, csv: Path, steps: int) -> dict:
  data = size_dir / 'template-data'
  data.mkdir(exist_ok=True)
  (data / 'data.csv').unlink(missing_ok=True)
  (data / 'data.csv').symlink_to(csv)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  wall, rss = measure([str(REPO / '.venv-pipeline' / 'bin' / 'python'),
                       str(REPO / 'bench' / 'template_runner.py'), '--data', str(data),
                       '--output-dir', str(size_dir / 'template'),
                       '--train-steps', str(steps)], size_dir / 'template.log', env)
  text = (size_dir / 'template.log').read_text(errors='replace')
  found = re.findall(r'pipeline finished in ([0-9.]+) s', text)
  return {'seconds': wall, 'rss_mb': rss, 'pipeline_s': float(found[-1]) if found else None}


def chart_svg(results: list[dict]) -> str:
  """Time and peak RSS against rows (log-log), ours and the template."""
  import math

  w, h, pad = 420, 260, 48

  def panel(key, title, unit):
    xs = [math.log10(r['rows']) for r in results]
    ys = [v for r in results for v in (r['ours'][key], r['template'][key])]
    x0, x1 = min(xs) - 0.1, max(xs) + 0.1
    y0, y1 = math.log10(min(ys)) - 0.1, math.log10(max(ys)) + 0.1

    def px(x, y):
      return (pad + (x - x0) / (x1 - x0) * (w - 2 * pad),
              h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad))
    parts = [f'<g><text x="{w / 2}" y="18" text-anchor="middle" font-size="14">{title}</text>',
             f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#999"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#999"/>']
    for r in results:
      x, _ = px(math.log10(r['rows']), y0)
      parts.append(f'<text x="{x}" y="{h - pad + 16}" text-anchor="middle" font-size="11">'
                   f'{r["rows"]:,}</text>')
    for side, color in (('ours', '#1a73e8'), ('template', '#e8710a')):
      points = [px(math.log10(r['rows']), math.log10(r[side][key])) for r in results]
      parts.append('<polyline fill="none" stroke-width="2" stroke="{}" points="{}"/>'.format(
          color, ' '.join(f'{x:.1f},{y:.1f}' for x, y in points)))
      for (x, y), r in zip(points, results):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"/>'
                     f'<text x="{x + 5:.1f}" y="{y - 5:.1f}" font-size="10" fill="{color}">'
                     f'{r[side][key]:.0f} {unit}</text>')
    parts.append(f'<text x="{pad + 6}" y="{pad - 6}" font-size="11" fill="#1a73e8">ours</text>'
                 f'<text x="{pad + 46}" y="{pad - 6}" font-size="11" fill="#e8710a">'
                 f'TFX template</text></g>')
    return ''.join(parts)

  return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{h}" '
          f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>'
          f'{panel("seconds", "wall time (s) against rows", "s")}'
          f'<g transform="translate({w},0)">{panel("rss_mb", "peak RSS (MB) against rows", "MB")}'
          f'</g></svg>')


def to_png(svg: Path) -> Path | None:
  browser = shutil.which('chromium') or shutil.which('chromium-browser')
  if not browser:
    return None
  png = svg.with_suffix('.png')
  subprocess.run([browser, '--headless', '--no-sandbox', '--disable-gpu',
                  f'--screenshot={png}', '--window-size=840,260', svg.as_uri()],
                 capture_output=True, timeout=120)
  return png if png.exists() else None


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--sizes', default='15000,150000,1500000')
  p.add_argument('--train-steps', type=int, default=100)
  p.add_argument('--out', type=Path, default=REPO / 'build' / 'bench-scale')
  args = p.parse_args(argv)
  sizes = [int(s) for s in args.sizes.split(',')]
  args.out = args.out.resolve()  # CT_LOCAL_DIR and the Airflow home must be absolute
  args.out.mkdir(parents=True, exist_ok=True)
  results = []
  for size in sizes:
    size_dir = args.out / str(size)
    shutil.rmtree(size_dir, ignore_errors=True)
    size_dir.mkdir(parents=True)
    csv = size_dir / 'trips.csv'
    print(f'== {size:,} rows: resampling ...', flush=True)
    resample(csv, size)
    print(f'   ours: continuous_training (log {size_dir / "ours.log"}) ...', flush=True)
    ours = run_ours(size_dir, csv, args.train_steps)
    print(f'   ours {ours["seconds"]:.1f} s, peak RSS {ours["rss_mb"]:.0f} MB; template '
          f'(log {size_dir / "template.log"}) ...', flush=True)
    template = run_template(size_dir, csv, args.train_steps)
    print(f'   template {template["seconds"]:.1f} s, peak RSS {template["rss_mb"]:.0f} MB',
          flush=True)
    results.append({'rows': size, 'ours': ours, 'template': template})
    (args.out / 'scale.json').write_text(json.dumps(results, indent=1))

  print(f'\n{"rows":>10} {"ours s":>8} {"rows/s":>8} {"RSS MB":>7} {"pipeline s":>10} '
        f'{"template s":>10} {"rows/s":>8} {"RSS MB":>7} {"pipeline s":>10}  beam mode')
  for r in results:
    o, t = r['ours'], r['template']
    print(f'{r["rows"]:>10,} {o["seconds"]:>8.1f} {r["rows"] / o["seconds"]:>8.0f} '
          f'{o["rss_mb"]:>7.0f} {o["pipeline_s"] or 0:>10.1f} {t["seconds"]:>10.1f} '
          f'{r["rows"] / t["seconds"]:>8.0f} {t["rss_mb"]:>7.0f} {t["pipeline_s"] or 0:>10.1f}'
          f'  {o["beam_mode"]}')
  svg = args.out / 'scale.svg'
  svg.write_text(chart_svg(results))
  png = to_png(svg)
  print(f'\nchart: {png or svg}')
  for r in results:
    print(f'scale rows={r["rows"]} ours_s={r["ours"]["seconds"]:.1f} '
          f'template_s={r["template"]["seconds"]:.1f} ours_rss_mb={r["ours"]["rss_mb"]:.0f} '
          f'template_rss_mb={r["template"]["rss_mb"]:.0f} beam_mode={r["ours"]["beam_mode"]}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
