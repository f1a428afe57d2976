"""A webhook consumer for Boomerang in the standard library plus the `standardwebhooks`
package: verifies every delivery, acts on each event once (deliveries are at least once),
answers 2xx fast. Run:  WEBHOOK_SECRET=whsec_... python webhook_receiver.py 8081

Any Standard Webhooks library verifies Boomerang's signatures; this one is Python's."""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

SECRET = os.environ["WEBHOOK_SECRET"]
seen: set[str] = set()  # keep this in your database in real life: a redelivery is normal


def handle(event: dict[str, object]) -> None:
    """Your business: open a ticket, update the ERP, page someone."""
    print(f"event {event['type']}: {json.dumps(event['data'])[:200]}", flush=True)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            event = Webhook(SECRET).verify(body, dict(self.headers))
        except WebhookVerificationError:
            self.send_response(401)  # forged, or signed with another secret
            self.end_headers()
            return
        message_id = self.headers["webhook-id"]
        if message_id not in seen:  # the same id on every retry of one event
            seen.add(message_id)
            handle(event)
        else:
            print(f"duplicate {message_id} ignored", flush=True)
        self.send_response(204)  # anything but 2xx is retried; 410 ends the subscription
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
    print(f"listening on {port}", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
