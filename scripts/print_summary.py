"""Prints a run summary (run_summary.json) for people: verdict, metrics, reasons."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'plugins'))
from ct_platform.run_report import summary_text  # noqa: E402  (standard library only)


def main(path: str) -> int:
  print(summary_text(json.loads(Path(path).read_text()), path))
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1]))
