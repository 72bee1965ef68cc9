import sys
from pathlib import Path

# Airflow puts plugins/ on sys.path; so do the tests. tests/ too: the fakes (tests/fakes).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'plugins'))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
