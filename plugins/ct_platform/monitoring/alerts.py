"""Vertex AI Model Monitoring alerts, as Pub/Sub delivers them, turned into retrain-request
reasons. Pure.

Model Monitoring v2 sends its alerts to Cloud Monitoring notification channels; a Pub/Sub
channel publishes each incident as JSON ({"version": "1.2", "incident": {"incident_id",
"state", "condition_name", "summary", ...}}). The Pub/Sub AssetWatcher's trigger
(MessageQueueTrigger, scheme google+pubsub) yields the pulled messages as one event whose
extra is {"from_trigger": true, "payload": {"status": "success", "message": [received
messages: {"ack_id", "message": {"data": base64, "message_id", "attributes", ...}}]}}.

The trigger acknowledges the messages before Airflow stores the event; Pub/Sub delivers at
least once, so a message can come again in a later event: the consumer deduplicates on
the incident id (the message id when there is none).
"""

from __future__ import annotations

import base64
import json


class AlertError(ValueError):
  """A message that is not a Model Monitoring alert (recorded, never a retrain reason)."""


def received_messages(extra: dict) -> list[dict]:
  """The pulled messages an AssetWatcher event carries."""
  payload = (extra or {}).get('payload') or {}
  messages = payload.get('message') or []
  return messages if isinstance(messages, list) else [messages]


def parse(received: dict) -> dict:
  """{'incident_id', 'message_id', 'state', 'key', 'text'} of one received message."""
  message = received.get('message') or {}
  message_id = str(message.get('message_id') or message.get('messageId') or '')
  raw = message.get('data') or ''
  try:
    data = json.loads(base64.b64decode(raw) if isinstance(raw, str) else raw)
  except (ValueError, TypeError) as e:
    raise AlertError(f'message {message_id}: data is not base64 JSON ({e})') from e
  if not isinstance(data, dict) or not isinstance(data.get('incident'), dict):
    raise AlertError(f'message {message_id}: no "incident" object; a Cloud Monitoring '
                     f'incident notification was expected, got keys '
                     f'{sorted(data) if isinstance(data, dict) else type(data).__name__}')
  incident = data['incident']
  labels = (incident.get('metadata') or {}).get('user_labels') or {}
  objective = labels.get('objective_type') or 'model-monitoring'
  feature = labels.get('feature') or ''
  incident_id = str(incident.get('incident_id') or message_id)
  summary = incident.get('summary') or incident.get('condition_name') or 'alert'
  return {'incident_id': incident_id, 'message_id': message_id,
          'state': str(incident.get('state') or 'open').lower(),
          'key': f'vertex:{objective}' + (f':{feature}' if feature else ''),
          'text': f'Vertex AI Model Monitoring: {summary} (incident {incident_id})'}


def from_events(events: list[dict]) -> tuple[list[dict], list[str]]:
  """(alerts, problems) of a run's triggering events; open incidents once each."""
  alerts, problems, seen = [], [], set()
  for event in events:
    for received in received_messages(event.get('extra') or {}):
      try:
        alert = parse(received)
      except AlertError as e:
        problems.append(str(e))
        continue
      if alert['incident_id'] in seen:
        continue
      seen.add(alert['incident_id'])
      alerts.append(alert)
  return alerts, problems
