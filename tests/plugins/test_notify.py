"""Notifications: the local file always, e-mail through a real SMTP server on loopback."""

import email
import json
import socket
import threading
import warnings

import pytest

from ct_platform.config import load_settings
from ct_platform.notify import notify

with warnings.catch_warnings():
  warnings.simplefilter('ignore', DeprecationWarning)
  import asyncore
  import smtpd  # a real SMTP server from the standard library (3.11)


class Inbox(smtpd.SMTPServer):
  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self.messages = []

  def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
    self.messages.append((mailfrom, rcpttos, data.decode() if isinstance(data, bytes) else data))


@pytest.fixture
def smtp_server():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
  server = Inbox(('127.0.0.1', port), None, decode_data=True)
  thread = threading.Thread(target=asyncore.loop, kwargs={'timeout': 0.1}, daemon=True)
  thread.start()
  yield port, server
  server.close()


def test_event_goes_to_the_file(tmp_path, monkeypatch):
  monkeypatch.setenv('CT_LOCAL_DIR', str(tmp_path))
  settings = load_settings(use_variable=False)
  notify('window_empty', 'nothing to train on', settings, span='/x')
  record = json.loads((tmp_path / 'notifications.jsonl').read_text())
  assert record['event'] == 'window_empty' and record['details'] == {'span': '/x'}
  with pytest.raises(ValueError, match="event 'exploded'"):
    notify('exploded', 'x', settings)


def test_email_through_the_smtp_connection(tmp_path, monkeypatch, smtp_server):
  port, server = smtp_server
  monkeypatch.setenv('AIRFLOW_CONN_CT_SMTP', json.dumps({
      'conn_type': 'smtp', 'host': '127.0.0.1', 'port': port,
      'extra': {'from_email': 'ct@example.com', 'disable_tls': True, 'disable_ssl': True}}))
  monkeypatch.setenv('CT_LOCAL_DIR', str(tmp_path))
  settings = load_settings({'notify_email_to': 'ml-team@example.com',
                            'notify_smtp_conn_id': 'ct_smtp'}, use_variable=False)
  record = notify('champion_promoted', 'champion is now version 3', settings, version=3)
  assert record['email'] == 'sent'
  mailfrom, rcpttos, data = server.messages[0]
  assert rcpttos == ['ml-team@example.com'] and mailfrom == 'ct@example.com'
  message = email.message_from_string(data)
  assert message['Subject'] == '[continuous-training] champion_promoted'
  html_part = next(p for p in message.walk() if p.get_content_type() == 'text/html')
  assert 'champion is now version 3' in html_part.get_payload(decode=True).decode()


def test_a_failing_channel_does_not_fail_the_task(tmp_path, monkeypatch):
  monkeypatch.setenv('AIRFLOW_CONN_CT_SMTP', json.dumps({
      'conn_type': 'smtp', 'host': '127.0.0.1', 'port': 9,
      'extra': {'from_email': 'ct@example.com', 'disable_tls': True, 'disable_ssl': True,
                'timeout': 2, 'retry_limit': 0}}))
  monkeypatch.setenv('CT_LOCAL_DIR', str(tmp_path))
  settings = load_settings({'notify_email_to': 'a@example.com',
                            'notify_smtp_conn_id': 'ct_smtp'}, use_variable=False)
  record = notify('candidate_rejected', 'rejected', settings)
  assert record['email'].startswith('failed:')
  assert json.loads((tmp_path / 'notifications.jsonl').read_text())['email'].startswith('failed')
