"""A loopback fake of the Pub/Sub Subscriber API (gRPC), for the real client library.

The Google provider's PubsubPullTrigger talks to Pub/Sub through google-cloud-pubsub's
SubscriberAsyncClient, over gRPC; with PUBSUB_EMULATOR_HOST=127.0.0.1:PORT the client
connects here instead (as it would to Google's emulator, which needs Java). Pull hands out
the published messages not yet acknowledged, each with a fresh ack id; Acknowledge removes
them. `redeliver(message_id)` puts an acknowledged message back (Pub/Sub's at-least-once
delivery), so the consumer's dedup can be tested.

    python -m fakes.pubsub --port PORT --state DIR   (a process: publish by writing JSON
        files into DIR/outbox/; pulls and acks are logged in DIR/log.jsonl)
"""

import argparse
import datetime as dt
import itertools
import json
import threading
import time
from concurrent import futures
from pathlib import Path


class FakeSubscriber:
  def __init__(self):
    self.lock = threading.Lock()
    self.pending: dict[str, dict] = {}       # message_id -> message, not yet acknowledged
    self.leased: dict[str, str] = {}         # ack_id -> message_id
    self.acked: dict[str, dict] = {}
    self.calls: list[dict] = []
    self._ids = itertools.count(1)

  def publish(self, data: bytes | dict, attributes: dict | None = None,
              message_id: str | None = None) -> str:
    if isinstance(data, dict):
      data = json.dumps(data).encode()
    message_id = message_id or str(next(self._ids))
    with self.lock:
      self.pending[message_id] = {'data': data, 'attributes': attributes or {},
                                  'message_id': message_id,
                                  'publish_time': dt.datetime.now(dt.timezone.utc)}
    return message_id

  def redeliver(self, message_id: str) -> None:
    with self.lock:
      self.pending[message_id] = self.acked.pop(message_id)

  # -- the gRPC methods --
  def pull(self, request, context):
    from google.pubsub_v1.types import PubsubMessage, PullResponse, ReceivedMessage
    with self.lock:
      self.calls.append({'method': 'Pull', 'subscription': request.subscription,
                         'max_messages': request.max_messages})
      leased = set(self.leased.values())
      out = []
      for message_id, m in list(self.pending.items()):
        if message_id in leased or len(out) >= max(request.max_messages, 1):
          continue
        ack_id = f'ack-{message_id}-{next(self._ids)}'
        self.leased[ack_id] = message_id
        out.append(ReceivedMessage(ack_id=ack_id, message=PubsubMessage(
            data=m['data'], attributes=m['attributes'], message_id=message_id,
            publish_time=m['publish_time'])))
    return PullResponse(received_messages=out)

  def acknowledge(self, request, context):
    from google.protobuf import empty_pb2
    with self.lock:
      self.calls.append({'method': 'Acknowledge', 'ack_ids': list(request.ack_ids)})
      for ack_id in request.ack_ids:
        message_id = self.leased.pop(ack_id, None)
        if message_id in self.pending:
          self.acked[message_id] = self.pending.pop(message_id)
    return empty_pb2.Empty()


def serve(subscriber: FakeSubscriber, port: int = 0):
  """A started gRPC server on 127.0.0.1; returns (server, port)."""
  import grpc
  from google.protobuf import empty_pb2
  from google.pubsub_v1.types import AcknowledgeRequest, PullRequest, PullResponse

  handlers = {
      'Pull': grpc.unary_unary_rpc_method_handler(
          subscriber.pull, request_deserializer=PullRequest.deserialize,
          response_serializer=PullResponse.serialize),
      'Acknowledge': grpc.unary_unary_rpc_method_handler(
          subscriber.acknowledge, request_deserializer=AcknowledgeRequest.deserialize,
          response_serializer=empty_pb2.Empty.SerializeToString),
  }
  server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
  server.add_generic_rpc_handlers(
      (grpc.method_handlers_generic_handler('google.pubsub.v1.Subscriber', handlers),))
  port = server.add_insecure_port(f'127.0.0.1:{port}')
  server.start()
  return server, port


def alert(incident_id: str, feature: str = 'fare', objective: str = 'raw-feature-drift',
          state: str = 'open', score: float = 0.31, threshold: float = 0.15) -> dict:
  """A Cloud Monitoring incident notification for a Vertex AI Model Monitoring alert."""
  return {'version': '1.2', 'incident': {
      'incident_id': incident_id, 'state': state,
      'policy_name': 'vertex-model-monitoring chicago-taxi-tipper',
      'condition_name': f'{objective} {feature}',
      'summary': f'{objective} on {feature}: {score} > {threshold}',
      'metadata': {'user_labels': {'objective_type': objective, 'feature': feature}},
      'observed_value': str(score), 'threshold_value': str(threshold)}}


def main(argv=None) -> int:
  p = argparse.ArgumentParser()
  p.add_argument('--port', type=int, required=True)
  p.add_argument('--state', required=True)
  args = p.parse_args(argv)
  state = Path(args.state)
  outbox = state / 'outbox'
  outbox.mkdir(parents=True, exist_ok=True)
  subscriber = FakeSubscriber()
  server, port = serve(subscriber, args.port)
  print(f'fake pubsub on 127.0.0.1:{port}', flush=True)
  seen = 0
  while True:  # files in the outbox: {"data": {...}, "message_id": "..."} or {"redeliver": id}
    for path in sorted(outbox.glob('*.json')):
      item = json.loads(path.read_text())
      path.unlink()
      if 'redeliver' in item:
        subscriber.redeliver(item['redeliver'])
      else:
        subscriber.publish(item['data'], item.get('attributes'), item.get('message_id'))
    with subscriber.lock:
      new = subscriber.calls[seen:]
      seen = len(subscriber.calls)
    if new:
      with open(state / 'log.jsonl', 'a') as f:
        for call in new:
          f.write(json.dumps(call) + '\n')
    time.sleep(0.2)


if __name__ == '__main__':
  import sys
  sys.exit(main())
